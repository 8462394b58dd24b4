"""Other per-post source columns (`meta_*`): numeric ones passed through, string ones as fixed-category codes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._base import FeatureGenerator, register
from ._common import check_fitted_columns, encode_categories, finite, fit_top_categories, frame_of


@register
class PostMeta(FeatureGenerator):
    """Numeric `meta_*` columns as float64 (inf -> NaN) and string ones as `category` codes fixed at fit.

    Which columns are numeric or categorical is learned at fit; columns holding anything else (lists, dicts) are
    skipped, and so are the `exclude` columns (identifiers such as the Flickr path alias, which only repeat the
    user). A string column keeps its `max_categories` most frequent values; rarer ones become missing, so free-text
    columns (music titles) cannot explode into thousands of one-post levels.
    """

    name = "post_meta"
    group = "meta"
    requires = ()
    requires_prefix = ("meta_",)
    version = 2

    def __init__(self, *, min_count: int = 1, max_categories: int = 50,
                 exclude: tuple[str, ...] = ("meta_pathalias",)) -> None:
        self.min_count = min_count
        self.max_categories = max_categories
        self.exclude = exclude

    def _fit(self, X: pd.DataFrame, y: pd.Series | None) -> None:
        self.numeric_: list[str] = []
        self.categories_: dict[str, list[str]] = {}
        for col in X.columns:
            if col in self.exclude:
                continue
            s = X[col]
            if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
                self.numeric_.append(col)
            elif pd.api.types.infer_dtype(s, skipna=True) in ("string", "categorical"):
                cats = fit_top_categories(s, self.min_count, self.max_categories)
                if cats:
                    self.categories_[col] = cats

    def _transform(self, X: pd.DataFrame) -> pd.DataFrame:
        check_fitted_columns(self.name, X, self.numeric_ + list(self.categories_))
        out: dict[str, object] = {}
        for col in sorted(self.numeric_ + list(self.categories_)):
            stat = col[len("meta_") :]
            if col in self.categories_:
                out[stat] = encode_categories(X[col], self.categories_[col])
            else:
                out[stat] = finite(pd.to_numeric(X[col], errors="coerce").to_numpy(dtype=float, na_value=np.nan))
        return frame_of(X.index, self.name, out)
