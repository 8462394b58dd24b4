"""Hierarchical clustering features [clusters] (HyperFusion): cluster ids and distances at several granularities.

For each embedding block (`sentence`, `static_embedding`, `image_encoder`, `clip_image`, `clip_text`, `glove`), the
block's registered generator (with `dims` PCA components and any `block_params`) embeds the posts; k-means with the
largest level gives fine centroids, and Ward agglomeration of those centroids gives the coarser levels, so the levels
nest (a fine cluster lies inside one coarse cluster). Every post gets, per level, its cluster id as a categorical
(`clusters__{block}_k{k}`, categories "0".."k-1", fixed by the parameters) and its distance to that cluster's
centroid (`..._dist`). Fitted on all rows (unsupervised, like every static generator); rows are sorted before
the fit so row order does not change the clusters. Rows without an embedding get NaN.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._base import FeatureGenerator, get_generator, register
from ._common import check_int, param_requires

BLOCKS = ("sentence", "static_embedding", "image_encoder", "clip_image", "clip_text", "glove")


def nearest(Z: np.ndarray, C: np.ndarray, chunk: int = 8192) -> np.ndarray:
    """Index of the nearest row of `C` for each row of `Z`, in chunks (300k x 128 distances at once is GBs)."""
    out = np.empty(len(Z), dtype=np.int64)
    cc = (C**2).sum(axis=1)
    for lo in range(0, len(Z), chunk):
        z = Z[lo : lo + chunk]
        out[lo : lo + chunk] = (cc[None, :] - 2.0 * z @ C.T).argmin(axis=1)
    return out


def _block_generator(block: str, dims: int, block_params: dict) -> FeatureGenerator:
    if block not in BLOCKS:
        raise ValueError(f"clusters: block must be one of {BLOCKS}, got {block!r}")
    return get_generator(block, {**dict((block_params or {}).get(block, {})), "n_components": int(dims)})


def _requires(g) -> tuple[str, ...]:
    cols: list[str] = []
    for b in g.blocks:
        cols += list(_block_generator(b, g.dims, g.block_params).requires)
    return tuple(dict.fromkeys(cols))


@register
class Clusters(FeatureGenerator):
    """Nested k-means / Ward cluster ids (categorical) and centroid distances of embedding blocks; see module doc."""

    name = "clusters"
    group = "clusters"
    version = 4  # 2: canonical cluster ids; 3: its embedding blocks' PCA by the covariance eigendecomposition;
    # 4: that PCA accumulated over row chunks
    requires = param_requires(_requires)

    def __init__(self, *, blocks: tuple[str, ...] = ("sentence",), levels: tuple[int, ...] = (8, 32),
                 dims: int = 16, block_params: dict | None = None, n_init: int = 3, random_state: int = 0):
        self.blocks = blocks
        self.levels = levels
        self.dims = dims
        self.block_params = block_params if block_params is not None else {}
        self.n_init = n_init
        self.random_state = random_state

    def _check(self) -> list[int]:
        check_int("dims", self.dims, 1)
        check_int("n_init", self.n_init, 1)
        if not self.levels:
            raise ValueError("clusters: `levels` must list at least one number of clusters")
        for k in self.levels:
            check_int("levels[]", k, 2)
        return sorted(set(int(k) for k in self.levels))

    def _fit_block(self, Z: np.ndarray, levels: list[int]) -> dict:
        from sklearn.cluster import AgglomerativeClustering, KMeans

        ok = np.isfinite(Z).all(axis=1)
        U = np.unique(Z[ok].astype(np.float64), axis=0)  # sorted distinct rows: order-free and deduplicated
        if len(U) < 2:
            return {}
        kmax = min(levels[-1], len(U))
        km = KMeans(n_clusters=kmax, n_init=int(self.n_init), random_state=int(self.random_state)).fit(U)
        # Ids in a canonical order (centroids sorted), so the same partition always gets the same ids.
        order = np.lexsort(km.cluster_centers_.T[::-1])
        C = km.cluster_centers_[order]
        rank = np.empty(kmax, dtype=np.int64)
        rank[order] = np.arange(kmax)
        sizes = np.bincount(rank[km.labels_], minlength=kmax).astype(float)
        maps = {}
        for k in levels:
            kk = min(k, kmax)
            if kk == kmax:
                fine_to_coarse = np.arange(kmax)
            else:
                raw = AgglomerativeClustering(n_clusters=kk, linkage="ward").fit(C).labels_
                # Coarse ids numbered by their first fine cluster, for the same reason.
                _, first = np.unique(raw, return_index=True)
                relabel = np.empty(kk, dtype=np.int64)
                relabel[raw[np.sort(first)]] = np.arange(kk)
                fine_to_coarse = relabel[raw]
            w = np.zeros((kk, C.shape[1]))
            np.add.at(w, fine_to_coarse, C * sizes[:, None])
            tot = np.bincount(fine_to_coarse, weights=sizes, minlength=kk)
            maps[k] = (fine_to_coarse, w / np.maximum(tot, 1e-12)[:, None])
        return {"fine": C, "maps": maps}

    def cache_identity(self) -> str | None:
        return "|".join(f"{b}={_block_generator(b, self.dims, self.block_params).cache_identity()}"
                        for b in self.blocks)

    def _fit(self, X: pd.DataFrame, y: pd.Series | None) -> None:
        self._fit_with(X)

    def _fit_with(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        levels = self._check()
        self.generators_, self.models_, Zs = {}, {}, {}
        computed = cached = 0
        for b in self.blocks:
            gen = _block_generator(b, self.dims, self.block_params)
            Z = gen.use_rows(self.rows).fit_transform(X).to_numpy(dtype=np.float64)
            computed += getattr(gen, "rows_computed_", 0)
            cached += getattr(gen, "rows_cached_", 0)
            self.generators_[b], self.models_[b], Zs[b] = gen, self._fit_block(Z, levels), Z
        self.rows_computed_, self.rows_cached_ = computed, cached
        return Zs

    def _out(self, X: pd.DataFrame, Zs: dict[str, np.ndarray]) -> pd.DataFrame:
        cols: dict[str, object] = {}
        for b in self.blocks:
            Z, model = Zs[b], self.models_[b]
            ok = np.isfinite(Z).all(axis=1)
            fine = np.full(len(Z), -1)
            if model and ok.any():
                fine[ok] = nearest(Z[ok], model["fine"])
            for k in sorted(set(int(v) for v in self.levels)):
                dtype = pd.CategoricalDtype(pd.Index([str(i) for i in range(k)]), ordered=False)
                ids = np.full(len(Z), -1)
                dist = np.full(len(Z), np.nan, dtype=np.float32)
                if model and ok.any():
                    f2c, cent = model["maps"][k]
                    ids[ok] = f2c[fine[ok]]
                    dist[ok] = np.sqrt(((Z[ok] - cent[ids[ok]]) ** 2).sum(axis=1))
                cols[f"{b}_k{k}"] = pd.Categorical.from_codes(ids, dtype=dtype)
                cols[f"{b}_k{k}_dist"] = dist
        return pd.DataFrame({f"{self.name}__{c}": v for c, v in cols.items()}, index=X.index)

    def _transform(self, X: pd.DataFrame) -> pd.DataFrame:
        Zs, computed, cached = {}, 0, 0
        for b in self.blocks:
            gen = self.generators_[b]
            Zs[b] = gen.use_rows(self.rows).transform(X).to_numpy(dtype=np.float64)
            computed += getattr(gen, "rows_computed_", 0)
            cached += getattr(gen, "rows_cached_", 0)
        self.rows_computed_, self.rows_cached_ = computed, cached
        return self._out(X, Zs)

    def fit_transform(self, frame: pd.DataFrame, y: pd.Series | None = None) -> pd.DataFrame:
        X = self._select(frame)
        Zs = self._fit_with(X)
        self.fitted_ = True
        return self._check_output(X, self._out(X, Zs))
