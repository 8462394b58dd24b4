"""The generator contract, checked for every registered generator with its default parameters."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from smp.features import GENERATORS, FeatureCache, FeatureSpec, build_features, generator_key, get_generator
from tests._data import add_feature_columns, add_video_columns, make_postframe, shared_rows, write_images
from tests._tiny_blip import tiny_blip_dir
from tests._tiny_clip import tiny_clip_dir
from tests._tiny_sentence import tiny_sentence_dir, tiny_static_dir
from tests._tiny_whisper import tiny_whisper_dir

NAMES = list(GENERATORS)
STATIC = [n for n in NAMES if not GENERATORS.get(n).uses_target]
TARGET = [n for n in NAMES if GENERATORS.get(n).uses_target]
# Encoders of keys (ids, categories): an unseen key gets the prior. Neighbour labels and model predictions read
# numeric spaces and have their own tests of rows with nothing to go on.
KEYED = [n for n in TARGET if n not in ("neighbour_labels", "oof_model")]

# A parameter change per generator, to check that it changes the cache key; generators without parameters are absent.
ALT_PARAMS = {
    "category": {"min_count": 2},
    "raw_categories": {"time_parts": ["hour"]},
    "category_target": {"smoothing": 3.0},
    "emotion_interactions": {"image_source": "none"},
    "face_emotion": {"min_face_size": 40},
    "geo": {"cell_deg": 0.5},
    "hot_tags": {"top_k": 5},
    "location_svd": {"n_components": 4},
    "media_emotion": {"audio": False},
    "post_meta": {"min_count": 2},
    "text_emotion": {"nade": False},
    "tfidf_svd": {"column": "tags"},
    "words": {"n_words": 20},
    "user_svd": {"n_components": 4},
    "user_target": {"smoothing": 1.0},
    "glove": {"weighting": "mean"},
    "word2vec": {"window": 3},
    "sentence": {"n_components": 4},
    "static_embedding": {"n_components": 4},
    "clip_text": {"n_components": 4},
    "clip_image": {"n_components": 4},
    "image_encoder": {"resolution": 48},
    "image_stats": {"image_root": "/elsewhere"},
    "crossmodal": {"method": "pls"},
    "clusters": {"levels": [3, 6]},
    "video_meta": {"min_count": 3},
    "neighbour_labels": {"k": [3]},
    "cluster_target": {"smoothing": 3.0},
    "oof_model": {"model": "ridge"},
    "user_history": {"windows": [2]},
    "captions": {"max_new_tokens": 3},
    "video_frames": {"frames": 3},
    "speech": {"max_new_tokens": 3},
}

# Parameters the contract suite runs heavy generators with: CLIP needs weights (a tiny random CLIP folder stands
# in for `clip-ViT-B-32`), and small blocks keep the suite quick. The MiniLM-reading generators take a tiny random
# BERT folder through the same code (ONNX export, row cache, PCA): MiniLM on the ~5,000 prompts these
# tests embed was a quarter of the suite's CPU time; the shipped model itself is run in test_embeddings.py and
# test_backends.py. Every other generator runs on its defaults.
CONTRACT_PARAMS = {
    "clip_text": lambda: {"model": tiny_clip_dir(), "n_components": 6},
    "clip_image": lambda: {"model": tiny_clip_dir(), "n_components": 6},
    "image_encoder": lambda: {"resolution": 32, "n_components": 6},
    "crossmodal": lambda: {"image_resolution": 32, "clip_model": tiny_clip_dir(), "text_model": tiny_sentence_dir()},
    "clusters": lambda: {"block_params": {"sentence": {"model": tiny_sentence_dir()}}},
    # The CPU default's backend (int8 ONNX, chosen by `auto` for MiniLM only), exported from the tiny folder.
    "sentence": lambda: {"model": tiny_sentence_dir(), "backend": "onnx-int8", "n_components": 8},
    # A tiny sentence model distilled once per session (the shipped MiniLM's full distillation is a slow test).
    "static_embedding": lambda: {"model": tiny_static_dir(), "n_components": 8},
    "word2vec": lambda: {"vector_size": 8, "epochs": 3},
    # The frame has no `user_profile__` block (static generators read every `user_*` column): raw counts stand in.
    # The contract frame's sentence settings (rows shared with them), and a tiny random BLIP on the CPU.
    "user_history": lambda: {"embedding_params": {"model": tiny_sentence_dir(), "backend": "onnx-int8",
                                                  "n_components": 8}},
    "captions": lambda: {"model": tiny_blip_dir(), "text": {"tfidf_svd": {"n_components": 4}}, "max_new_tokens": 4,
                         "device": "cpu"},
    # The frame's images are one-frame videos without sound to OpenCV and PyAV (the video tests write real ones);
    # the tiny CLIP's 8-d frames keep the PCA cheap (EfficientNet-Lite0 frames are tested in test_video.py).
    "video_frames": lambda: {"frames": 2, "encoder": tiny_clip_dir(), "n_components": 6},
    "speech": lambda: {"model": tiny_whisper_dir(), "text": {"tfidf_svd": {"n_components": 4}}, "max_new_tokens": 4,
                       "device": "cpu"},
    "oof_model": lambda: {"modalities": {"text": ["sentence__"], "user": ["user_fo"]}, "params": {"n_estimators": 20}},
}


def make(name: str, params: dict | None = None):
    """The registered generator with the suite's parameters (plus `params`)."""
    base = CONTRACT_PARAMS[name]() if name in CONTRACT_PARAMS else {}
    return get_generator(name, {**base, **(params or {})}).use_rows(shared_rows())


