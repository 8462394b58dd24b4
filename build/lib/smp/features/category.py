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
    no output. Counts and shares are recomputed over the frame `transform` gets.
    """

    name = "category"
    group = "category"
    requires = param_requires(lambda g: ("user_id", *g.columns))
    version = 1

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

    def _transform(self, X: pd.DataFrame) -> pd.DataFrame:
        g, _ = codes(X["user_id"])
        user_count = np.bincount(g).astype(float)
        out: dict[str, object] = {}
        for col, cats in self.categories_.items():
            clean = clean_category(X[col])
            out[col] = encode_categories(clean, cats)
            vc, uniques = pd.factorize(clean)  # -1 for missing
            present = vc >= 0
            count = np.full(len(X), np.nan)
            count[present] = np.bincount(vc[present], minlength=len(uniques))[vc[present]]
            out[f"{col}_count"] = count
            pair = g * (len(uniques) + 1) + (vc + 1)  # missing values (-1) get a slot of their own
            _, inv, pair_count = unique_int(pair, return_inverse=True, return_counts=True)
            share = pair_count[inv] / user_count[g]
            out[f"{col}_user_share"] = np.where(present, share, np.nan)
        return frame_of(X.index, self.name, out)
