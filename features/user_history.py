"""Sliding-window user history [user]: what the same user posted just before each post (USTC, SMP 2020).

For each post, the user's previous `n` posts in time order (for each `n` of `windows`, 3 and 5 by default) are
averaged: the embedding block of a registered embedding generator (`embedding`, run inside this generator through
the per-row cache, so a `sentence` block next to it embeds nothing twice), and the numeric outputs of other static
generators (`features`) and PostFrame columns (`columns`). `cos` is the cosine of the post's own (unreduced)
embedding to the window's mean embedding: how far a post strays from what its author has been posting.

Train and test posts are taken together (no label is read), as for every per-user aggregate; `transform` recomputes
the windows over the frame it gets, so new posts see the training posts before them. A post with fewer than
`min_posts` earlier posts (a user's first post by default) gets missing values, not zeros; rows without a value
(a missing embedding or column) are left out of the means. Ties in `post_time` are ordered by `post_id`, so row
order never changes a window.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._base import FeatureGenerator, get_generator, register
from ._common import check_int, codes, param_requires, to_seconds
from .embedding.generator import EmbeddingGenerator
from .crossmodal import cosine

KEYS = ("post_id", "user_id", "post_time")
DEFAULT_FEATURES = {"text_stats": {}}


def _embedder(g) -> EmbeddingGenerator | None:
    if g.embedding is None:
        return None
    gen = get_generator(g.embedding, dict(g.embedding_params or {}))
    if not isinstance(gen, EmbeddingGenerator):
        raise ValueError(f"user_history: `embedding` must name an embedding generator (sentence, static_embedding, "
                         f"image_encoder, clip_image, clip_text, ...), got {g.embedding!r}")
    return gen


def _feature_generators(g) -> dict[str, FeatureGenerator]:
    features = DEFAULT_FEATURES if g.features is None else g.features  # None: the class's defaults, read unbuilt
    if not isinstance(features, dict):
        raise ValueError(f"user_history: `features` must map generator names to parameters, got {features!r}")
    out = {name: get_generator(name, dict(params or {})) for name, params in features.items()}
    labelled = [name for name, gen in out.items() if gen.uses_target]
    if labelled:
        raise ValueError(f"user_history: `features` must name static generators (no label), got {labelled}")
    return out


def _inner(g) -> list[FeatureGenerator]:
    emb = _embedder(g)
    return ([emb] if emb is not None else []) + list(_feature_generators(g).values())


def _requires(g) -> tuple[str, ...]:
    cols = list(KEYS)
    for gen in _inner(g):
        cols += list(gen.requires)
    return tuple(dict.fromkeys([*cols, *g.columns]))


def _requires_prefix(g) -> tuple[str, ...]:
    return tuple(dict.fromkeys(p for gen in _inner(g) for p in gen.requires_prefix))


def window_means(order: np.ndarray, position: np.ndarray, V: np.ndarray, windows: list[int],
                 min_posts: int) -> dict[int, np.ndarray]:
    """For each window n: the mean over each row's previous n rows of its user (rows sorted by `order`, user then
    time; `position`: each sorted row's place among its user's rows), leaving out non-finite values; NaN where
    fewer than `min_posts` previous rows exist or none of them has a value.

    The sums run over the offsets 1..n in a fixed order (no cumulative sums across users), so a row's value
    depends on its own user's rows only, bit for bit."""
    Vs = V[order].astype(np.float64)
    ok = np.isfinite(Vs)
    Vz = np.where(ok, Vs, 0.0)
    total, count = np.zeros_like(Vz), np.zeros(Vz.shape, dtype=np.int64)
    out: dict[int, np.ndarray] = {}
    for k in range(1, max(windows) + 1):
        has = np.flatnonzero(position >= k)  # the row k places earlier belongs to the same user
        total[has] += Vz[has - k]
        count[has] += ok[has - k]
        if k in windows:
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = total / count
            mean[position < min_posts] = np.nan
            res = np.empty_like(mean)
            res[order] = mean
            out[k] = res
    return out


