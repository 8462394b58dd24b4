"""Image captions as text [visual] (HVLA; the 2023 NCKU team's BLIP captions and image-text match scores).

`captions`: a vision-language captioning model (BLIP or BLIP-2 through `transformers`, by hub id or local folder)
writes one caption per image; the caption is cached per row by model and image bytes, like every embedding, and the
text generators named in `text` read it (see `_textsource.py`). Columns:

- `captions__words`: the caption's length in words;
- `captions__match` (with `match`): how well the post's own title and tags describe its image, as the captioning
  model sees it: the mean log-probability per token of "title. tags" given the image (higher: a better match);
  cached per row by model, image bytes and text;
- `captions__{generator}_{stat}`: the outputs of each text generator on the captions.

Generation is the costly part: a BLIP-base-sized model takes seconds an image on a few CPU cores (measured: about
10 s for 30 tokens on 2 busy cores), so on a CPU the generator warns with an estimate before it starts; a GPU
(`device = "auto"` finds one) is the intended place.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._base import register
from ._common import check_int
from .embedding.encoders import model_identity, require, resolve_device
from .embedding.media_files import decode_images, read_image_bytes, resolve_paths
from .embedding.row_cache import row_hashes
from ._textsource import TextSource, warn_cpu_cost

BLIP_BASE = "Salesforce/blip-image-captioning-base"


@functools.lru_cache(maxsize=2)
def load_captioner(model: str, device: str) -> tuple[Any, Any]:
    """(model, processor) of a BLIP or BLIP-2 captioner by local folder or hub id (local hub cache first), in eval
    mode on `device` (half precision on a GPU)."""
    transformers = require("transformers", "transformers")
    torch = require("torch", "torch")

    def load(local: bool):
        config = transformers.AutoConfig.from_pretrained(model, local_files_only=local)
        kinds = {"blip": transformers.BlipForConditionalGeneration,
                 "blip-2": transformers.Blip2ForConditionalGeneration}
        if config.model_type not in kinds:
            raise ValueError(f"captioning model {model!r} is a {config.model_type!r} model; captions need a BLIP "
                             f"(blip) or BLIP-2 (blip-2) model")
        dtype = torch.float16 if device.startswith("cuda") else torch.float32
        net = kinds[config.model_type].from_pretrained(model, local_files_only=local, dtype=dtype)
        processor = transformers.AutoProcessor.from_pretrained(model, local_files_only=local)
        return net.to(device).eval(), processor

    try:
        return load(True)
    except ValueError:
        raise
    except Exception as local_error:
        if Path(model).exists():
            raise ValueError(f"cannot load the captioning model folder {model!r}: {local_error}") from local_error
        try:  # a hub id that is not cached: only works where the hub is reachable
            return load(False)
        except Exception as e:
            raise ValueError(f"captioning model {model!r} is neither a local folder nor a cached or downloadable "
                             f"model id ({e}); pass a local BLIP / BLIP-2 folder") from e


def caption_images(model: str, images: list, *, device: str, batch_size: int, prompt: str | None,
                   max_new_tokens: int, num_beams: int) -> list[str]:
    """One caption per PIL image (greedy or beam search), without the prompt it was asked to continue."""
    import torch

    net, processor = load_captioner(model, device)
    out: list[str] = []
    for lo in range(0, len(images), batch_size):
        batch = images[lo : lo + batch_size]
        kwargs = {"text": [prompt] * len(batch)} if prompt else {}
        enc = processor(images=batch, return_tensors="pt", **kwargs).to(device)
        enc["pixel_values"] = enc["pixel_values"].to(net.dtype)
        with torch.inference_mode():
            ids = net.generate(**enc, max_new_tokens=int(max_new_tokens), num_beams=int(num_beams), do_sample=False)
        for text in processor.batch_decode(ids, skip_special_tokens=True):
            text = text.strip()
            if prompt and text.lower().startswith(prompt.strip().lower()):
                text = text[len(prompt.strip()):].strip()
            out.append(text)
    return out


def match_scores(model: str, images: list, texts: list[str], *, device: str, batch_size: int) -> np.ndarray:
    """Mean log-probability per token of each text given its image under the captioning model's decoder."""
    import torch

    net, processor = load_captioner(model, device)
    out = []
    for lo in range(0, len(images), batch_size):
        enc = processor(images=images[lo : lo + batch_size], text=texts[lo : lo + batch_size], return_tensors="pt",
                        padding=True, truncation=True, max_length=64).to(device)
        enc["pixel_values"] = enc["pixel_values"].to(net.dtype)
        ids, mask = enc["input_ids"], enc["attention_mask"]
        bos = getattr(getattr(net.config, "text_config", None), "bos_token_id", None)
        if net.config.model_type == "blip" and bos is not None:
            ids = ids.clone()
            ids[:, 0] = bos  # the decoder starts from its own start token, as in generation
        with torch.inference_mode():
            logits = net(pixel_values=enc["pixel_values"], input_ids=ids, attention_mask=mask).logits
        logits = logits[:, -ids.shape[1]:, :].float()  # BLIP-2 puts its query tokens first
        logp = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:, None])[..., 0]
        m = mask[:, 1:].float()
        out.append(((logp * m).sum(dim=1) / m.sum(dim=1).clamp(min=1)).cpu().numpy())
    return np.concatenate(out).astype(np.float32) if out else np.zeros(0, np.float32)


