"""Category levels as fixed-category codes, their frequencies over the frame and the user's share in each value."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._base import FeatureGenerator, register
from ._common import (
    clean_category,
    codes,
    encode_categories,
    fit_categories,
    frame_of,
    param_requires,
    unique_int,
)

CATEGORY_COLUMNS = ("category", "subcategory", "concept", "location", "language")


@register
class Category(FeatureGenerator):
    """Codes (`category` dtype), count encodings and the user's share of posts in the same value, per column.

    Categories are fixed at fit (values seen at least `min_count` times; unseen ones become NaN), so train, test and
    new posts share them. A column with no value at all in the fitted frame (e.g. `location` on SMPD-Image) produces
    no output. A value's count is the fitted frame's (`counts_as_fitted`: with few values the count stands for the
    value itself, and a recount swapped udemy's two largest subjects); a value the fitted frame lacked is counted
    over the frame `transform` gets. Shares are recomputed over that frame.
    """

    name = "category"
    group = "category"
    requires = param_requires(lambda g: ("user_id", *g.columns))
    version = 3  # 3: a value's count is the fitted frame's; 2: counts on the fitted frame's scale

    def __init__(self, *, columns: tuple[str, ...] = CATEGORY_COLUMNS, min_count: int = 1) -> None:
        self.columns = columns
        self.min_count = min_count

    def _fit(self, X: pd.DataFrame, y: pd.Series | None) -> None:
        if isinstance(self.columns, str) or len(set(self.columns)) != len(self.columns) or "user_id" in self.columns:
            raise ValueError(f"`columns` must be distinct column names other than 'user_id', got {self.columns!r}")
        if not (isinstance(self.min_count, int) and self.min_count >= 1):
            raise ValueError(f"`min_count >= 1` must hold, but got min_count={self.min_count!r}")
        fitted = {c: fit_categories(X[c], self.min_count) for c in self.columns}
        self.categories_ = {c: cats for c, cats in fitted.items() if cats}
        for c in self.categories_:
            vc = clean_category(X[c]).value_counts(dropna=True)
            self.remember_counts(c, vc.index, vc.to_numpy())

    def _transform(self, X: pd.DataFrame) -> pd.DataFrame:
        g, _ = codes(X["user_id"])
        user_count = np.bincount(g).astype(float)
        out: dict[str, object] = {}
        for col, cats in self.categories_.items():
            clean = clean_category(X[col])
            out[col] = encode_categories(clean, cats)
            vc, uniques = pd.factorize(clean)  # -1 for missing
            present = vc >= 0
            per_value = self.counts_as_fitted(col, uniques, np.bincount(vc[present], minlength=len(uniques)), X)
            count = np.full(len(X), np.nan)
            count[present] = per_value[vc[present]]
            out[f"{col}_count"] = count
            pair = g * (len(uniques) + 1) + (vc + 1)  # missing values (-1) get a slot of their own
            _, inv, pair_count = unique_int(pair, return_inverse=True, return_counts=True)
            share = pair_count[inv] / user_count[g]
            out[f"{col}_user_share"] = np.where(present, share, np.nan)
        return frame_of(X.index, self.name, out)


TIME_PARTS = ("hour", "weekday", "month")


def _raw_requires(g) -> tuple[str, ...]:
    return (*g.columns, *(("post_time",) if g.time_parts else ()))


@register
class RawCategories(FeatureGenerator):
    """Raw categories, high-cardinality ones included, for learners that encode categories themselves (CatBoost's
    ordered target statistics, as the 2025 video winner and HyFea fed it the user id, the music title and time
    parts): the source columns and the post time's parts as `category` columns fixed at fit (values seen at least
    `min_count` times; unseen ones become NaN). Trees that split on raw codes (LightGBM) overfit such columns:
    leave them out there with the model parameter `exclude = ["raw_categories__"]`.
    """

    name = "raw_categories"
    group = "category"
    requires = param_requires(_raw_requires)
    version = 1

    def __init__(self, *, columns: tuple[str, ...] = ("user_id", "location", "language"),
                 time_parts: tuple[str, ...] = ("hour", "weekday"), min_count: int = 1) -> None:
        self.columns = columns
        self.time_parts = time_parts
        self.min_count = min_count

    def _parts(self, X: pd.DataFrame) -> dict[str, pd.Series]:
        bad = [p for p in self.time_parts if p not in TIME_PARTS]
        if bad:
            raise ValueError(f"`time_parts` must be among {TIME_PARTS}, got {bad}")
        out = {c: X[c] for c in self.columns}
        if self.time_parts:
            t = pd.to_datetime(X["post_time"], utc=True)
            for p in self.time_parts:
                out[p] = pd.Series(getattr(t.dt, "day_of_week" if p == "weekday" else p), index=X.index).astype("Int64")
        return out

    def _fit(self, X: pd.DataFrame, y: pd.Series | None) -> None:
        if isinstance(self.columns, str) or isinstance(self.time_parts, str):
            raise ValueError("`columns` and `time_parts` must be lists of names")
        if not (isinstance(self.min_count, int) and self.min_count >= 1):
            raise ValueError(f"`min_count >= 1` must hold, but got min_count={self.min_count!r}")
        self.categories_ = {c: cats for c, s in self._parts(X).items() if (cats := fit_categories(s, self.min_count))}

    def _transform(self, X: pd.DataFrame) -> pd.DataFrame:
        parts = self._parts(X)
        return frame_of(X.index, self.name, {c: encode_categories(parts[c], cats) for c, cats in self.categories_.items()})
