"""Target encodings of the user, the category levels and cluster ids (label-using: out-of-fold on the rows they are fitted on).

Means are m-estimates, ``(sum + m * prior) / (count + m)`` with the global mean of the fitted labels as prior, so a
user or category seen a few times is pulled towards the prior and an unseen one gets exactly the prior.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._base import TargetGenerator, register
from ._common import clean_category, frame_of, param_requires
from ._inputs import FeatureInputs, prefixed


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


def _smoothed_mean(s: np.ndarray, n: np.ndarray, smoothing: float, prior: float) -> np.ndarray:
    """The m-estimate (sum + m * prior) / (count + m); with m = 0 the plain mean, the prior where count is 0."""
    m = float(smoothing)
    return (s + m * prior) / (n + m) if m > 0 else np.where(n > 0, s / np.maximum(n, 1), prior)


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
        out = {"mean": _smoothed_mean(s, n, self.smoothing, self.prior_), "count": n, "std": np.where(n >= 2, std, np.nan)}
        return frame_of(X.index, self.name, out)


class ColumnTargetEncoder(TargetGenerator):
    """The shared fit / transform of the per-column encodings (`category_target`, `cluster_target`): each column's
    values are keys, and a row gets its key's smoothed mean label as `{stat}_mean` (with `with_spread`, also the
    key's count as `{stat}_count` and its label std as `{stat}_std`). A subclass chooses the columns at fit with
    `_columns` (by default its `columns` parameter) and names each column's stats with `_stat_name`."""

    with_spread: bool = False

    def _columns(self, X: pd.DataFrame) -> list[str]:
        return list(self.columns)

    def _stat_name(self, column: str) -> str:
        return column

    def _fit(self, X: pd.DataFrame, y: pd.Series | None) -> None:
        _check_params(self)
        columns = self._columns(X)
        self.prior_ = float(y.mean())
        self.stats_ = {c: _label_stats(clean_category(X[c]), y) for c in columns}

    def _transform(self, X: pd.DataFrame) -> pd.DataFrame:
        out = {}
        for col, stats in self.stats_.items():
            s, n, std = _lookup(stats, clean_category(X[col]))
            stat = self._stat_name(col)
            out[f"{stat}_mean"] = _smoothed_mean(s, n, self.smoothing, self.prior_)
            if self.with_spread:
                out[f"{stat}_count"] = n
                out[f"{stat}_std"] = np.where(n >= 2, std, np.nan)
        return frame_of(X.index, self.name, out)


@register
class CategoryTarget(ColumnTargetEncoder):
    """The smoothed mean label per value of each category level (`{column}_mean`); missing values get the prior."""

    name = "category_target"
    group = "target"
    requires = param_requires(lambda g: tuple(g.columns))
    version = 1

    def __init__(self, *, columns: tuple[str, ...] = ("category", "subcategory", "concept"), smoothing: float = 10.0,
                 inner_folds: int = 5, seed: int = 0) -> None:
        self.columns = columns
        self.smoothing = smoothing
        self.inner_folds = inner_folds
        self.seed = seed


def _cluster_keys(X: pd.DataFrame, columns: tuple[str, ...], prefixes: tuple[str, ...]) -> list[str]:
    """The explicit `columns`, then the categorical / text columns with a prefix (distances and other numbers left
    out: `clusters__sentence_k32` is an id, `clusters__sentence_k32_dist` is not)."""
    found = [c for c in prefixed(X.columns, prefixes) if c not in columns and not (
        pd.api.types.is_numeric_dtype(X[c]) or pd.api.types.is_bool_dtype(X[c]))]
    return [*columns, *found]


@register
class ClusterTarget(FeatureInputs, ColumnTargetEncoder):
    """Smoothed mean label, count and label std per cluster id (`{column}_mean` / `_count` / `_std`).

    Reads the `clusters` generator's categorical ids, by prefix (`prefixes`) or by name (`columns`); an unseen or
    missing id gets the prior, a count of 0 and a missing std. The output stat names are the column names with
    `__` replaced by `_` (`cluster_target__clusters_sentence_k8_mean`), so ids of two generators never collide.
    """

    name = "cluster_target"
    group = "target"
    requires = param_requires(lambda g: tuple(g.columns))
    requires_prefix = param_requires(lambda g: tuple(g.prefixes))
    version = 1
    with_spread = True

    def __init__(self, *, prefixes: tuple[str, ...] = ("clusters__",), columns: tuple[str, ...] = (),
                 smoothing: float = 10.0, inner_folds: int = 5, seed: int = 0) -> None:
        self.prefixes = prefixes
        self.columns = columns
        self.smoothing = smoothing
        self.inner_folds = inner_folds
        self.seed = seed

    def _columns(self, X: pd.DataFrame) -> list[str]:
        keys = _cluster_keys(X, tuple(self.columns), tuple(self.prefixes))
        if not keys:
            raise ValueError(
                f"cluster_target: no categorical column starting with {list(self.prefixes)} (numeric ones are not "
                f"cluster ids); columns with those prefixes: {prefixed(X.columns, tuple(self.prefixes))}"
            )
        return keys

    def _fit(self, X: pd.DataFrame, y: pd.Series | None) -> None:
        super()._fit(X, y)
        self.inputs_ = list(self.stats_)

    def _stat_name(self, column: str) -> str:
        return column.replace("__", "_")
