"""Embedding generators beyond the shared contract: row cache, encoders, images, cross-modal, clusters."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from smp.features import FeatureCache, FeatureSpec, build_features, get_generator
from smp.features.embedding.generator import prompt_texts
from smp.features.embedding.row_cache import RowCache, RowStore, row_hashes
from tests._data import make_postframe, shared_rows, write_images
from tests._tiny_clip import tiny_clip_dir
from tests._tiny_sentence import tiny_sentence_dir


def _gen(name: str, params: dict | None = None):
    """A heavy embedding generator on the session's shared row store (each image and text is embedded once)."""
    return get_generator(name, params).use_rows(shared_rows())


@pytest.fixture(scope="module")
def frame(tmp_path_factory) -> pd.DataFrame:
    f = make_postframe(n_posts=160, n_users=20, seed=3)
    f["image_path"] = write_images(f, tmp_path_factory.mktemp("img"))
    return f


# --------------------------------------------------------------------------------------------------- row cache
def test_row_cache_computes_each_distinct_row_once_and_persists(tmp_path):
    calls = []

    def compute(pos):
        calls.append(list(pos))
        return np.array([[float(len(texts[p])), 1.0] for p in pos], dtype=np.float32)

    texts = ["a", "bb", "a", "ccc"]
    keys = row_hashes("m1", texts)
    E, computed, cached = RowCache("m1", tmp_path).get_or_compute(keys, compute, batch_size=2)
    assert (computed, cached) == (4, 0)
    assert sum(map(len, calls)) == 3  # the repeated "a" is encoded once
    np.testing.assert_array_equal(E[:, 0], [1, 2, 1, 3])
    texts = ["ccc", "dddd", "a"]
    E2, computed, cached = RowCache("m1", tmp_path).get_or_compute(row_hashes("m1", texts), compute)
    assert (computed, cached) == (1, 2)
    assert calls[-1] == [1]  # only the new row
    np.testing.assert_array_equal(E2[:, 0], [3, 4, 1])
    # Another model key never sees these vectors.
    _, computed, _ = RowCache("m2", tmp_path).get_or_compute(row_hashes("m2", texts), compute)
    assert computed == 3


@pytest.mark.parametrize("on_disk", [True, False])
def test_row_cache_fills_one_matrix_from_several_shards_and_new_rows(tmp_path, on_disk):
    calls = []

    def compute(pos):
        calls.append(list(pos))
        return np.array([[float(ord(texts[p][0])), float(len(texts[p]))] for p in pos], dtype=np.float32)

    cache = RowCache("m", RowStore(tmp_path if on_disk else None))
    texts = ["a", "bb"]
    cache.get_or_compute(row_hashes("m", texts), compute)  # shard 1
    texts = ["ccc"]
    cache.get_or_compute(row_hashes("m", texts), compute)  # shard 2
    texts = ["ccc", "x", "a", "x", "bb", "ccc", "yy"]
    calls.clear()
    E, computed, cached = cache.get_or_compute(row_hashes("m", texts), compute, batch_size=1)
    assert (computed, cached) == (3, 4)  # both "x" rows count as computed, the vector is encoded once
    assert calls == [[1], [6]]  # one batch per distinct new row, at its first position
    assert E.dtype == np.float32 and E.shape == (7, 2)
    np.testing.assert_array_equal(E, [[ord(t[0]), len(t)] for t in texts])


def test_row_cache_keys_ending_in_nul_bytes_round_trip(tmp_path):
    keys = [b"k" * 15 + b"\0", b"j" * 14 + b"\0\0", b"x" * 16]
    compute = lambda pos: np.array([[float(p)] for p in pos], np.float32)  # noqa: E731
    RowCache("m", tmp_path).get_or_compute(keys, compute)
    E, computed, cached = RowCache("m", tmp_path).get_or_compute(keys, compute)
    assert (computed, cached) == (0, 3)
    np.testing.assert_array_equal(E[:, 0], [0, 1, 2])


