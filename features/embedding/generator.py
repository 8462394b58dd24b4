"""The shared base of embedding generators: per-row cache, batching, progress, PCA reduction, `{name}__{i}` columns.

A subclass says what a row's input is (`_inputs`: a hashable content per row plus whatever its encoder needs),
how to encode a batch of rows (`_encode`) and which model produced the vectors (`_model_key`). The base looks every
row up in the row cache (`row_cache.py`), encodes only the misses, and records how many rows it computed and how
many it took from the cache (`rows_computed_`, `rows_cached_`; the run folder's features.json reports them).

Reduction: with `n_components` set, a PCA (`pca.py`) fitted on the embeddings of the frame the generator is fitted on
(train and test rows, unsupervised like every static generator) reduces the block; rows are sorted before the fit, so
the basis does not depend on row order. `prompt_texts` turns a post's text fields into the one prompt that the text
encoders embed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from smp.progress import progress_bar

from .._base import FeatureGenerator
from .._common import check_int
from .pca import finite_rows, fit_pca, pca_transform
from .row_cache import row_hashes


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