@pytest.fixture(scope="module")
def frame(tmp_path_factory) -> pd.DataFrame:
    # SMP-Video columns for video_meta, and static feature columns (an embedding block, cluster ids) for the
    # label-using generators that read them, as the engine hands them over.
    f = add_feature_columns(add_video_columns(make_postframe()))
    # Real small images for most rows (image generators run their encoders); every fifth file is missing.
    f["image_path"] = write_images(f, tmp_path_factory.mktemp("images"), skip_every=5)
    # A non-default, non-monotonic index catches generators that mix positions and labels.
    f.index = pd.Index(np.arange(len(f))[::-1] * 3 + 1000)
    return f


@pytest.fixture(scope="module")
def new_frame() -> pd.DataFrame:
    f = add_feature_columns(add_video_columns(make_postframe(n_posts=120, n_users=15, seed=7), seed=7))
    f["post_id"] = "new_" + f["post_id"]
    f["user_id"] = np.where(np.arange(len(f)) % 2 == 0, "new_" + f["user_id"], f["user_id"])
    f.index = pd.Index(np.arange(len(f)) + 50_000)
    return f


def train_part(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    tr = frame[frame["split"] == "train"]
    return tr, tr["label"]


def fit_out(name: str, frame: pd.DataFrame, params: dict | None = None):
    """A fresh generator fitted the way the engine fits it, and its fit_transform output."""
    gen = make(name, params)
    if gen.uses_target:
        tr, y = train_part(frame)
        return gen, gen.fit_transform(tr, y)
    return gen, gen.fit_transform(frame)


def categoricals(out: pd.DataFrame) -> dict[str, list]:
    return {c: list(out[c].cat.categories) for c in out.columns if isinstance(out[c].dtype, pd.CategoricalDtype)}


def perturb(frame: pd.DataFrame, col: str) -> pd.DataFrame:
    """A copy with one value of `col` changed (first row)."""
    f = frame.copy()
    i = f.index[0]
    v = f.at[i, col]
    if isinstance(v, (list, tuple, np.ndarray)):
        f.at[i, col] = [*v, "zz_new_tag"]
    elif isinstance(v, pd.Timestamp):
        f.at[i, col] = v + pd.Timedelta(seconds=1)
    elif isinstance(v, str) or v is None:
        f.at[i, col] = f"{v}_changed"
    elif pd.isna(v):
        f.at[i, col] = 1.0
    else:
        f.at[i, col] = v + 1
    return f


# ------------------------------------------------------------------------------------------------- every generator
@pytest.mark.parametrize("name", NAMES)
def test_output_index_names_and_dtypes(name, frame):
    gen, out = fit_out(name, frame)
    rows = train_part(frame)[0] if gen.uses_target else frame
    assert out.index.equals(rows.index)
    assert len(out.columns) > 0
    assert all(str(c).startswith(f"{name}__") for c in out.columns)
    for c in out.columns:
        dt = out[c].dtype
        assert isinstance(dt, pd.CategoricalDtype) or dt in (np.float32, np.float64), (c, dt)
        if not isinstance(dt, pd.CategoricalDtype):
            assert not np.isinf(out[c].to_numpy()).any(), c


@pytest.mark.parametrize("name", NAMES)
def test_no_input_mutation(name, frame, new_frame):
    before, before_new = copy.deepcopy(frame), copy.deepcopy(new_frame)
    gen, _ = fit_out(name, frame)
    gen.transform(new_frame)
    pd.testing.assert_frame_equal(frame, before)
    pd.testing.assert_frame_equal(new_frame, before_new)


@pytest.mark.parametrize("name", STATIC)
def test_static_transform_equals_fit_transform(name, frame):
    gen, out = fit_out(name, frame)
    pd.testing.assert_frame_equal(gen.transform(frame), out)


@pytest.mark.parametrize("name", NAMES)
def test_extra_and_reordered_columns_do_not_change_output(name, frame):
    _, out = fit_out(name, frame)
    wider = frame.assign(extra_number=1.5, extra_text="x")
    wider = wider.loc[:, list(wider.columns)[::-1]]
    _, out2 = fit_out(name, wider)
    pd.testing.assert_frame_equal(out2, out)


@pytest.mark.parametrize("name", STATIC)
def test_row_order_does_not_change_values(name, frame):
    _, out = fit_out(name, frame)
    shuffled = frame.sample(frac=1.0, random_state=3)
    _, out2 = fit_out(name, shuffled)
    pd.testing.assert_frame_equal(out2.loc[out.index], out, check_exact=False, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_missing_required_column_raises_keyerror(name, frame):
    gen = make(name)
    tr, y = train_part(frame)
    if not gen.requires:  # prefix-only: the columns it was fitted with are required at transform
        gen.fit(tr, y if gen.uses_target else None)
        fitted_cols = [c for c in gen.input_columns(frame)]
        assert fitted_cols, "a prefix-only generator needs prefixed columns in the test frame"
        with pytest.raises(KeyError, match=rf"{fitted_cols[0]}.*available columns"):
            gen.transform(frame.drop(columns=fitted_cols))
        return
    for col in gen.requires:
        smaller = tr.drop(columns=col)
        other = "post_id" if col != "post_id" else "split"  # a column the message must list as available
        with pytest.raises(KeyError, match=rf"'{col}'.*available columns.*'{other}'"):
            gen.clone().fit(smaller, y if gen.uses_target else None)
    fitted = gen.clone().fit(tr, y if gen.uses_target else None)
    with pytest.raises(KeyError, match=rf"'{gen.requires[0]}'"):
        fitted.transform(frame.drop(columns=gen.requires[0]))


@pytest.mark.parametrize("name", NAMES)
def test_deterministic(name, frame):
    _, a = fit_out(name, frame)
    _, b = fit_out(name, frame)
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize("name", NAMES)
def test_transform_subset_and_new_frame_keeps_columns_and_categories(name, frame, new_frame):
    gen, out = fit_out(name, frame)
    for other in (frame.iloc[::3], new_frame, frame.iloc[:1], frame.iloc[:0]):
        res = gen.transform(other)
        assert res.index.equals(other.index)
        assert list(res.columns) == list(out.columns)
        assert categoricals(res) == categoricals(out)
        for c in res.columns:
            if not isinstance(res[c].dtype, pd.CategoricalDtype):
                assert not np.isinf(res[c].to_numpy()).any(), c


@pytest.mark.parametrize("name", NAMES)
def test_unfitted_transform_raises(name, frame):
    with pytest.raises(RuntimeError, match="must be fitted"):
        make(name).transform(frame)


@pytest.mark.parametrize("name", STATIC)
def test_cache_round_trip_and_keys(name, frame, tmp_path):
    cache = FeatureCache(tmp_path)
    gen = make(name)
    key = generator_key(gen, frame)
    assert cache.load(gen, key) is None
    out = gen.fit_transform(frame)
    cache.save(gen, key, out)
    hit = cache.load(make(name), key)
    assert hit is not None
    loaded, fitted = hit
    pd.testing.assert_frame_equal(loaded, out)
    pd.testing.assert_frame_equal(fitted.transform(frame), out)
    assert generator_key(make(name), frame.copy()) == key
    if name in ALT_PARAMS:
        assert generator_key(make(name, ALT_PARAMS[name]), frame) != key
    else:
        assert not gen.get_params(), f"add a parameter change for {name!r} to ALT_PARAMS"
    col = gen.input_columns(frame)[-1]
    assert generator_key(gen, perturb(frame, col)) != key


def test_cache_keys_for_target_generators_follow_params(frame):
    for name in TARGET:
        key = generator_key(make(name), frame)
        assert generator_key(make(name, ALT_PARAMS[name]), frame) != key


def test_build_features_with_every_generator(frame):
    specs = [FeatureSpec(n, make(n).get_params()) for n in NAMES]
    specs += [FeatureSpec("tfidf_svd", {"column": "tags", "n_components": 4})]
    fs = build_features(frame, specs, progress=False)
    assert fs.static.index.equals(frame.index)
    assert {g.name for g in fs.target_generators} == set(TARGET)
    assert {v["generator"] for v in fs.columns.values()} == set(NAMES)
    assert "tfidf_svd__tags_3" in fs.static.columns and "tfidf_svd__title_15" in fs.static.columns
    assert "category__category" in fs.categorical_columns()


# -------------------------------------------------------------------------------------------- label-using generators
@pytest.mark.parametrize("name", TARGET)
def test_target_fit_transform_is_out_of_fold(name, frame):
    tr, y = train_part(frame)
    _, out = fit_out(name, frame)
    for row in tr.index[[0, 17, 60]]:
        y2 = y.copy()
        y2.loc[row] += 100.0
        out2 = make(name).fit_transform(tr, y2)
        pd.testing.assert_frame_equal(out2.loc[[row]], out.loc[[row]])
        assert not out2.equals(out)  # the changed label does reach rows of the other folds


@pytest.mark.parametrize("name", KEYED)
def test_target_unseen_keys_get_the_global_mean(name, frame):
    tr, y = train_part(frame)
    gen = make(name).fit(tr, y)
    unseen = tr.iloc[:4].copy()
    for col in gen.input_columns(tr):
        unseen[col] = "never_seen"
    out = gen.transform(unseen)
    means = [c for c in out.columns if c.endswith("mean")]
    assert means
    np.testing.assert_allclose(out[means].to_numpy(), y.mean())
    counts = [c for c in out.columns if c.endswith("count")]
    assert (out[counts].to_numpy() == 0).all()


@pytest.mark.parametrize("name", TARGET)
def test_target_needs_y(name, frame):
    tr, _ = train_part(frame)
    with pytest.raises(ValueError, match="needs y"):
        make(name).fit(tr)
    with pytest.raises(ValueError, match="needs y"):
        make(name).fit_transform(tr)
