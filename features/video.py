"""Video content [visual] (SMP-Video; MVP's X-CLIP frames, the 2026 teams' ViT / CLIP frames and Whisper speech).

The video file is the PostFrame's `image_path` (the SMP-Video loader puts each post's `video_path` there, relative to
the data folder; `smp run` makes it absolute); a relative path left in the frame is taken relative to `video_root`.
Rows are cached per row by the sha256 of the video file's bytes (read in blocks, never the whole file at once), so a
moved data folder keeps every cached row. A missing or undecodable file gives one warning and missing values.

- `video_frames`: `frames` frames sampled evenly over the video with OpenCV, embedded by an image encoder (the
  shipped EfficientNet-Lite0, or a CLIP model by id or folder) and pooled over time: the mean, the maximum and the
  last-minus-first difference (`pool`), concatenated and PCA-reduced (`n_components`).
- `speech`: the audio track (decoded with PyAV, 16 kHz mono) written down by a Whisper model (id or folder); the
  transcript is a text that the text generators named in `text` read (see `_textsource.py`); `speech__words`
  counts its words (0 for a silent video or one without an audio track).
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._base import register
from ._common import check_int
from .embedding.generator import EmbeddingGenerator
from .embedding.backends import encode_efficientnet, resolve_image_backend
from .embedding.encoders import EFFICIENTNET, l2_normalise, load_clip, model_identity, require, resolve_device
from .embedding.media_files import read_files, resolve_paths, warn_images
from ._textsource import TextSource, warn_cpu_cost

POOLS = ("mean", "max", "diff")
SAMPLE_RATE = 16000  # Whisper's input rate
WHISPER_BASE = "openai/whisper-base"


def file_digests(paths: list[str | None], who: str) -> list[bytes | None]:
    """The sha256 of each file's bytes, read in 1 MB blocks (None, with one warning, where a file is unreadable)."""
    return read_files(paths, who, _digest, kind="video")


def _digest(path: Path) -> bytes:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(functools.partial(f.read, 1 << 20), b""):
            h.update(block)
    return h.digest()


def sample_frames(path: str, k: int) -> list:
    """`k` frames (PIL RGB) at evenly spaced positions from the first frame to the last; [] if none decodes."""
    cv2 = require("cv2", "opencv-python-headless")
    from PIL import Image

    cap = cv2.VideoCapture(path)
    try:
        if not cap.isOpened():
            return []
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        frames = []
        if n > 0:
            for i in np.unique(np.linspace(0, n - 1, k).round().astype(int)):
                cap.set(cv2.CAP_PROP_POS_FRAMES, int(i))
                ok, img = cap.read()
                if ok:
                    frames.append(img)
        if not frames:  # no frame count (some containers) or seeking failed: read through, then pick
            cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            every = []
            while True:
                ok, img = cap.read()
                if not ok:
                    break
                every.append(img)
            picks = np.unique(np.linspace(0, len(every) - 1, k).round().astype(int)) if every else []
            frames = [every[i] for i in picks]
        return [Image.fromarray(cv2.cvtColor(f, cv2.COLOR_BGR2RGB)) for f in frames]
    finally:
        cap.release()


class _VideoInputs:
    """Shared `_contents` of video generators: content = the digest of the file's bytes, payload = the paths."""

    def _video_inputs(self, X: pd.DataFrame):
        paths = resolve_paths(X["image_path"].to_numpy(dtype=object), self.video_root)
        return file_digests(paths, self.name), paths


