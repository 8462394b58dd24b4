"""The shared base of embedding generators: per-row cache, batching, progress, PCA reduction, `{name}__{i}` columns.

A subclass says what a row's input is (`_inputs`: a hashable content per row plus whatever its encoder needs),
how to encode a batch of rows (`_encode`) and which model produced the vectors (`_model_key`). The base looks every
row up in the row cache (`_rowcache.py`), encodes only the misses, and records how many rows it computed and how
many it took from the cache (`rows_computed_`, `rows_cached_`; the run folder's features.json reports them).

Reduction: with `n_components` set, a PCA fitted on the embeddings of the frame the generator is fitted on (train
and test rows, unsupervised like every static generator) reduces the block; rows are sorted before the fit, so the
basis does not depend on row order.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from smp.progress import progress_bar

from ._rowcache import row_hashes
from ._base import FeatureGenerator
from ._common import check_int


class EmbeddingGenerator(FeatureGenerator):
    """Base class: subclasses implement `_model_key`, `_inputs`, `_encode` and `_probe_dim`."""

    column_prefix: str = ""  # output columns are `{name}__{column_prefix}{i}`
    version = 3  # 2: PCA by the covariance eigendecomposition (`fit_pca`); 3: accumulated over row chunks

    # ----------------------------------------------------------------------------------------- subclass API
    def _model_key(self) -> str:
        raise NotImplementedError

    def _inputs(self, X: pd.DataFrame) -> tuple[list[bytes | str | None], Any]:
        """Per-row content (None: no input, the row's vector is NaN) and the payload `_encode` reads."""
        raise NotImplementedError

    def _encode(self, payload: Any, positions: list[int]) -> np.ndarray:
        raise NotImplementedError

    def _probe_dim(self) -> int:
        """The encoder's output dimension, for frames without a single encodable row."""
        raise NotImplementedError

    def _prefix(self) -> str:
        return self.column_prefix

    def cache_identity(self) -> str | None:
        return self._model_key()

    # ---------------------------------------------------------------------------------------------- embed
    def embed(self, X: pd.DataFrame) -> np.ndarray:
        """Raw vectors (rows x dim, float32; NaN rows where a row has no usable input), through the row cache."""
        contents, payload = self._inputs(X)
        have = [i for i, c in enumerate(contents) if c is not None]
        cache = self.rows.cache(self._model_key())
        keys = row_hashes(self._model_key(), [contents[i] for i in have])
        bar = progress_bar(total=len(set(keys)), desc=self.name, unit="row", leave=False,
                           enabled=self.rows.progress and len(have) >= 1000)

        def compute(pos: list[int]) -> np.ndarray:
            out = self._encode(payload, [have[p] for p in pos])
            bar.update(len(pos))
            return out

        try:
            E, computed, cached = cache.get_or_compute(keys, compute, batch_size=self._cache_batch())
        finally:
            bar.close()
        self.rows_computed_ = int(computed)
        self.rows_cached_ = int(cached)
        dim = E.shape[1] if E is not None else (getattr(self, "dim_", None) or self._probe_dim())
        if E is not None and len(have) == len(contents):
            return E  # every row has an input: no NaN-padded copy
        full = np.full((len(contents), dim), np.nan, dtype=np.float32)
        if E is not None:
            full[have] = E
        return full

    def _cache_batch(self) -> int:
        # Misses are encoded and stored in chunks, so an interrupted run keeps what it has already embedded.
        return max(int(getattr(self, "batch_size", 64)) * 16, 256)

    # ------------------------------------------------------------------------------------------- fit / out
    def _check_params(self) -> None:
        if self.n_components is not None:
            check_int("n_components", self.n_components, 1)

    def _fit_vectors(self, E: np.ndarray) -> None:
        self._check_params()
        self.dim_ = int(E.shape[1])
        self.pca_ = None
        if self.n_components is None:
            return
        ok = finite_rows(E)
        k = min(int(self.n_components), int(ok.sum()), E.shape[1])
        if k < 1:
            return
        self.pca_ = fit_pca(E, k, int(getattr(self, "random_state", 0)), rows=ok)

    def _reduce(self, E: np.ndarray) -> np.ndarray:
        if self.n_components is None:
            return E
        out = np.full((E.shape[0], int(self.n_components)), np.nan, dtype=np.float32)
        ok = finite_rows(E)
        if self.pca_ is not None:
            out[ok] = 0.0
            if ok.any():
                z = pca_transform(self.pca_, E, ok)
                out[np.ix_(ok, np.arange(z.shape[1]))] = z
        else:
            out[ok] = 0.0
        return out

    def _frame(self, X: pd.DataFrame, Z: np.ndarray) -> pd.DataFrame:
        p = f"{self.name}__{self._prefix()}"
        return pd.DataFrame({f"{p}{i}": Z[:, i] for i in range(Z.shape[1])}, index=X.index)

    def _pin(self) -> None:
        """Fix, at fit time, choices that depend on the machine (an `auto` backend), so a fitted generator embeds
        new posts exactly as it embedded its training posts wherever it is loaded. Subclasses with such choices
        override it."""

    def _fit(self, X: pd.DataFrame, y: pd.Series | None) -> None:
        self._pin()
        self._fit_vectors(self.embed(X))

    def _transform(self, X: pd.DataFrame) -> pd.DataFrame:
        return self._frame(X, self._reduce(self.embed(X)))

    def fit_transform(self, frame: pd.DataFrame, y: pd.Series | None = None) -> pd.DataFrame:
        """Embed once (fit and output share the vectors), so the counts describe this one pass."""
        X = self._select(frame)
        self._pin()
        E = self.embed(X)
        self._fit_vectors(E)
        self.fitted_ = True
        return self._check_output(X, self._frame(X, self._reduce(E)))


CHUNK_ROWS = 16384  # rows converted to float64 at a time by `CovariancePCA`


def row_order(R: np.ndarray) -> np.ndarray:
    """`np.lexsort(R.T[::-1])`: the rows sorted by column 0, ties by column 1 and so on (stable, NaN last), by one
    sort of column 0 and a full sort of only the rows it ties. The same permutation without a sort pass per
    column: 305,000 x 1,280 float32 rows take ~1 s instead of ~50 s when ties are rare, as in embeddings."""
    if R.ndim != 2 or len(R) < 2 or R.shape[1] < 2:
        return np.lexsort(R.T[::-1]) if R.ndim == 2 and R.shape[1] else np.arange(len(R))
    order = np.argsort(R[:, 0], kind="stable")
    k = R[order, 0]
    tied = (k[1:] == k[:-1]) | (np.isnan(k[1:]) & np.isnan(k[:-1])) if k.dtype.kind == "f" else k[1:] == k[:-1]
    if tied.sum() > len(R) // 8:  # many ties (a column of few values): one full sort is cheaper than many small
        return np.lexsort(R.T[::-1])
    edges = np.diff(np.concatenate([[0], tied.view(np.int8), [0]]))
    for lo, hi in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):  # a run of equal values: lo..hi
        idx = order[lo:hi + 1]
        order[lo:hi + 1] = idx[np.lexsort(R[idx].T[::-1])]
    return order


