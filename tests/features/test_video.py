"""`video_frames` and `speech` on small synthetic videos (OpenCV / PyAV, a tone for the audio) with the shipped
EfficientNet-Lite0, a tiny random CLIP and a tiny random Whisper."""

from __future__ import annotations

import shutil
import warnings

import numpy as np
import pandas as pd
import pytest

from smp.features import RowStore, get_generator
from tests._tiny_clip import tiny_clip_dir
from tests._tiny_whisper import tiny_whisper_dir
from smp.pipelines.datasets.synthetic import write_video


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    write_video(root / "v0.mp4", hue=0, seconds=2.0)  # no audio track
    write_video(root / "v1.mp4", hue=1, tone_hz=440.0)
    write_video(root / "v2.mp4", hue=2, tone_hz=880.0)
    (root / "bad.mp4").write_bytes(b"not a video")
    paths = ["v0.mp4", "v1.mp4", "v2.mp4", "bad.mp4", "missing.mp4", None, "v1.mp4"]
    return root, pd.DataFrame({"image_path": paths}, index=list("abcdefg"))


def frames_gen(root, **params):
    base = {"frames": 3, "resolution": 32, "backend": "torch", "n_components": None, "video_root": str(root),
            "device": "cpu"}
    return get_generator("video_frames", {**base, **params})


def test_frames_are_sampled_embedded_and_pooled(videos, tmp_path):
    from smp.features.embedding.encoders import encode_efficientnet_torch
    from smp.features.video import sample_frames

    root, frame = videos
    gen = frames_gen(root).use_rows(RowStore(tmp_path))
    with pytest.warns(RuntimeWarning, match="video file"):
        out = gen.fit_transform(frame)
    assert out.shape == (7, 3 * 1280)
    ims = sample_frames(str(root / "v0.mp4"), 3)
    assert len(ims) == 3 and np.mean(ims[2]) > np.mean(ims[0])  # evenly spaced: the clip brightens
    F = encode_efficientnet_torch(ims, resolution=32, device="cpu", batch_size=8)
    want = np.concatenate([F.mean(axis=0), F.max(axis=0), F[-1] - F[0]])
    np.testing.assert_allclose(out.loc["a"].to_numpy(dtype=float), want, rtol=1e-4, atol=1e-5)
    assert np.abs(out.loc["a"].to_numpy()[2 * 1280:]).max() > 0  # first and last frames differ
    assert out.loc[["d", "e", "f"]].isna().all(axis=None)  # undecodable, missing, no path
    pd.testing.assert_series_equal(out.loc["g"], out.loc["b"], check_names=False)
    # Cached by the file's bytes: the same video under another name embeds nothing.
    shutil.copy(root / "v2.mp4", tmp_path / "moved.mp4")
    again = frames_gen(root).use_rows(RowStore(tmp_path))
    moved = again.fit_transform(pd.DataFrame({"image_path": [str(tmp_path / "moved.mp4")]}))
    assert again.rows_computed_ == 0 and again.rows_cached_ == 1
    np.testing.assert_array_equal(moved.iloc[0].to_numpy(), out.loc["c"].to_numpy())


def test_frames_with_clip_and_pca(videos):
    root, frame = videos
    ok = frame.iloc[:3]
    out = frames_gen(root, encoder=tiny_clip_dir(), pool=["mean", "diff"]).use_rows(RowStore()).fit_transform(ok)
    assert out.shape == (3, 2 * 8)
    np.testing.assert_allclose(np.linalg.norm(out.to_numpy()[:, :8], axis=1) <= 1 + 1e-6, True)
    reduced = frames_gen(root, n_components=2).use_rows(RowStore()).fit_transform(ok)
    assert list(reduced.columns) == ["video_frames__0", "video_frames__1"]


@pytest.mark.parametrize("params, match", [({"pool": ["median"]}, "pool must be"), ({"frames": 0}, "frames")])
def test_frames_bad_parameters(videos, params, match):
    root, frame = videos
    with pytest.raises(ValueError, match=match):
        frames_gen(root, **params).use_rows(RowStore()).fit(frame.iloc[:1])


def speech_gen(root, **params):
    base = {"model": tiny_whisper_dir(), "text": {"tfidf_svd": {"n_components": 2, "min_df": 1}},
            "max_new_tokens": 6, "video_root": str(root), "device": "cpu"}
    return get_generator("speech", {**base, **params})


def test_speech_transcribes_the_audio_track(videos, tmp_path):
    from smp.features.video import decode_audio, transcribe

    root, frame = videos
    gen = speech_gen(root).use_rows(RowStore(tmp_path))
    with pytest.warns(RuntimeWarning, match="speech.*runs its model on 'cpu'"):
        out = gen.fit_transform(frame)
    texts, _, _ = gen.texts(frame)
    assert texts[0] == ""  # no audio track: nothing to write down, the model is not run
    clip = decode_audio(str(root / "v1.mp4"), 30.0)
    assert clip.size >= 16000 and np.abs(clip).max() > 0.3  # one second of the tone
    assert texts[1] == transcribe(tiny_whisper_dir(), [clip], device="cpu", batch_size=1, language=None,
                                  max_new_tokens=6)[0] != ""
    assert texts[3] is None and texts[4] is None and texts[5] is None
    words = out["speech__words"]
    assert words["a"] == 0 and words["b"] >= 1 and words[["d", "e", "f"]].isna().all()
    assert [c for c in out.columns if c.startswith("speech__tfidf_svd_")] == [
        "speech__tfidf_svd_description_0", "speech__tfidf_svd_description_1"]
    # A second run reads every transcript from the row cache and runs no model (the undecodable file, never
    # cached, would be tried again).
    again = speech_gen(root).use_rows(RowStore(tmp_path))
    readable = frame.drop(index="d")
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*runs its model")
        pd.testing.assert_frame_equal(again.fit_transform(readable), gen.transform(readable))
    assert again.rows_computed_ == 0


def test_speech_skips_quiet_audio_and_checks_its_window(videos):
    root, frame = videos
    quiet = speech_gen(root, silence_db=10.0).use_rows(RowStore())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = quiet.fit_transform(frame.iloc[:3])
    assert (out["speech__words"] == 0).all()  # nothing louder than +10 dBFS: no transcript
    with pytest.raises(ValueError, match="max_seconds"):
        speech_gen(root, max_seconds=60).use_rows(RowStore()).fit(frame.iloc[:1])