@register
class VideoFrames(_VideoInputs, EmbeddingGenerator):
    """Frame embeddings pooled over each video (mean, max, last-first difference); see the module docstring.

    `encoder`: "efficientnet-lite0" (shipped; `resolution` px, `backend` as for `image_encoder`) or a CLIP model (a
    sentence-transformers id such as `clip-ViT-B-32`, or a folder). Columns `video_frames__{i}` after the PCA
    (`n_components`; None keeps the pooled block: 3 x 1280 columns for EfficientNet).
    """

    name = "video_frames"
    group = "visual"
    requires = ("image_path",)

    def __init__(self, *, frames: int = 8, encoder: str = EFFICIENTNET, pool: tuple[str, ...] = POOLS,
                 resolution: int = 224, n_components: int | None = 32, video_root: str | None = None,
                 backend: str = "auto", device: str = "auto", batch_size: int = 32, random_state: int = 0):
        self.frames = frames
        self.encoder = encoder
        self.pool = pool
        self.resolution = resolution
        self.n_components = n_components
        self.video_root = video_root
        self.backend = backend
        self.device = device
        self.batch_size = batch_size
        self.random_state = random_state

    def _pools(self) -> list[str]:
        pools = [self.pool] if isinstance(self.pool, str) else list(self.pool)
        bad = [p for p in pools if p not in POOLS]
        if bad or not pools:
            raise ValueError(f"video_frames: pool must be a non-empty subset of {POOLS}, got {pools!r}")
        return pools

    def _check_params(self) -> None:
        super()._check_params()
        check_int("frames", self.frames, 1)
        check_int("resolution", self.resolution, 16)

    def _backend(self) -> str:
        return getattr(self, "backend_", None) or resolve_image_backend(self.backend, resolve_device(self.device))

    def _pin(self) -> None:
        if self.encoder == EFFICIENTNET:
            self.backend_ = resolve_image_backend(self.backend, resolve_device(self.device))

    def _model_key(self) -> str:
        self._check_params()
        if self.encoder == EFFICIENTNET:
            enc = f"{EFFICIENTNET}:imagenet:{int(self.resolution)}px:{self._backend()}"
        else:
            enc = f"clip_image:{model_identity(self.encoder)}"
        return f"video_frames:{enc}:frames={int(self.frames)}:pool={','.join(self._pools())}"

    def _inputs(self, X: pd.DataFrame):
        return self._video_inputs(X)

    def _embed_images(self, images: list) -> np.ndarray:
        if self.encoder == EFFICIENTNET:
            return encode_efficientnet(images, resolution=int(self.resolution), device=self.device,
                                       batch_size=int(self.batch_size), backend=self._backend(),
                                       models=self.rows.models)
        clip = load_clip(self.encoder, resolve_device(self.device))
        return l2_normalise(clip.encode_images(images, int(self.batch_size)))

    def _encode(self, paths, positions):
        clips = [sample_frames(paths[i], int(self.frames)) for i in positions]
        bad = [paths[i] for i, c in zip(positions, clips) if not c]
        if bad:
            warn_images(self.name, bad, "not decodable as videos", kind="video")
        flat = [im for c in clips for im in c]
        F = self._embed_images(flat) if flat else None
        d = F.shape[1] if F is not None else self._frame_dim()
        out = np.full((len(positions), d * len(self._pools())), np.nan, dtype=np.float32)
        at = 0
        for j, c in enumerate(clips):
            if not c:
                continue
            V = F[at : at + len(c)]
            at += len(c)
            parts = {"mean": V.mean(axis=0), "max": V.max(axis=0), "diff": V[-1] - V[0]}
            out[j] = np.concatenate([parts[p] for p in self._pools()])
        return out

    def _frame_dim(self) -> int:
        if self.encoder == EFFICIENTNET:
            return 1280
        from PIL import Image

        return int(self._embed_images([Image.new("RGB", (32, 32))]).shape[1])

    def _probe_dim(self) -> int:
        return self._frame_dim() * len(self._pools())


# ---------------------------------------------------------------------------------------------------- speech
def decode_audio(path: str, max_seconds: float) -> np.ndarray | None:
    """The first `max_seconds` of a file's first audio track as 16 kHz mono float32 (PyAV); an empty array for a
    file without audio, None for one that cannot be opened."""
    av = require("av", "av")
    try:
        container = av.open(path)
    except Exception:
        return None
    try:
        if not container.streams.audio:
            return np.zeros(0, dtype=np.float32)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        limit = int(max_seconds * SAMPLE_RATE)
        parts, total = [], 0
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                parts.append(out.to_ndarray().reshape(-1))
                total += parts[-1].size
            if total >= limit:
                break
        for out in resampler.resample(None):  # what the resampler still holds
            parts.append(out.to_ndarray().reshape(-1))
        audio = np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, dtype=np.float32)
        return audio[:limit]
    except Exception:
        return None
    finally:
        container.close()


@functools.lru_cache(maxsize=2)
def load_whisper(model: str, device: str) -> tuple[Any, Any]:
    """(model, processor) of a Whisper speech recogniser by local folder or hub id (local hub cache first)."""
    transformers = require("transformers", "transformers")
    torch = require("torch", "torch")

    def load(local: bool):
        dtype = torch.float16 if device.startswith("cuda") else torch.float32
        net = transformers.WhisperForConditionalGeneration.from_pretrained(model, local_files_only=local, dtype=dtype)
        processor = transformers.WhisperProcessor.from_pretrained(model, local_files_only=local)
        return net.to(device).eval(), processor

    try:
        return load(True)
    except Exception as local_error:
        if Path(model).exists():
            raise ValueError(f"cannot load the Whisper model folder {model!r}: {local_error}") from local_error
        try:
            return load(False)
        except Exception as e:
            raise ValueError(f"Whisper model {model!r} is neither a local folder nor a cached or downloadable model "
                             f"id ({e}); pass a local Whisper folder") from e