def finite_rows(E: np.ndarray) -> np.ndarray:
    """Which rows of `E` are finite throughout, a chunk of rows at a time: `np.isfinite(E).all(axis=1)` without
    its whole-matrix boolean temporary (390 MB for a 305,000 x 1,280 image block)."""
    out = np.empty(len(E), dtype=bool)
    for lo in range(0, len(E), CHUNK_ROWS):
        out[lo:lo + CHUNK_ROWS] = np.isfinite(E[lo:lo + CHUNK_ROWS]).all(axis=1)
    return out


class CovariancePCA:
    """PCA by the eigendecomposition of the columns' covariance, accumulated in float64 over row chunks.

    The same fit as scikit-learn's `svd_solver="covariance_eigh"` (components sorted by variance, each signed so
    that its largest-magnitude loading is positive) without a float64 copy of the whole matrix: a 305,000 x 1,280
    float32 image block stays 1.6 GB instead of the 6-9 GB of copies the library's path makes. Rows are visited in
    sorted order, so the basis does not depend on row order. `transform` also works chunk by chunk.
    """

    def __init__(self, n_components: int):
        self.n_components = int(n_components)

    def fit(self, R: np.ndarray, rows: np.ndarray | None = None) -> "CovariancePCA":
        """Fit on the rows of `R` (or on those `rows`, a boolean mask, without copying them out)."""
        order = row_order(R)
        if rows is not None:
            order = order[np.asarray(rows, dtype=bool)[order]]
        n, d = len(order), R.shape[1]
        chunks = [order[i:i + CHUNK_ROWS] for i in range(0, n, CHUNK_ROWS)]
        total = np.zeros(d)
        for idx in chunks:
            total += R[idx].sum(axis=0, dtype=np.float64)
        self.mean_ = total / n
        cov = np.zeros((d, d))
        for idx in chunks:
            C = R[idx].astype(np.float64) - self.mean_
            cov += C.T @ C
        cov /= max(n - 1, 1)
        vals, vecs = np.linalg.eigh(cov)
        top = np.argsort(vals)[::-1][: self.n_components]
        comps = vecs[:, top].T
        signs = np.sign(comps[np.arange(len(comps)), np.abs(comps).argmax(axis=1)])
        self.components_ = comps * np.where(signs == 0, 1.0, signs)[:, None]
        self.explained_variance_ = np.maximum(vals[top], 0.0)
        self.explained_variance_ratio_ = self.explained_variance_ / max(float(np.maximum(vals, 0.0).sum()), 1e-300)
        self.n_components_ = len(top)
        return self

    def transform(self, X: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Components of the rows of `X` (or of those `rows`, a boolean mask), float64."""
        idx = np.arange(len(X)) if rows is None else np.flatnonzero(rows)
        out = np.empty((len(idx), self.n_components_))
        for i in range(0, len(idx), CHUNK_ROWS):
            C = np.asarray(X[idx[i:i + CHUNK_ROWS]], dtype=np.float64)
            out[i:i + CHUNK_ROWS] = (C - self.mean_) @ self.components_.T
        return out


def fit_pca(R: np.ndarray, k: int, seed: int = 0, rows: np.ndarray | None = None):
    """A PCA with `k` components fitted on rows `R` (any float dtype, not copied; or on those `rows`, a boolean
    mask), order-free: row order does not change the basis.

    Tall matrices (rows >= 10 x columns: every embedding block) use `CovariancePCA`, the eigendecomposition of the
    columns' covariance: exact, the fastest solver there (5,200 x 256: 0.1 s against 1 s for the randomized SVD;
    300k x 256: 10 s against 21 s) and without whole-matrix float64 copies; wide large ones a seeded randomized
    SVD, small ones a full SVD (scikit-learn, on sorted float64 rows). `pca_transform` applies either kind.
    """
    from sklearn.decomposition import PCA

    n = len(R) if rows is None else int(np.count_nonzero(rows))
    if n >= 10 * R.shape[1] and R.shape[1] > k:
        return CovariancePCA(k).fit(R, rows=rows)
    R = np.asarray(R if rows is None else R[rows], dtype=np.float64)
    R = R[row_order(R)] if len(R) else R
    solver = "full" if min(R.shape) <= 4 * k or R.shape[0] < 1000 else "randomized"
    return PCA(n_components=k, svd_solver=solver, random_state=seed).fit(R)


def pca_transform(pca, X: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """A `fit_pca` result applied to the rows of `X` (or to those `rows`, a boolean mask), float64; the chunked PCA
    reads the rows in place, a scikit-learn one gets them as a float64 copy."""
    if isinstance(pca, CovariancePCA):
        return pca.transform(X, rows=rows)
    return pca.transform(np.asarray(X if rows is None else X[rows], dtype=np.float64))


def prompt_texts(X: pd.DataFrame, fields: tuple[str, ...] | list[str]) -> list[str]:
    """PPCL-style prompts: "The title of the post is ... The category is a > b > c. The tags are x, y."

    Empty parts are left out; the category levels present among `fields` form one sentence.
    """
    n = len(X)
    parts: list[list[str]] = [[] for _ in range(n)]
    levels = [f for f in ("category", "subcategory", "concept") if f in fields]
    for f in fields:
        if f in ("category", "subcategory", "concept"):
            if f != levels[0]:
                continue
            cols = [X[c].to_numpy(dtype=object) for c in levels]
            for i in range(n):
                vals = [str(c[i]) for c in cols if isinstance(c[i], str) and c[i]]
                if vals:
                    parts[i].append(f"The category is {' > '.join(vals)}.")
            continue
        values = X[f].to_numpy(dtype=object)
        for i, v in enumerate(values):
            if isinstance(v, (list, tuple, np.ndarray)):
                text = ", ".join(str(t).lstrip("#") for t in v if str(t).strip())
            else:
                text = v if isinstance(v, str) else ""
            text = text.strip()
            if text:
                parts[i].append(PROMPTS.get(f, f"The {f} is {{}}.").format(text))
    return [" ".join(p) for p in parts]


PROMPTS = {
    "title": "The title of the post is {}.",
    "tags": "The tags are {}.",
    "description": "The post is described by the words {}.",
    "location": "It was posted in {}.",
}
