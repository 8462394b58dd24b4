"""A tiny randomly initialised CLIP saved as a Hugging Face folder, to exercise the real CLIP load + encode path.

No CLIP weights ship in a package here; the generators take a folder like this one (or a sentence-transformers
id such as `clip-ViT-B-32` where the weights can be had) and run it through the same code.
"""

from __future__ import annotations

import atexit
import functools
import json
import shutil
import tempfile
from pathlib import Path


def _bytes_to_unicode() -> list[str]:
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def save_tiny_clip(folder: str | Path, seed: int = 0) -> Path:
    """Write a tiny CLIP (byte-level tokenizer, 32 px images, 8-d projections) with random weights to `folder`."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    chars = _bytes_to_unicode()
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": 256 + i for i, c in enumerate(chars)})
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(vocab_file=str(folder / "vocab.json"), merges_file=str(folder / "merges.txt"))
    images = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    CLIPProcessor(image_processor=images, tokenizer=tokenizer).save_pretrained(folder)
    config = CLIPConfig(
        text_config=dict(vocab_size=len(vocab), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, max_position_embeddings=32, eos_token_id=len(vocab) - 1,
                         bos_token_id=len(vocab) - 2, pad_token_id=len(vocab) - 1),
        vision_config=TINY_VISION,
        projection_dim=8,
    )
    torch.manual_seed(seed)
    CLIPModel(config).eval().save_pretrained(folder)
    return folder


# The vision tower of the tiny CLIP and the tiny BLIP: 32 px images in 8 px patches, one 16-wide layer.
TINY_VISION = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, image_size=32,
                   patch_size=8)


def session_folder(prefix: str) -> Path:
    """A new temporary folder removed when the test session's process exits."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return root


@functools.lru_cache(maxsize=1)
def tiny_clip_dir() -> str:
    """One tiny CLIP folder per test session (removed at exit)."""
    return str(save_tiny_clip(session_folder("smp-tiny-clip-") / "clip"))
