"""Static (model2vec) text embeddings: one vector per vocabulary token, a text's vector the mean of its tokens'.

model2vec distils a sentence model into a token table: every vocabulary token is passed through the model alone,
pooled as the model pools, reduced by PCA and weighted by a Zipf/SIF estimate of its frequency. Encoding a text is
then a tokenisation and a table lookup, thousands of times cheaper than running MiniLM over it on a CPU.

Distillation reads only local folders (the shipped MiniLM or any sentence-transformers folder; nothing is
downloaded) and its result is cached as a model2vec folder under ``<cache_dir>/models`` (`model_folders.py`), so it
runs once per source model and parameters. A model2vec folder given by path is loaded as it is.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Sequence

import numpy as np

from .encoders import is_model2vec_folder, l2_normalise, model_identity, require, resolve_device, sentence_folder
from .model_folders import cached_model_dir

SIF_COEFFICIENT = 1e-4  # model2vec's default token weighting
# sentence-transformers pooling modes that model2vec's distillation can reproduce, in its own names.
_POOLING = {"mean": "mean", "cls": "first", "lasttoken": "last"}


def model2vec_identity(model: str, dims: int | None) -> str:
    """What the model2vec vectors depend on: the model2vec folder, or the distilled source, its parameters and
    versions."""
    if is_model2vec_folder(model):
        return f"model2vec:{model_identity(model)}"
    m2v = require("model2vec", "model2vec")
    return f"model2vec-distill:{model_identity(model)}:dims={dims}:sif={SIF_COEFFICIENT}:model2vec={m2v.__version__}"


def distill_folder(model: str, out: Path, *, dims: int | None, device: str) -> None:
    """Distil the local sentence model `model` into a model2vec folder `out` (a forward pass per vocabulary token)."""
    distill = require("model2vec.distill", "model2vec")
    transformers = require("transformers", "transformers")
    folder = sentence_folder(model, poolings=tuple(_POOLING), use="model2vec distillation")
    path = str(folder.transformer)
    net = transformers.AutoModel.from_pretrained(path, local_files_only=True)
    tokenizer = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True, use_fast=True)
    distilled = distill.distill_from_model(net, tokenizer, device=resolve_device(device), pca_dims=dims,
                                           sif_coefficient=SIF_COEFFICIENT, quantize_to="float32",
                                           pooling=_POOLING[folder.pooling])
    distilled.save_pretrained(out)


def model2vec_dir(model: str, *, dims: int | None, device: str, models: Path | None) -> Path:
    """The model2vec folder for `model`: itself when it is one, else its distillation (built once into `models`,
    the run's model cache folder, then reused)."""
    if is_model2vec_folder(model):
        return Path(model)
    return cached_model_dir("model2vec", model2vec_identity(model, dims),
                            lambda out: distill_folder(model, out, dims=dims, device=device), models)


@functools.lru_cache(maxsize=4)
def _load(folder: str, identity: str):
    m2v = require("model2vec", "model2vec")
    return m2v.StaticModel.from_pretrained(folder)


def load_model2vec(model: str, *, dims: int | None, device: str, models: Path | None):
    """A model2vec `StaticModel` for `model` (distilled and cached on first use), loaded once per process."""
    folder = model2vec_dir(model, dims=dims, device=device, models=models)
    return _load(str(folder), model2vec_identity(model, dims))


def encode_model2vec(model: str, texts: Sequence[str], *, dims: int | None, device: str, batch_size: int,
                  models: Path | None) -> np.ndarray:
    """L2-normalised model2vec embeddings (float32, rows x dim); a text with no known token gets a zero vector."""
    m2v_model = load_model2vec(model, dims=dims, device=device, models=models)
    # One process: model2vec's own multiprocessing would start workers on machines already busy with folds.
    E = m2v_model.encode(list(texts), batch_size=int(batch_size), show_progress_bar=False, use_multiprocessing=False)
    return l2_normalise(np.asarray(E, dtype=np.float32).reshape(len(texts), -1))
