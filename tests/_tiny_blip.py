"""A tiny randomly initialised BLIP captioner saved as a Hugging Face folder, to run the real captioning code.

No captioning weights ship in a package here; `captions` takes a folder like this one (or a hub id such as
`Salesforce/blip-image-captioning-base` where the weights can be had) and runs it through the same code.
"""

from __future__ import annotations

import functools
from pathlib import Path

from tests._tiny_clip import TINY_VISION, session_folder


def save_tiny_blip(folder: str | Path, seed: int = 0) -> Path:
    """Write a tiny BLIP (the tiny sentence model's WordPiece tokenizer, 32 px images, 16-wide towers) to `folder`."""
    import torch
    from transformers import BertTokenizerFast, BlipConfig, BlipForConditionalGeneration, BlipImageProcessor
    from transformers import BlipProcessor

    from tests._tiny_sentence import tiny_sentence_dir

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = BertTokenizerFast.from_pretrained(tiny_sentence_dir())
    images = BlipImageProcessor(size={"height": 32, "width": 32})
    BlipProcessor(image_processor=images, tokenizer=tokenizer).save_pretrained(folder)
    ids = tokenizer.convert_tokens_to_ids
    config = BlipConfig(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, max_position_embeddings=64, encoder_hidden_size=16,
                         pad_token_id=ids("[PAD]"), bos_token_id=ids("[CLS]"), eos_token_id=ids("[SEP]"),
                         sep_token_id=ids("[SEP]")),
        vision_config=TINY_VISION,
        projection_dim=8,
    )
    torch.manual_seed(seed)
    BlipForConditionalGeneration(config).eval().save_pretrained(folder)
    return folder


@functools.lru_cache(maxsize=1)
def tiny_blip_dir() -> str:
    """One tiny BLIP folder per test session (removed at exit)."""
    return str(save_tiny_blip(session_folder("smp-tiny-blip-") / "blip"))
