"""A tiny randomly initialised Whisper saved as a Hugging Face folder, to run the real speech-to-text code.

No Whisper weights ship in a package here; `speech` takes a folder like this one (or a hub id such as
`openai/whisper-base` where the weights can be had) and runs it through the same code.
"""

from __future__ import annotations

import functools
from pathlib import Path

from tests._tiny_clip import _bytes_to_unicode, session_folder

SPECIAL = ["<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|translate|>", "<|transcribe|>",
           "<|startoflm|>", "<|startofprev|>", "<|nocaptions|>", "<|notimestamps|>"]


def save_tiny_whisper(folder: str | Path, seed: int = 0) -> Path:
    """Write a tiny English-only Whisper (byte-level vocabulary, one 16-wide layer each side) to `folder`."""
    import torch
    from transformers import (GenerationConfig, WhisperConfig, WhisperFeatureExtractor,
                              WhisperForConditionalGeneration, WhisperProcessor, WhisperTokenizer)

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab = {c: i for i, c in enumerate(_bytes_to_unicode())}
    ids = {t: len(vocab) + i for i, t in enumerate(SPECIAL)}
    tokenizer = WhisperTokenizer(vocab=dict(vocab), merges=[], unk_token="<|endoftext|>", bos_token="<|endoftext|>",
                                 eos_token="<|endoftext|>", pad_token="<|endoftext|>",
                                 additional_special_tokens=SPECIAL[1:])
    WhisperProcessor(feature_extractor=WhisperFeatureExtractor(feature_size=80), tokenizer=tokenizer
                     ).save_pretrained(folder)
    size = len(vocab) + len(SPECIAL)
    config = WhisperConfig(vocab_size=size, num_mel_bins=80, d_model=16, encoder_layers=1, decoder_layers=1,
                           encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
                           decoder_ffn_dim=32, max_source_positions=1500, max_target_positions=64,
                           pad_token_id=ids["<|endoftext|>"], bos_token_id=ids["<|endoftext|>"],
                           eos_token_id=ids["<|endoftext|>"], decoder_start_token_id=ids["<|startoftranscript|>"])
    torch.manual_seed(seed)
    model = WhisperForConditionalGeneration(config).eval()
    model.generation_config = GenerationConfig(
        decoder_start_token_id=ids["<|startoftranscript|>"], eos_token_id=ids["<|endoftext|>"],
        pad_token_id=ids["<|endoftext|>"], bos_token_id=ids["<|endoftext|>"],
        # Random weights pick arbitrary bytes and often end at once: the tiny model writes max_new_tokens tokens,
        # each a lower-case letter or a space, so its transcripts are readable words.
        suppress_tokens=[i for c, i in vocab.items() if not (c.isascii() and c.islower() or c == "Ġ")]
        + list(ids.values()),
        no_timestamps_token_id=ids["<|notimestamps|>"], is_multilingual=False,
        task_to_id={"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]},
        lang_to_id={"<|en|>": ids["<|en|>"]})
    model.save_pretrained(folder)
    return folder


@functools.lru_cache(maxsize=1)
def tiny_whisper_dir() -> str:
    """One tiny Whisper folder per test session (removed at exit)."""
    return str(save_tiny_whisper(session_folder("smp-tiny-whisper-") / "whisper"))
