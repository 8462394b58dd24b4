"""Target encodings of the user and the category levels (label-using: out-of-fold on the rows they are fitted on).

Means are m-estimates, ``(sum + m * prior) / (count + m)`` with the global mean of the fitted labels as prior, so a
user or category seen a few times is pulled towards the prior and an unseen one gets exactly the prior.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._base import TargetGenerator, register
from ._common import clean_category, frame_of, param_requires


def _check_params(gen: TargetGenerator) -> None:
    if not (isinstance(gen.smoothing, (int, float)) and gen.smoothing >= 0):
        raise ValueError(f"`smoothing >= 0` must hold, but got smoothing={gen.smoothing!r}")


def _label_stats(keys: pd.Series, y: pd.Series) -> pd.DataFrame:
    """Per key (missing keys dropped): sum, count and population std of the labels."""
    g = pd.Series(y.to_numpy(dtype=float), index=keys.index).groupby(keys.to_numpy(dtype=object), dropna=True)
    return pd.DataFrame({"sum": g.sum(), "count": g.count().astype(float), "std": g.std(ddof=0)})


def _lookup(stats: pd.DataFrame, keys: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sum, count, std) of each row's key; unseen and missing keys get 0, 0, NaN."""
    idx = stats.index.get_indexer(keys.to_numpy(dtype=object))
    seen = idx >= 0
    take = np.where(seen, idx, 0)

    def col(name: str, fill: float) -> np.ndarray:
        v = stats[name].to_numpy(dtype=float)
        return np.where(seen, v[take] if len(v) else fill, fill)

    return col("sum", 0.0), col("count", 0.0), col("std", np.nan)


@register
class UserTarget(TargetGenerator):
    """The smoothed mean label of the user's other (fitted) posts, their count and their label std."""

    name = "user_target"
    group = "target"
    requires = ("user_id",)
    version = 1

    def __init__(self, *, smoothing: float = 10.0, inner_folds: int = 5, seed: int = 0) -> None:
        self.smoothing = smoothing
        self.inner_folds = inner_folds
        self.seed = seed

    def _fit(self, X: pd.DataFrame, y: pd.Series | None) -> None:
        _check_params(self)
        self.prior_ = float(y.mean())
        self.stats_ = _label_stats(X["user_id"].astype(object), y)

    def _transform(self, X: pd.DataFrame) -> pd.DataFrame:
        s, n, std = _lookup(self.stats_, X["user_id"].astype(object))
        m = float(self.smoothing)
        mean = (s + m * self.prior_) / (n + m) if m > 0 else np.where(n > 0, s / np.maximum(n, 1), self.prior_)
        out = {"mean": mean, "count": n, "std": np.where(n >= 2, std, np.nan)}
        return frame_of(X.index, self.name, out)


@register
class CategoryTarget(TargetGenerator):
    """The smoothed mean label per value of each category level (`{column}_mean`); missing values get the prior."""

    name = "category_target"
    group = "target"
    requires = param_requires(lambda g: tuple(g.columns))
    version = 1

    def __init__(
        self,
        *,
        columns: tuple[str, ...] = ("category", "subcategory", "concept"),
        smoothing: float = 10.0,
        inner_folds: int = 5,
        seed: int = 0,
    ) -> None:
        self.columns = columns
        self.smoothing = smoothing
        self.inner_folds = inner_folds
        self.seed = seed

    def _fit(self, X: pd.DataFrame, y: pd.Series | None) -> None:
        _check_params(self)
        self.prior_ = float(y.mean())
        self.stats_ = {c: _label_stats(clean_category(X[c]), y) for c in self.columns}

    def _transform(self, X: pd.DataFrame) -> pd.DataFrame:
        m = float(self.smoothing)
        out = {}
        for col, stats in self.stats_.items():
            s, n, _ = _lookup(stats, clean_category(X[col]))
            out[f"{col}_mean"] = (
                (s + m * self.prior_) / (n + m) if m > 0 else np.where(n > 0, s / np.maximum(n, 1), self.prior_)
            )
        return frame_of(X.index, self.name, out)
