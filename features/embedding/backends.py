"""Which engine runs an encoder: PyTorch (`encoders.py`) or ONNX Runtime (`onnx_encoders.py`), chosen per device.

`auto` picks what was measured fastest at equal CV score on each device (on 2 shared CPU cores):

- sentence models: ONNX Runtime with int8 weights for the shipped MiniLM on a CPU, at the model's own truncation
  length (2.3x PyTorch in one session, 3.3-4.3x in three runs of another, 2.75x on an AVX2-only machine with its
  one-text calls side by side; CV SRC of the video text config over seeds 0, 1: 0.7381 against PyTorch's 0.7368;
  truncating to 128 tokens costs 0.0036 and is not the default);
  PyTorch on a GPU and for every other model (not measured here, and a model need not export);
- EfficientNet-Lite0: ONNX Runtime on a CPU (fused convolutions: 3-5x PyTorch eager, features equal to 1e-5);
  PyTorch on a GPU.

The backend is part of an embedding generator's row-cache key: vectors of different backends are never mixed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from .encoders import MINILM, efficientnet_batch, encode_efficientnet_torch, encode_sentences_torch, resolve_device
from .onnx_encoders import efficientnet_onnx, load_onnx_encoder

SENTENCE_BACKENDS = ("auto", "torch", "onnx", "onnx-int8")
IMAGE_BACKENDS = ("auto", "torch", "onnx")


def resolve_backend(backend: str, model: str, device: str) -> str:
    """The concrete sentence backend for `model` on `device` (a resolved device name: "cpu", "cuda", ...)."""
    if backend not in SENTENCE_BACKENDS:
        raise ValueError(f"sentence backend must be one of {SENTENCE_BACKENDS}, got {backend!r}")
    if backend == "auto":
        return "onnx-int8" if model == MINILM and not device.startswith("cuda") else "torch"
    return backend


def resolve_image_backend(backend: str, device: str) -> str:
    """The concrete EfficientNet backend on `device`."""
    if backend not in IMAGE_BACKENDS:
        raise ValueError(f"image backend must be one of {IMAGE_BACKENDS}, got {backend!r}")
    if backend == "auto":
        return "torch" if device.startswith("cuda") else "onnx"
    return backend


def encode_sentences(model: str, texts: Sequence[str], *, device: str, batch_size: int, backend: str = "torch",
                     max_seq_length: int | None = None, models: Path | None = None, prompt: str = "") -> np.ndarray:
    """L2-normalised sentence embeddings (float32, rows x dim) on the resolved backend, truncated at
    `max_seq_length` tokens (None: the model's own limit), each text led by `prompt`; ONNX exports are cached in
    `models`."""
    dev = resolve_device(device)
    kind = resolve_backend(backend, model, dev)
    if kind == "torch":
        return encode_sentences_torch(model, texts, device=dev, batch_size=batch_size, max_seq_length=max_seq_length,
                                      prompt=prompt)
    enc = load_onnx_encoder(model, int8=kind == "onnx-int8", device=dev, models=models)
    return enc.encode([prompt + t for t in texts], batch_size=int(batch_size), max_seq_length=max_seq_length)


def encode_efficientnet(images: list, *, resolution: int, device: str, batch_size: int, backend: str = "torch",
                        models: Path | None = None) -> np.ndarray:
    """1280-d globally average-pooled EfficientNet-Lite0 features of PIL images resized to `resolution`."""
    dev = resolve_device(device)
    if resolve_image_backend(backend, dev) == "torch":
        return encode_efficientnet_torch(images, resolution=resolution, device=dev, batch_size=batch_size)
    session = efficientnet_onnx(dev, models)
    parts = []
    for lo in range(0, len(images), batch_size):
        x = np.ascontiguousarray(efficientnet_batch(images[lo : lo + batch_size], resolution).transpose(0, 3, 1, 2))
        parts.append(session.run(None, {"images": x})[0])
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros((0, 1280), np.float32)
