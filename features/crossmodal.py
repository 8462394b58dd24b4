"""Cross-modal and text-consistency similarities [crossmodal].

- `clip_cos` (with `clip_model` set): cosine of the CLIP image and text embeddings of a post, the aligned
  vision-language signal of HVLA.
- `aligned_cos`: without CLIP, the image (EfficientNet-Lite0) and text (sentence) embeddings live in unrelated
  spaces, so each is PCA-reduced and a CCA (or PLS) is fitted between them; the cosine is taken in the shared space.
  The alignment is unsupervised (no label) and fitted on the TRAINING rows only (`split == "train"`, both embeddings
  present), so a test post's own pair never shapes the space it is scored in; test rows and new posts are projected.
- `title_tags_cos` (with `title_tags`): cosine of the sentence embeddings of the title alone and of the tags alone
  (two more sentence encodings per post, so CPU-bound configs may switch it off).
- `user_history_cos`: cosine of the post's text embedding and the mean embedding of the same user's OTHER posts in
  the frame (leave-one-out, never a label); NaN for a user's only post. `user_history_n` counts those posts.

All embeddings go through the per-row cache, so running this next to `sentence` / `image_encoder` with the same
model settings embeds nothing twice. `text_encoder = "static_embedding"` takes the text side from the model2vec
static embedding instead of `sentence` (what a CPU-budget config with a `static_embedding` block wants).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._base import FeatureGenerator, register
from ._common import check_int, codes, param_requires
from .embedding.pca import CHUNK_ROWS, finite_rows, fit_pca, pca_transform, row_order
from .embedding.encoders import MINILM
from .embeddings import ClipText, SentenceEmbedding, StaticEmbedding
from .image import ClipImage, ImageEncoder


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine (NaN where either row is missing or zero)."""
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (a * b).sum(axis=1) / (na * nb)
    out[~((na > 0) & (nb > 0))] = np.nan
    return out.astype(np.float32)