def post_texts(X: pd.DataFrame) -> list[str]:
    """"title. tag tag" per post: the text the match score compares with the image."""
    titles = X["title"].fillna("").astype(str).to_numpy()
    tags = [" ".join(str(t).lstrip("#") for t in v) if isinstance(v, (list, tuple, np.ndarray)) else ""
            for v in X["tags"].to_numpy(dtype=object)]
    return [". ".join(p for p in (t.strip(), g.strip()) if p) for t, g in zip(titles, tags)]


@register
class Captions(TextSource):
    """BLIP / BLIP-2 captions of each image, read by text generators, and an image-text match score; see the
    module docstring.

    `model`: a hub id (default BLIP-base, where the hub is reachable) or a local folder. `prompt`: text the caption
    continues (BLIP's conditional captioning, e.g. "a photography of"); None: unconditional. `text`: text generator
    name -> parameters (default the `sentence` embedding, 16 PCA components). `device`: "auto" is the GPU where one
    is visible.
    """

    name = "captions"
    group = "visual"
    version = 1
    requires = ("image_path", "title", "tags")

    def __init__(self, *, model: str = BLIP_BASE, text: dict | None = None, match: bool = True,
                 prompt: str | None = None, max_new_tokens: int = 30, num_beams: int = 1,
                 image_root: str | None = None, device: str = "auto", batch_size: int = 16):
        self.model = model
        self.text = text if text is not None else {"sentence": {"n_components": 16}}
        self.match = match
        self.prompt = prompt
        self.max_new_tokens = max_new_tokens
        self.num_beams = num_beams
        self.image_root = image_root
        self.device = device
        self.batch_size = batch_size

    def _text_key(self) -> str:
        check_int("max_new_tokens", self.max_new_tokens, 1)
        check_int("num_beams", self.num_beams, 1)
        return (f"captions:{model_identity(self.model)}:prompt={self.prompt!r}"
                f":max_new_tokens={int(self.max_new_tokens)}:num_beams={int(self.num_beams)}")

    def _contents(self, X: pd.DataFrame):
        paths = resolve_paths(X["image_path"].to_numpy(dtype=object), self.image_root)
        blobs = read_image_bytes(paths, self.name)
        return blobs, (blobs, paths)

    def _images(self, payload, positions: list[int]) -> list:
        blobs, paths = payload
        return decode_images([blobs[i] for i in positions], [paths[i] for i in positions], self.name)

    def _costly(self, misses: int) -> None:
        warn_cpu_cost(self.name, misses, 3.0, resolve_device(self.device))

    def _write(self, payload, positions):
        images = self._images(payload, positions)
        ok = [j for j, im in enumerate(images) if im is not None]
        out: list[str | None] = [None] * len(positions)
        if ok:
            caps = caption_images(self.model, [images[j] for j in ok], device=resolve_device(self.device),
                                  batch_size=self._batch(), prompt=self.prompt,
                                  max_new_tokens=int(self.max_new_tokens), num_beams=int(self.num_beams))
            for j, c in zip(ok, caps):
                out[j] = c
        return out

    def _extra(self, X: pd.DataFrame, texts: np.ndarray, contents: list, payload) -> dict[str, np.ndarray]:
        if not self.match:
            return {}
        words = post_texts(X)
        have = [i for i, c in enumerate(contents) if c is not None and words[i]]
        score = np.full(len(X), np.nan, dtype=np.float32)
        if not have:
            return {"match": score}
        key = f"captions-match:{model_identity(self.model)}"
        keys = row_hashes(key, [contents[i] + b"\x1f" + words[i].encode("utf-8") for i in have])

        def compute(pos: list[int]) -> np.ndarray:
            rows = [have[p] for p in pos]
            images = self._images(payload, rows)
            vals = np.full((len(rows), 1), np.nan, dtype=np.float32)
            ok = [j for j, im in enumerate(images) if im is not None]
            if ok:
                vals[ok, 0] = match_scores(self.model, [images[j] for j in ok], [words[rows[j]] for j in ok],
                                           device=resolve_device(self.device), batch_size=self._batch())
            return vals

        V, computed, cached = self.rows.cache(key).get_or_compute(keys, compute, batch_size=self._batch() * 8)
        score[have] = V[:, 0]
        self.rows_computed_ += computed
        self.rows_cached_ += cached
        return {"match": score}