def test_row_cache_skips_failed_rows_and_corrupt_shards(tmp_path):
    def compute(pos):
        return np.array([[np.nan] if p == 0 else [7.0] for p in pos], dtype=np.float32)

    keys = row_hashes("m", ["bad", "good"])
    cache = RowCache("m", tmp_path)
    cache.get_or_compute(keys, compute)
    _, computed, cached = cache.get_or_compute(keys, compute)
    assert (computed, cached) == (1, 1)  # the NaN row is retried, the good one is cached
    for p in cache.dir.glob("*.vals.npy"):
        p.write_bytes(b"garbage")
    _, computed, _ = cache.get_or_compute(keys, compute)
    assert computed == 2


def test_sentence_embeds_only_new_rows_on_grown_data(frame, tmp_path):
    # Row bookkeeping, not vectors: the tiny random BERT (the shipped MiniLM embeds the module's frame once, below).
    params = {"model": tiny_sentence_dir(), "n_components": 4}
    store = RowStore(tmp_path)
    first = get_generator("sentence", params).use_rows(store)
    first.fit_transform(frame.iloc[:100])
    assert (first.rows_computed_, first.rows_cached_) == (100, 0)
    grown = get_generator("sentence", params).use_rows(RowStore(tmp_path))  # a later run, same folder
    grown.fit_transform(frame)
    seen = set(prompt_texts(frame.iloc[:100], grown.fields))
    n_new = sum(t not in seen for t in prompt_texts(frame, grown.fields))
    assert grown.rows_computed_ == n_new
    assert grown.rows_cached_ == len(frame) - n_new


def test_build_features_reports_rows_and_reuses_them(frame, tmp_path):
    tiny = tiny_sentence_dir()
    specs = [FeatureSpec("sentence", {"model": tiny, "n_components": 4}), FeatureSpec("image_stats")]
    fs = build_features(frame, specs, cache=FeatureCache(tmp_path), progress=False)
    assert (tmp_path / "rows").is_dir()
    assert [g.rows_computed_ > 0 for g in fs.static_generators] == [True, True]
    # A new reduction size misses the feature cache but takes every vector from the row cache.
    fs2 = build_features(frame, [FeatureSpec("sentence", {"model": tiny, "n_components": 5})],
                         cache=FeatureCache(tmp_path), progress=False)
    assert (fs2.static_generators[0].rows_computed_, fs2.static_generators[0].rows_cached_) == (0, len(frame))
    fs3 = build_features(frame, specs, cache=FeatureCache(tmp_path), progress=False)
    assert fs3.cache_hits == 2
    assert [(g.rows_computed_, g.rows_cached_) for g in fs3.static_generators] == [(0, len(frame))] * 2
    pd.testing.assert_frame_equal(fs3.static, fs.static)


# ------------------------------------------------------------------------------------------------------- text
def test_prompt_follows_ppcl():
    f = make_postframe(n_posts=3, n_users=2)
    f.loc[0, ["title", "category", "subcategory", "concept"]] = ["Sunset run", "Travel", "Travel_1", "c3"]
    f.at[0, "tags"] = ["#beach", "sea"]
    f.at[1, "title"] = ""
    f.at[1, "tags"] = []
    text = prompt_texts(f, ("title", "category", "subcategory", "concept", "tags"))
    assert text[0] == ("The title of the post is Sunset run. The category is Travel > Travel_1 > c3. "
                       "The tags are beach, sea.")
    assert text[1].startswith("The category is")


def test_glove_from_a_glove_text_file_by_path(tmp_path):
    path = tmp_path / "tiny.glove.txt"
    path.write_text("sun 1 0 0\nsea 0 2 0\nrun 0 0 4\n")
    f = make_postframe(n_posts=4, n_users=2)
    f["title"] = ["sun sea", "Sun", "nothing known", "sea sea run"]
    out = get_generator("glove", {"vectors": str(path), "weighting": "mean"}).fit_transform(f)
    np.testing.assert_allclose(out.iloc[0], [0.5, 1.0, 0.0])
    np.testing.assert_allclose(out.iloc[1], [1.0, 0.0, 0.0])
    assert out.iloc[2].isna().all()
    np.testing.assert_allclose(out.iloc[3], [0.0, 4 / 3, 4 / 3])
    tfidf = get_generator("glove", {"vectors": str(path)}).fit_transform(f)
    assert list(tfidf.columns) == ["glove__title_tfidf_0", "glove__title_tfidf_1", "glove__title_tfidf_2"]
    assert tfidf.iloc[3, 2] > out.iloc[3, 2]  # "run" is rarer than "sea", so tf-idf weighs it up


