"""Other per-post source columns (`meta_*`): numeric ones passed through, string ones as fixed-category codes, and,
with `typed = true`, dates, URLs and free text each read the way their type asks."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._base import FeatureGenerator, register
from ._common import (check_fitted_columns, encode_categories, finite, fit_top_categories, frame_of, param_requires,
                      to_seconds)

DAY = 86400.0
TYPES = ("numeric", "category", "datetime", "url", "text")


def column_type(s: pd.Series, *, typed: bool) -> str | None:
    """How a `meta_*` column is read: one of `TYPES`, or None (lists, dicts, empty). Without `typed`, every string
    column is a category. With it, a string column whose values (nearly) all parse as dates is a datetime, one of
    web addresses a url, one of mostly distinct multi-word values free text, and any other a category."""
    if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
        return "numeric"
    if pd.api.types.infer_dtype(s, skipna=True) not in ("string", "categorical"):
        return None
    if not typed:
        return "category"
    values = s.dropna().astype(str)
    values = values[values.str.strip() != ""]
    if values.empty:
        return None
    sample = values.sample(min(len(values), 500), random_state=0) if len(values) > 500 else values
    if sample.str.match(r"^https?://").mean() >= 0.9:
        return "url"
    looks_dated = sample.str.contains(r"\d{4}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2}", regex=True)
    if looks_dated.mean() >= 0.9 and pd.to_datetime(sample, errors="coerce", utc=True, format="mixed").notna().mean() >= 0.9:
        return "datetime"
    if values.nunique() >= 0.5 * len(values) and sample.str.split().str.len().mean() >= 3:
        return "text"
    return "category"


def url_parts(s: pd.Series) -> pd.DataFrame:
    """A URL's host (without `www.`), its first path segment, its path depth and the number of words in its path."""
    parts = s.astype("string").str.extract(r"^[a-zA-Z]+://(?:www\.)?([^/?#]+)([^?#]*)")
    path = parts[1].fillna("").str.strip("/")
    return pd.DataFrame({
        "host": parts[0].str.lower(),
        "section": path.str.split("/").str[0].where(path != "").str.lower(),
        "depth": path.map(lambda p: float(len(p.split("/"))) if p else 0.0).where(parts[0].notna()),
        "words": path.str.count(r"[A-Za-z0-9]+").astype(float).where(parts[0].notna()),
    }, index=s.index)


@register
class PostMeta(FeatureGenerator):
    """Numeric `meta_*` columns as float64 (inf -> NaN) and string ones as `category` codes fixed at fit.

    Which columns are numeric or categorical is learned at fit; columns holding anything else (lists, dicts) are
    skipped, and so are the `exclude` columns (identifiers such as the Flickr path alias, which only repeat the
    user). A string column keeps its `max_categories` most frequent values; rarer ones become missing, so free-text
    columns (music titles) cannot explode into thousands of one-post levels.

    `typed = true` reads string columns by what they hold (`column_type`), as a generic table needs:

    - a datetime: its day number and the days between it and the post (`<col>_days`, `<col>_days_before_post`);
    - a URL: its host and first path segment as categories, its path depth and path word count;
    - free text: its word and character counts (the text generators read the mapped text columns);
    - anything else: a category, as without `typed`.
    """

    name = "post_meta"
    group = "meta"
    requires = param_requires(lambda g: ("post_time",) if g.typed else ())
    requires_prefix = ("meta_",)
    version = 3  # 3: URL part categories kept in url_categories_, apart from categories_

    def __init__(self, *, min_count: int = 1, max_categories: int = 50,
                 exclude: tuple[str, ...] = ("meta_pathalias",), typed: bool = False) -> None:
        self.min_count = min_count
        self.max_categories = max_categories
        self.exclude = exclude
        self.typed = typed

    def _fit(self, X: pd.DataFrame, y: pd.Series | None) -> None:
        self.numeric_: list[str] = []
        self.categories_: dict[str, list[str]] = {}
        self.types_: dict[str, str] = {}
        self.url_categories_: dict[str, dict[str, list[str]]] = {}  # url column -> host / section -> categories
        for col in X.columns:
            if col in self.exclude or not col.startswith("meta_"):
                continue
            kind = column_type(X[col], typed=self.typed)
            if kind == "numeric":
                self.numeric_.append(col)
            elif kind == "category":
                cats = fit_top_categories(X[col], self.min_count, self.max_categories)
                if cats:
                    self.categories_[col] = cats
            elif kind == "url":
                parts = url_parts(X[col])
                self.types_[col] = kind
                self.url_categories_[col] = {part: fit_top_categories(parts[part], self.min_count, self.max_categories)
                                             for part in ("host", "section")}
            elif kind is not None:
                self.types_[col] = kind

    def _transform(self, X: pd.DataFrame) -> pd.DataFrame:
        check_fitted_columns(self.name, X, self.numeric_ + list(self.categories_) + list(self.types_))
        out: dict[str, object] = {}
        for col in sorted(self.numeric_ + list(self.categories_)):
            stat = col[len("meta_") :]
            if col in self.categories_:
                out[stat] = encode_categories(X[col], self.categories_[col])
            else:
                out[stat] = finite(pd.to_numeric(X[col], errors="coerce").to_numpy(dtype=float, na_value=np.nan))
        for col, kind in sorted(self.types_.items()):
            out.update(self._typed(X, col, kind))
        return frame_of(X.index, self.name, out)

    def _typed(self, X: pd.DataFrame, col: str, kind: str) -> dict[str, object]:
        stat = col[len("meta_") :]
        s = X[col].where(X[col].notna(), None)
        if kind == "datetime":
            days = to_seconds(pd.to_datetime(s, errors="coerce", utc=True, format="mixed")) / DAY
            return {f"{stat}_days": days, f"{stat}_days_before_post": to_seconds(X["post_time"]) / DAY - days}
        if kind == "url":
            parts = url_parts(s)
            cats = self.url_categories_[col]
            return {f"{stat}_host": encode_categories(parts["host"], cats["host"]),
                    f"{stat}_section": encode_categories(parts["section"], cats["section"]),
                    f"{stat}_depth": parts["depth"].to_numpy(dtype=float, na_value=np.nan),
                    f"{stat}_words": parts["words"].to_numpy(dtype=float, na_value=np.nan)}
        text = s.astype("string")
        return {f"{stat}_words": text.str.split().str.len().to_numpy(dtype=float, na_value=np.nan),
                f"{stat}_chars": text.str.len().to_numpy(dtype=float, na_value=np.nan)}