def transcribe(model: str, clips: list[np.ndarray], *, device: str, batch_size: int, language: str | None,
               max_new_tokens: int) -> list[str]:
    """Whisper's transcript of each 16 kHz mono clip (at most 30 s each: Whisper's window)."""
    import torch

    net, processor = load_whisper(model, device)
    out: list[str] = []
    for lo in range(0, len(clips), batch_size):
        feats = processor.feature_extractor(clips[lo : lo + batch_size], sampling_rate=SAMPLE_RATE,
                                            return_tensors="pt").input_features.to(device, net.dtype)
        kwargs = {"language": language, "task": "transcribe"} if language else {}
        with torch.inference_mode():
            ids = net.generate(feats, max_new_tokens=int(max_new_tokens), **kwargs)
        out += [t.strip() for t in processor.batch_decode(ids, skip_special_tokens=True)]
    return out


@register
class Speech(_VideoInputs, TextSource):
    """Whisper transcripts of each video's audio, read by text generators; see the module docstring.

    `model`: a Whisper hub id (default whisper-base, where the hub is reachable) or folder. `language`: None lets
    Whisper detect it (SMP-Video is multilingual); a code such as "en" fixes it. `text`: text generator name ->
    parameters (default the `sentence` embedding, 16 PCA components). Videos without an audio track, or quieter
    than `silence_db` throughout, get an empty transcript without running the model.
    """

    name = "speech"
    group = "visual"
    version = 1
    requires = ("image_path",)

    def __init__(self, *, model: str = WHISPER_BASE, text: dict | None = None, language: str | None = None,
                 max_seconds: float = 30.0, silence_db: float = -50.0, max_new_tokens: int = 96,
                 video_root: str | None = None, device: str = "auto", batch_size: int = 8):
        self.model = model
        self.text = text if text is not None else {"sentence": {"n_components": 16}}
        self.language = language
        self.max_seconds = max_seconds
        self.silence_db = silence_db
        self.max_new_tokens = max_new_tokens
        self.video_root = video_root
        self.device = device
        self.batch_size = batch_size

    def _check(self) -> None:
        check_int("max_new_tokens", self.max_new_tokens, 1)
        if not isinstance(self.max_seconds, (int, float)) or not 0 < float(self.max_seconds) <= 30:
            raise ValueError(f"speech: `0 < max_seconds <= 30` must hold (Whisper hears 30 s at a time), but got "
                             f"max_seconds={self.max_seconds!r}")

    def _text_key(self) -> str:
        self._check()
        return (f"speech:{model_identity(self.model)}:language={self.language}:max_seconds={float(self.max_seconds)}"
                f":silence_db={float(self.silence_db)}:max_new_tokens={int(self.max_new_tokens)}")

    def _contents(self, X: pd.DataFrame):
        return self._video_inputs(X)

    def _costly(self, misses: int) -> None:
        warn_cpu_cost(self.name, misses, 2.0, resolve_device(self.device))

    def _write(self, paths, positions):
        clips = [decode_audio(paths[i], float(self.max_seconds)) for i in positions]
        bad = [paths[i] for i, c in zip(positions, clips) if c is None]
        if bad:
            warn_images(self.name, bad, "not decodable", kind="video")
        out: list[str | None] = [None if c is None else "" for c in clips]
        heard = [j for j, c in enumerate(clips) if c is not None and _loud(c, float(self.silence_db))]
        if heard:
            texts = transcribe(self.model, [clips[j] for j in heard], device=resolve_device(self.device),
                               batch_size=self._batch(), language=self.language,
                               max_new_tokens=int(self.max_new_tokens))
            for j, t in zip(heard, texts):
                out[j] = t
        return out


def _loud(clip: np.ndarray, silence_db: float) -> bool:
    """Whether any 100 ms window of the clip is louder than `silence_db` (RMS, dB relative to full scale)."""
    if clip.size == 0:
        return False
    n = SAMPLE_RATE // 10
    windows = clip[: clip.size // n * n].reshape(-1, n) if clip.size >= n else clip[None, :]
    rms = np.sqrt((windows.astype(np.float64) ** 2).mean(axis=1))
    return bool((20 * np.log10(np.maximum(rms, 1e-12)) > silence_db).any())
