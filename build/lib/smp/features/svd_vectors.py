"""SVD user and location vectors (HyperFusion, MM '25): entity x tag TF-IDF matrices reduced by truncated SVD.

Fit learns the token vocabulary (tokens used by at least `min_df` entities), the IDF weights and the SVD basis.
`transform` rebuilds the entity x token matrix over the frame it gets (so a user's new posts move the user's
vector) and projects it onto the fitted basis; every post receives its entity's vector.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfTransformer

from ._base import FeatureGenerator, register
from ._common import (
    check_int,
    clean_category,
    codes,
    fit_svd,
    frame_of,
    param_requires,
    project_svd,
    tag_table,
)
from .time_geo import grid_cells


def post_tokens(X: pd.DataFrame, category_columns: tuple[str, ...] = ()) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(post position, token code, token names) for the tags of each post plus `column=value` category tokens."""
    tt = tag_table(X["tags"])
    posts, toks, names = [tt.post], [tt.tag], [tt.vocab.to_numpy(dtype=object)]
    offset = len(tt.vocab)
    for col in category_columns:
        vc, uniques = pd.factorize(clean_category(X[col]))
        ok = vc >= 0
        posts.append(np.flatnonzero(ok))
        toks.append(vc[ok].astype(np.int64) + offset)
        # A control character keeps category tokens apart from any tag spelled the same.
        names.append(np.array([f"\x00{col}={u}" for u in uniques], dtype=object))
        offset += len(uniques)
    return np.concatenate(posts), np.concatenate(toks), np.concatenate(names)


class _EntityTagSvd(FeatureGenerator):
    """Shared fit / transform of an entity x token matrix; subclasses say what the entity of a post is."""

    def _entities(self, X: pd.DataFrame) -> tuple[np.ndarray, int]:
        """An entity code per post (-1: none) and the number of entities."""
        raise NotImplementedError

    def _tokens(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return post_tokens(X)

    def _matrix(self, X: pd.DataFrame, vocab: pd.Index | None) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
        ent, n_ent = self._entities(X)
        post, tok, names = self._tokens(X)
        if vocab is not None:  # map this frame's tokens onto the fitted vocabulary; unknown tokens drop out
            tok = vocab.get_indexer(names)[tok] if len(names) else tok
            names = vocab.to_numpy(dtype=object)
        rows = ent[post]
        ok = (rows >= 0) & (tok >= 0)
        M = sp.csr_matrix((np.ones(int(ok.sum())), (rows[ok], tok[ok])), shape=(n_ent, len(names)), dtype=np.float64)
        return M, ent, names

    def _fit(self, X: pd.DataFrame, y: pd.Series | None) -> None:
        check_int("n_components", self.n_components, 1)
        check_int("min_df", self.min_df, 1)
        if self.max_features is not None:
            check_int("max_features", self.max_features, 1)
        M, _, names = self._matrix(X, None)
        df = np.diff(M.tocsc().indptr)  # entities using each token
        keep = np.flatnonzero(df >= self.min_df)
        if self.max_features is not None and len(keep) > self.max_features:
            keep = keep[np.lexsort((keep, -df[keep]))[: self.max_features]]
            keep.sort()
        self.vocab_ = pd.Index(names[keep], dtype=object)
        Mk = M[:, keep]
        if Mk.shape[0] and Mk.shape[1]:
            self.tfidf_ = TfidfTransformer(sublinear_tf=True).fit(Mk)
            self.svd_ = fit_svd(self.tfidf_.transform(Mk), self.n_components, self.random_state)
        else:  # no entity or no token to learn from: every vector is 0 (NaN without an entity)
            self.tfidf_, self.svd_ = None, None

    def _transform(self, X: pd.DataFrame) -> pd.DataFrame:
        M, ent, _ = self._matrix(X, self.vocab_)
        W = self.tfidf_.transform(M) if self.tfidf_ is not None and M.shape[0] else M
        vectors = project_svd(self.svd_, W, self.n_components)
        Z = np.full((len(X), int(self.n_components)), np.nan, dtype=np.float32)
        has = ent >= 0
        Z[has] = vectors[ent[has]]
        return frame_of(X.index, self.name, {str(i): Z[:, i] for i in range(Z.shape[1])})


@register
class UserSvd(_EntityTagSvd):
    """A user vector per post: SVD of the user x tag TF-IDF matrix (tags pooled over the user's posts).

    `category_columns` adds `column=value` tokens (e.g. the user's categories) to the user's document.
    """

    name = "user_svd"
    group = "user"
    requires = param_requires(lambda g: ("user_id", "tags", *g.category_columns))
    version = 1

    def __init__(
        self,
        *,
        n_components: int = 16,
        min_df: int = 2,
        max_features: int | None = None,
        category_columns: tuple[str, ...] = (),
        random_state: int = 0,
    ) -> None:
        self.n_components = n_components
        self.min_df = min_df
        self.max_features = max_features
        self.category_columns = category_columns
        self.random_state = random_state

    def _entities(self, X: pd.DataFrame) -> tuple[np.ndarray, int]:
        return codes(X["user_id"])

    def _tokens(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return post_tokens(X, tuple(self.category_columns))


@register
class LocationSvd(_EntityTagSvd):
    """A location vector per post: SVD of the location x tag TF-IDF matrix.

    A post's location is its `location` string when it has one, else its `cell_deg` grid cell; posts with neither
    get NaN.
    """

    name = "location_svd"
    group = "geo"
    requires = ("latitude", "longitude", "location", "tags")
    version = 1

    def __init__(
        self,
        *,
        cell_deg: float = 1.0,
        n_components: int = 16,
        min_df: int = 2,
        max_features: int | None = None,
        random_state: int = 0,
    ) -> None:
        self.cell_deg = cell_deg
        self.n_components = n_components
        self.min_df = min_df
        self.max_features = max_features
        self.random_state = random_state

    def _fit(self, X: pd.DataFrame, y: pd.Series | None) -> None:
        if not (isinstance(self.cell_deg, (int, float)) and self.cell_deg > 0):
            raise ValueError(f"`cell_deg > 0` must hold, but got cell_deg={self.cell_deg!r}")
        super()._fit(X, y)

    def _entities(self, X: pd.DataFrame) -> tuple[np.ndarray, int]:
        loc = clean_category(X["location"])
        has_loc = loc.notna().to_numpy()
        lat = pd.to_numeric(X["latitude"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        lon = pd.to_numeric(X["longitude"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        cell = np.where(has_loc, -1, grid_cells(lat, lon, float(self.cell_deg)))
        ent = np.full(len(X), -1, dtype=np.int64)
        loc_codes, loc_uniques = pd.factorize(loc[has_loc], sort=True)
        ent[has_loc] = loc_codes
        has_cell = cell >= 0
        cell_codes, cell_uniques = pd.factorize(cell[has_cell], sort=True)
        ent[has_cell] = len(loc_uniques) + cell_codes
        return ent, len(loc_uniques) + len(cell_uniques)