@register
class UserHistory(FeatureGenerator):
    """Means of the embedding and numeric features of each user's previous n posts, and the post's cosine to the
    window's mean embedding; see the module docstring.

    Columns: `user_history__n{n}_emb_{i}` (the `embedding` generator's block, PCA-reduced as its parameters say),
    `user_history__n{n}_cos`, `user_history__n{n}_{generator}_{stat}` for each numeric output of `features`,
    `user_history__n{n}_{column}` for each of `columns`, and `user_history__previous` (the user's earlier posts).
    """

    name = "user_history"
    group = "user"
    version = 1
    requires = param_requires(_requires)
    requires_prefix = param_requires(_requires_prefix)

    def __init__(self, *, windows: tuple[int, ...] = (3, 5), embedding: str | None = "sentence",
                 embedding_params: dict | None = None, features: dict | None = None,
                 columns: tuple[str, ...] = (), min_posts: int = 1):
        self.windows = windows
        self.embedding = embedding
        self.embedding_params = embedding_params if embedding_params is not None else {"n_components": 16}
        self.features = features if features is not None else {k: dict(v) for k, v in DEFAULT_FEATURES.items()}
        self.columns = columns
        self.min_posts = min_posts

    def _check(self) -> list[int]:
        ws = list(self.windows) if isinstance(self.windows, (list, tuple)) else [self.windows]
        if not ws:
            raise ValueError("user_history: `windows` must list at least one number of previous posts")
        for w in ws:
            check_int("windows[]", w, 1)
        check_int("min_posts", self.min_posts, 1)
        if any(int(self.min_posts) > w for w in ws):
            raise ValueError(f"user_history: `min_posts <= min(windows)` must hold, but got min_posts="
                             f"{self.min_posts!r}, windows={list(ws)!r}")
        return sorted(set(int(w) for w in ws))

    def cache_identity(self) -> str | None:
        parts = [f"{g.name}={g.cache_identity()}" for g in _inner(self) if g.cache_identity() is not None]
        return "|".join(parts) or None

    # --------------------------------------------------------------------------------------------- blocks
    def _blocks(self, X: pd.DataFrame, *, fitting: bool) -> tuple[np.ndarray | None, np.ndarray | None,
                                                                   pd.DataFrame]:
        """(raw embeddings, their reduced block, the numeric feature table) of `X`'s rows."""
        computed = cached = 0
        E = Z = None
        if fitting:
            self.embedder_ = _embedder(self)
            self.generators_ = _feature_generators(self)
        emb = self.embedder_
        if emb is not None:
            emb.use_rows(self.rows)
            if fitting:
                emb._pin()
            E = emb.embed(X)
            if fitting:
                emb._fit_vectors(E)
                emb.fitted_ = True
            Z = emb._reduce(E)
            computed, cached = emb.rows_computed_, emb.rows_cached_
        tables = []
        for name, gen in self.generators_.items():
            gen.use_rows(self.rows)
            out = gen.fit_transform(X) if fitting else gen.transform(X)
            computed += getattr(gen, "rows_computed_", 0)
            cached += getattr(gen, "rows_cached_", 0)
            num = [c for c in out.columns if not isinstance(out[c].dtype, pd.CategoricalDtype)]
            tables.append(out[num].rename(columns=lambda c: str(c).replace("__", "_", 1)))
        if self.columns:
            cols = X[list(self.columns)]
            bad = [c for c in cols.columns if not pd.api.types.is_numeric_dtype(cols[c])]
            if bad:
                raise ValueError(f"user_history: `columns` must be numeric, got non-numeric {bad}")
            tables.append(cols.astype(np.float64))
        self.rows_computed_, self.rows_cached_ = computed, cached
        table = pd.concat(tables, axis=1) if tables else pd.DataFrame(index=X.index)
        return E, Z, table

    def _out(self, X: pd.DataFrame, E: np.ndarray | None, Z: np.ndarray | None, table: pd.DataFrame):
        windows = self._check()
        group, _ = codes(X["user_id"])
        t = to_seconds(X["post_time"])
        known = np.isfinite(t)
        # Posts without a time have no place in the order: they get no window and are in nobody's window.
        group = np.where(known, group, -1 - np.arange(len(X)))
        order = np.lexsort((X["post_id"].astype(str).to_numpy(), np.nan_to_num(t), group))
        gs = group[order]
        start = np.r_[0, np.flatnonzero(gs[1:] != gs[:-1]) + 1] if len(gs) else np.zeros(0, dtype=np.int64)
        position = np.arange(len(gs)) - np.repeat(start, np.diff(np.r_[start, len(gs)]))
        previous = np.empty(len(X), dtype=np.float32)
        previous[order] = position
        cols: dict[str, np.ndarray] = {"previous": np.where(known, previous, np.nan).astype(np.float32)}
        means = {}
        if Z is not None:
            means["emb"] = window_means(order, position, Z, windows, int(self.min_posts))
            means["raw"] = window_means(order, position, E, windows, int(self.min_posts))
        if len(table.columns):
            means["num"] = window_means(order, position, table.to_numpy(dtype=np.float64, na_value=np.nan),
                                        windows, int(self.min_posts))
        for n in windows:
            if Z is not None:
                M = means["emb"][n]
                cols.update({f"n{n}_emb_{i}": M[:, i].astype(np.float32) for i in range(M.shape[1])})
                cols[f"n{n}_cos"] = cosine(E, means["raw"][n])
            if "num" in means:
                M = means["num"][n]
                cols.update({f"n{n}_{c}": M[:, j].astype(np.float32) for j, c in enumerate(table.columns)})
        return pd.DataFrame({f"{self.name}__{c}": v for c, v in cols.items()}, index=X.index)

    # ------------------------------------------------------------------------------------------------ API
    def _fit(self, X: pd.DataFrame, y: pd.Series | None) -> None:
        self._check()
        self._blocks(X, fitting=True)

    def _transform(self, X: pd.DataFrame) -> pd.DataFrame:
        return self._out(X, *self._blocks(X, fitting=False))

    def fit_transform(self, frame: pd.DataFrame, y: pd.Series | None = None) -> pd.DataFrame:
        X = self._select(frame)
        self._check()
        out = self._out(X, *self._blocks(X, fitting=True))
        self.fitted_ = True
        return self._check_output(X, out)