def test_shipped_glove_knows_common_words(frame):
    out = get_generator("glove", {"column": "title"}).fit_transform(frame.assign(title="the beach at sunset"))
    assert out.shape[1] == 50 and np.isfinite(out.to_numpy()).all()


def test_word2vec_puts_co_occurring_tags_together():
    rng = np.random.default_rng(0)
    f = make_postframe(n_posts=300, n_users=30)
    f["tags"] = [["cat", "kitten", "meow"] if rng.random() < 0.5 else ["car", "engine", "road"] for _ in range(300)]
    gen = get_generator("word2vec", {"vector_size": 16, "epochs": 20}).fit(f)
    sim = lambda a, b: float(gen.wv_.similarity(a, b))  # noqa: E731
    assert sim("cat", "kitten") > sim("cat", "engine")


# ---------------------------------------------------------------------------------------------------- images
def test_missing_and_broken_images_warn_with_the_file_and_give_nan(frame, tmp_path):
    f = frame.iloc[:6].copy()
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    f.iloc[1, f.columns.get_loc("image_path")] = str(tmp_path / "gone.jpg")
    f.iloc[2, f.columns.get_loc("image_path")] = str(broken)
    with pytest.warns(RuntimeWarning, match="gone.jpg") as record:
        out = get_generator("image_stats").fit_transform(f)
    assert any("broken.jpg" in str(w.message) for w in record)
    assert out.iloc[1].isna().all() and out.iloc[2].isna().all()
    assert np.isfinite(out.drop(index=f.index[[1, 2]]).to_numpy()).all()


def test_image_stats_measure_what_they_say(tmp_path):
    from PIL import Image

    Image.new("RGB", (40, 20), (255, 255, 255)).save(tmp_path / "white.png")
    Image.new("RGB", (20, 20), (255, 0, 0)).save(tmp_path / "red.png")
    f = make_postframe(n_posts=2, n_users=1)
    f["image_path"] = ["white.png", "red.png"]
    out = get_generator("image_stats", {"image_root": str(tmp_path)}).fit_transform(f)
    w, r = out.iloc[0], out.iloc[1]
    assert (w["image_stats__width"], w["image_stats__height"], w["image_stats__aspect"]) == (40, 20, 2)
    assert w["image_stats__brightness"] == pytest.approx(1.0) and w["image_stats__saturation"] == 0
    assert r["image_stats__saturation"] == pytest.approx(1.0)
    # Hasler & Suesstrunk on flat red: 0.3 * |(255, 127.5)| / 255; flat white: 0.
    assert r["image_stats__colourfulness"] == pytest.approx(0.3354, abs=1e-3) and w["image_stats__colourfulness"] == 0


def test_image_encoder_sees_the_images(frame):
    out = _gen("image_encoder", {"resolution": 32, "n_components": None}).fit_transform(frame)
    assert out.shape == (len(frame), 1280) and np.isfinite(out.to_numpy()).all()
    # Same category, similar colour: closer than across categories on average.
    Z = out.to_numpy()
    same = frame["category"].to_numpy()[:, None] == frame["category"].to_numpy()[None, :]
    d = np.linalg.norm(Z[:, None] - Z[None], axis=2)
    assert d[same].mean() < d[~same].mean()


def test_load_frame_makes_image_paths_absolute(tmp_path):
    from smp.pipelines.config import DataConfig, OutputConfig
    from smp.pipelines.data import load_frame

    data = DataConfig(format="synthetic", path=str(tmp_path / "syn"),
                      synthetic={"n_posts": 40, "n_users": 8, "seed": 1, "image_size": 8})
    f = load_frame(data, OutputConfig(cache_dir=str(tmp_path / "cache")), progress=False)
    from pathlib import Path

    assert all(Path(p).is_absolute() and Path(p).is_file() for p in f["image_path"])


