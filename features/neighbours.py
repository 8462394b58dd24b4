"""Neighbour labels [neighbours]: statistics of the labels of the k nearest fitted posts in a feature space.

Retrieval as the 2025 video teams' MMRA and `skyandkibo/SMPVideo` use it: a post's popularity is close to that of
posts like it. A *space* is a list of column prefixes (a text-embedding block such as `sentence__`, user-count
features such as `user_profile__`, or both); its numeric columns are standardised with the fitted rows' mean and
std, each prefix block is scaled to the same total variance (so 384 embedding dimensions do not drown 10 user
columns) and, for the cosine metric, rows are scaled to unit length. Label-using: the engine fits the generator on
a fold's training part; `fit_transform` gives each of those rows the labels of neighbours from the *other* inner
folds only (a row never retrieves itself or a row of its own inner validation fold), and `transform` searches all
fitted rows. A row whose space is entirely missing gets missing values.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._base import TargetGenerator, register
from ._common import check_int, frame_of, param_requires
from ._inputs import FeatureInputs, check_groups, float_matrix, group_columns, group_prefixes

DEFAULT_SPACES = {"text": ["sentence__"]}
STATS = ("mean", "median", "std", "min", "max", "wmean", "dist")
METRICS = ("cosine", "euclidean")


class _Space:
    """One fitted space: its columns and blocks, the scaling, the fitted vectors and their labels."""

    def __init__(self, X: pd.DataFrame, y: np.ndarray, blocks: list[list[str]], *, metric: str, standardize: bool,
                 balance: bool) -> None:
        self.columns = [c for block in blocks for c in block]
        self.metric = metric
        M = float_matrix(X, self.columns)
        with np.errstate(invalid="ignore"):
            if standardize and len(M):
                self.mean = np.nan_to_num(np.nanmean(M, axis=0)) if np.isfinite(M).any() else np.zeros(M.shape[1])
                std = np.nanstd(M, axis=0)
            else:
                self.mean, std = np.zeros(M.shape[1]), np.ones(M.shape[1])
        std = np.where(np.isfinite(std) & (std > 1e-12), std, 1.0)
        weight = np.concatenate([np.full(len(b), 1.0 / np.sqrt(len(b)) if balance else 1.0) for b in blocks])
        self.scale = weight / std
        Z, ok = self.embed(X)
        self.y = y[ok]
        self.index = None
        if len(self.y):
            from sklearn.neighbors import NearestNeighbors

            self.index = NearestNeighbors(algorithm="brute", metric="euclidean").fit(Z[ok].astype(np.float32))

    def embed(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """The scaled vectors of `X`'s rows and which rows have any value in the space (missing values -> mean)."""
        M = float_matrix(X, self.columns)
        ok = np.isfinite(M).any(axis=1) if M.shape[1] else np.zeros(len(M), dtype=bool)
        Z = np.nan_to_num((M - self.mean) * self.scale, nan=0.0)
        if self.metric == "cosine":
            norm = np.linalg.norm(Z, axis=1, keepdims=True)
            ok &= norm[:, 0] > 1e-12  # a row at the exact mean has no direction
            Z = Z / np.where(norm > 1e-12, norm, 1.0)
        return Z, ok

    def query(self, X: pd.DataFrame, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Neighbour labels and distances (rows x min(k, fitted rows), nearest first) and the rows that have them."""
        Z, ok = self.embed(X)
        kk = min(int(k), len(self.y))
        labels = np.full((len(Z), kk), np.nan)
        dist = np.full((len(Z), kk), np.nan)
        ok &= kk > 0
        if ok.any():
            from sklearn import config_context
            from threadpoolctl import threadpool_limits

            # Brute force, one matrix product per block of query rows: sklearn's default block of 1 GB would take
            # a shared machine's memory at 20k rows, 64 MB costs nothing in speed. One thread: on a loaded machine
            # its threads mostly wait for cores (measured 17x slower on 1,300 rows), and the result is the same.
            with config_context(working_memory=64), threadpool_limits(1):
                d, idx = self.index.kneighbors(Z[ok].astype(np.float32), n_neighbors=kk)
            labels[ok], dist[ok] = self.y[idx], d
        if self.metric == "cosine":
            dist = dist**2 / 2.0  # unit vectors: squared euclidean / 2 = 1 - cosine similarity
        return labels, dist, ok


@register
class NeighbourLabels(FeatureInputs, TargetGenerator):
    """Mean, median and std of the labels of the k nearest fitted posts per space and k; see the module docstring.

    Outputs `neighbour_labels__{space}_k{k}_{stat}`; `wmean` weights neighbours by 1 / (distance + eps) and `dist`
    is their mean distance (1 - cosine similarity for the cosine metric).
    """

    name = "neighbour_labels"
    group = "neighbours"
    requires_prefix = param_requires(lambda g: group_prefixes(g.spaces, DEFAULT_SPACES))
    version = 1

    def __init__(
        self,
        *,
        spaces: dict[str, list[str]] | None = None,
        k: tuple[int, ...] = (5, 20),
        metric: str = "cosine",
        stats: tuple[str, ...] = ("mean", "median", "std"),
        standardize: bool = True,
        balance_blocks: bool = True,
        inner_folds: int = 5,
        seed: int = 0,
    ) -> None:
        self.spaces = spaces if spaces is not None else {k: list(v) for k, v in DEFAULT_SPACES.items()}
        self.k = k
        self.metric = metric
        self.stats = stats
        self.standardize = standardize
        self.balance_blocks = balance_blocks
        self.inner_folds = inner_folds
        self.seed = seed

    def _check(self) -> list[int]:
        check_groups(self.name, "spaces", self.spaces)
        if self.metric not in METRICS:
            raise ValueError(f"neighbour_labels: metric must be one of {METRICS}, got {self.metric!r}")
        bad = [s for s in self.stats if s not in STATS]
        if bad or not self.stats:
            raise ValueError(f"neighbour_labels: stats must be a non-empty subset of {STATS}, got {list(self.stats)!r}")
        ks = list(self.k) if isinstance(self.k, (list, tuple)) else [self.k]
        if not ks:
            raise ValueError("neighbour_labels: `k` must list at least one number of neighbours")
        for k in ks:
            check_int("k", k, 1)
        return sorted(set(int(k) for k in ks))

    def _fit(self, X: pd.DataFrame, y: pd.Series | None) -> None:
        self._check()
        y = y.to_numpy(dtype=float)
        self.spaces_: dict[str, _Space] = {}
        used: list[str] = []
        for space, prefixes in self.spaces.items():
            blocks = group_columns(self.name, X, space, prefixes)
            self.spaces_[space] = _Space(X, y, blocks, metric=self.metric, standardize=bool(self.standardize),
                                         balance=bool(self.balance_blocks))
            used += [c for c in self.spaces_[space].columns if c not in used]
        self.inputs_ = sorted(used)

    def _transform(self, X: pd.DataFrame) -> pd.DataFrame:
        ks = self._check()
        out: dict[str, np.ndarray] = {}
        for space, fitted in self.spaces_.items():
            labels, dist, ok = fitted.query(X, ks[-1])
            for k in ks:
                lab, d = labels[:, :k], dist[:, :k]
                for stat in self.stats:
                    out[f"{space}_k{k}_{stat}"] = _stat(stat, lab, d, ok)
        return frame_of(X.index, self.name, out)


def _stat(stat: str, labels: np.ndarray, dist: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """One statistic over each row's neighbours; NaN for rows without neighbours."""
    out = np.full(len(labels), np.nan)
    if not ok.any() or labels.shape[1] == 0:
        return out
    lab, d = labels[ok], dist[ok]
    if stat == "mean":
        v = lab.mean(axis=1)
    elif stat == "median":
        v = np.median(lab, axis=1)
    elif stat == "std":
        v = lab.std(axis=1) if lab.shape[1] >= 2 else np.full(len(lab), np.nan)
    elif stat == "min":
        v = lab.min(axis=1)
    elif stat == "max":
        v = lab.max(axis=1)
    elif stat == "wmean":
        w = 1.0 / (d + 1e-6)
        v = (w * lab).sum(axis=1) / w.sum(axis=1)
    else:  # "dist"
        v = d.mean(axis=1)
    out[ok] = v
    return out