@register
class CrossModal(FeatureGenerator):
    """Image-text (CLIP or CCA/PLS-aligned), title-tags and post-vs-user-history similarities; see the module doc."""

    name = "crossmodal"
    # 2: PCA by the covariance eigendecomposition (`fit_pca`); 3: float32 blocks, PCA over row chunks; 4: the user's
    # post count on the fitted frame's scale (`at_fitted_size`)
    version = 4
    group = "crossmodal"
    requires = param_requires(lambda g: tuple(dict.fromkeys(
        ("user_id", "split", "title", "tags", *g.text_fields, *(("image_path",) if g.image else ())))))

    def __init__(self, *, text_fields: tuple[str, ...] = ("title", "category", "subcategory", "concept", "tags"),
                 text_model: str = MINILM, text_encoder: str = "sentence",
                 image: bool = True, image_resolution: int = 64, image_root: str | None = None,
                 clip_model: str | None = None, method: str = "cca", reduce_dims: int = 32, n_components: int = 8,
                 title_tags: bool = True, device: str = "auto", batch_size: int = 64):
        self.text_fields = text_fields
        self.text_model = text_model
        self.text_encoder = text_encoder
        self.image = image
        self.image_resolution = image_resolution
        self.image_root = image_root
        self.clip_model = clip_model
        self.method = method
        self.reduce_dims = reduce_dims
        self.n_components = n_components
        self.title_tags = title_tags
        self.device = device
        self.batch_size = batch_size

    # ------------------------------------------------------------------------------------------- embeddings
    def _embedders(self) -> dict[str, object]:
        encoders = {"sentence": SentenceEmbedding, "static_embedding": StaticEmbedding}
        if self.text_encoder not in encoders:
            raise ValueError(f"crossmodal: text_encoder must be one of {sorted(encoders)}, got {self.text_encoder!r}")
        enc = encoders[self.text_encoder]
        text = dict(model=self.text_model, n_components=None, device=self.device)
        if enc is SentenceEmbedding:  # the model2vec model's own batch size (1024) suits it better
            text["batch_size"] = self.batch_size
        out = {"text": enc(fields=tuple(self.text_fields), **text)}
        if self.title_tags:  # two more texts per post to embed: the costliest part on CPU
            out["title"] = enc(fields=("title",), **text)
            out["tags"] = enc(fields=("tags",), **text)
        if self.image:
            out["image"] = ImageEncoder(resolution=self.image_resolution, n_components=None,
                                        image_root=self.image_root, device=self.device)
        if self.clip_model:
            out["clip_text"] = ClipText(model=self.clip_model, fields=tuple(self.text_fields), n_components=None,
                                        device=self.device)
            if self.image:
                out["clip_image"] = ClipImage(model=self.clip_model, n_components=None, image_root=self.image_root,
                                              device=self.device)
        return out

    def cache_identity(self) -> str | None:
        return "|".join(f"{k}={g.cache_identity()}" for k, g in self._embedders().items())

    def _embed(self, X: pd.DataFrame, *, fitting: bool = False) -> dict[str, np.ndarray]:
        out, computed, cached = {}, 0, 0
        if fitting:
            self.backends_: dict[str, str] = {}
        for key, gen in self._embedders().items():
            # The embedders' `auto` backends are pinned at fit, as their own fit would pin them (`_pin`).
            if fitting:
                gen._pin()
                if getattr(gen, "backend_", None):
                    self.backends_[key] = gen.backend_
            elif key in getattr(self, "backends_", {}):
                gen.backend_ = self.backends_[key]
            out[key] = gen.use_rows(self.rows).embed(X)
            computed += gen.rows_computed_
            cached += gen.rows_cached_
        self.rows_computed_, self.rows_cached_ = computed, cached
        return out

    # --------------------------------------------------------------------------------------------- fitting
    def _fit_from(self, X: pd.DataFrame, E: dict[str, np.ndarray]) -> None:
        if self.method not in ("cca", "pls"):
            raise ValueError(f"crossmodal: method must be 'cca' or 'pls', got {self.method!r}")
        check_int("reduce_dims", self.reduce_dims, 1)
        check_int("n_components", self.n_components, 1)
        self.align_ = None
        if "image" not in E:
            return
        from sklearn.cross_decomposition import CCA, PLSCanonical

        train = X["split"].eq("train").to_numpy()
        ok = train & finite_rows(E["image"]) & finite_rows(E["text"])
        # The float32 blocks as embedded, rows picked by mask (a 1,280-wide image block is 1.6 GB at 305k rows):
        # no copies of them when the PCA is the chunked covariance one (`fit_pca` on tall blocks).
        A, B, n = E["image"], E["text"], int(ok.sum())
        d = min(int(self.reduce_dims), A.shape[1], B.shape[1], max(n - 1, 0))
        k = min(int(self.n_components), d)
        if k < 1 or n < 3:
            return
        pa, pb = fit_pca(A, d, rows=ok), fit_pca(B, d, rows=ok)  # each order-free
        Z = np.hstack([pca_transform(pa, A, ok), pca_transform(pb, B, ok)])
        Z = Z[row_order(Z)]  # row order must not change the fitted space
        cls = CCA if self.method == "cca" else PLSCanonical
        model = cls(n_components=k, max_iter=1000).fit(Z[:, :d], Z[:, d:])
        self.align_ = (pa, pb, model)

    def _out(self, X: pd.DataFrame, E: dict[str, np.ndarray]) -> pd.DataFrame:
        n = len(X)
        cols: dict[str, np.ndarray] = {}
        if "clip_text" in E and "clip_image" in E:
            cols["clip_cos"] = cosine(E["clip_image"], E["clip_text"])
        if self.image:
            aligned = np.full(n, np.nan, dtype=np.float32)
            A, B = E["image"], E["text"]
            ok = finite_rows(A) & finite_rows(B)
            if self.align_ is not None and ok.any():
                pa, pb, model = self.align_
                u, v = model.transform(pca_transform(pa, A, ok), pca_transform(pb, B, ok))
                aligned[ok] = cosine(u, v)
            cols["aligned_cos"] = aligned
        if self.title_tags:
            cols["title_tags_cos"] = cosine(E["title"], E["tags"])
        T = E["text"]
        have = finite_rows(T)
        g, k = codes(X["user_id"])
        S = np.zeros((k, T.shape[1]))
        np.add.at(S, g[have], T[have].astype(np.float64))
        cnt = np.bincount(g[have], minlength=k).astype(float)
        others = self.at_fitted_size(cnt[g], X) - have
        hist = np.empty(n, dtype=np.float32)
        for lo in range(0, n, CHUNK_ROWS):  # float64 rows a chunk at a time (the text block can be large)
            c = slice(lo, lo + CHUNK_ROWS)
            Tc, hc = T[c].astype(np.float64), have[c][:, None]
            with np.errstate(invalid="ignore", divide="ignore"):
                loo = (S[g[c]] - np.where(hc, Tc, 0.0)) / others[c][:, None]
            hist[c] = cosine(np.where(hc, Tc, np.nan), loo)
        hist[others < 1] = np.nan
        cols["user_history_cos"] = hist
        cols["user_history_n"] = others.astype(np.float32)
        return pd.DataFrame({f"{self.name}__{c}": v for c, v in cols.items()}, index=X.index)

    # ------------------------------------------------------------------------------------------------ API
    def _fit(self, X: pd.DataFrame, y: pd.Series | None) -> None:
        self._fit_from(X, self._embed(X, fitting=True))

    def _transform(self, X: pd.DataFrame) -> pd.DataFrame:
        return self._out(X, self._embed(X))

    def fit_transform(self, frame: pd.DataFrame, y: pd.Series | None = None) -> pd.DataFrame:
        X = self._select(frame)
        E = self._embed(X, fitting=True)
        self._fit_from(X, E)
        self.fit_rows_ = len(X)
        self.fitted_ = True
        return self._check_output(X, self._out(X, E))