# ------------------------------------------------------------------------------------------------------ CLIP
def test_tiny_clip_through_the_real_path(frame):
    from smp.features.embedding.encoders import load_clip

    clip = tiny_clip_dir()
    img = _gen("clip_image", {"model": clip, "n_components": None}).fit_transform(frame)
    fields = ["title", "category", "subcategory", "concept", "tags"]  # the crossmodal default prompt
    txt = _gen("clip_text", {"model": clip, "n_components": None, "fields": fields}).fit_transform(frame)
    assert img.shape == txt.shape == (len(frame), 8)
    np.testing.assert_allclose(np.linalg.norm(img.to_numpy(), axis=1), 1.0, rtol=1e-5)
    from PIL import Image

    direct = load_clip(clip, "cpu").encode_images([Image.open(frame["image_path"].iloc[0]).convert("RGB")], 1)[0]
    np.testing.assert_allclose(img.iloc[0].to_numpy(), direct / np.linalg.norm(direct), rtol=1e-4, atol=1e-6)
    cm = _gen("crossmodal", {"clip_model": clip, "image_resolution": 32}).fit_transform(frame)
    np.testing.assert_allclose(cm["crossmodal__clip_cos"], (img.to_numpy() * txt.to_numpy()).sum(axis=1), rtol=1e-4)


# ------------------------------------------------------------------------------------------------ crossmodal
def test_user_history_is_leave_one_out(frame):
    gen = _gen("crossmodal", {"image": False, "title_tags": False})
    out = gen.fit_transform(frame)
    T = gen._embedders()["text"].embed(frame)
    users = frame["user_id"].to_numpy()
    i = int(np.flatnonzero(pd.Series(users).duplicated(keep=False))[0])
    others = np.flatnonzero((users == users[i]) & (np.arange(len(users)) != i))
    m = T[others].mean(axis=0)
    expected = T[i] @ m / np.linalg.norm(T[i]) / np.linalg.norm(m)
    assert out["crossmodal__user_history_cos"].iloc[i] == pytest.approx(expected, rel=1e-4)
    assert out["crossmodal__user_history_n"].iloc[i] == len(others)
    assert "crossmodal__aligned_cos" not in out and "crossmodal__title_tags_cos" not in out


def test_alignment_is_fitted_on_training_rows_only(frame):
    gen = _gen("crossmodal", {"image_resolution": 32}).fit(frame)
    test_rows = frame["split"].eq("test").to_numpy()
    moved = frame.copy()
    moved.loc[test_rows, "image_path"] = list(moved.loc[test_rows, "image_path"])[::-1]
    other = _gen("crossmodal", {"image_resolution": 32}).fit(moved)
    train = frame[~test_rows]
    pd.testing.assert_frame_equal(gen.transform(train), other.transform(train))
    assert np.isfinite(gen.transform(frame)["crossmodal__aligned_cos"]).all()


# -------------------------------------------------------------------------------------------------- clusters
def test_clusters_nest_and_are_categorical(frame):
    out = _gen("clusters", {"blocks": ["sentence", "image_encoder"], "levels": [3, 9], "dims": 6,
                                     "block_params": {"image_encoder": {"resolution": 32}}}).fit_transform(frame)
    for block in ("sentence", "image_encoder"):
        coarse, fine = out[f"clusters__{block}_k3"], out[f"clusters__{block}_k9"]
        assert list(coarse.cat.categories) == ["0", "1", "2"] and len(fine.cat.categories) == 9
        assert pd.crosstab(fine, coarse).gt(0).sum(axis=1).max() == 1  # each fine cluster in one coarse one
        assert (out[f"clusters__{block}_k9_dist"] >= 0).all()


def test_unknown_cluster_block_is_named():
    with pytest.raises(ValueError, match="block must be one of"):
        _gen("clusters", {"blocks": ["nope"]}).requires


def test_no_warning_for_good_images(frame):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        get_generator("image_stats").fit_transform(frame)


def test_memory_cache_is_bounded_and_private_to_its_store():
    store = RowStore(memory_limit_bytes=64)
    store.cache("bounded").get_or_compute(row_hashes("bounded", list("abcdefgh")),
                                          lambda pos: np.ones((len(pos), 4), np.float32))
    assert 0 < store.memory_bytes() <= 64 + 4 * 4 * 8
    assert RowStore().memory_bytes() == 0  # no state shared between stores (nothing module-level)


def test_generators_never_pickle_their_row_store(frame, tmp_path):
    import pickle

    gen = get_generator("sentence", {"n_components": 4}).use_rows(RowStore(tmp_path))
    gen.fit_transform(frame.iloc[:20])
    assert "_rows" not in pickle.loads(pickle.dumps(gen)).__dict__
