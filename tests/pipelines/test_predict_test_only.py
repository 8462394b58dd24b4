"""`smp predict --data DIR` where DIR holds only the new posts (the test split): the run carries its training posts.

For both SMPD layouts a tiny run is fitted on a full folder, then only its test part (`test/`, plus the side tables
of that split: `media/test_*.csv`, `user_additional.csv`) is copied into a new folder. Predicting from that folder
must give the bytes predicting from the full folder gives, and the numbers of the full load (train and test read
together) the project used before; a missing file or a training post id among the new posts is a clear error.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import smp
from smp.pipelines.cli import main
from smp.pipelines.config import config_from_dict
from smp.pipelines.data import load_frame
from smp.pipelines.datasets import DataError, generate_smpd_image, load_smpd_image, load_smpd_video, load_table
from smp.pipelines.prediction import predict_run
from smp.pipelines.runner import run
from tests._video import REAL, video_path, write_real_copy, write_tiny_video

MODELS = [{"key": "lgbm", "params": {"n_estimators": 30, "num_leaves": 7, "early_stopping_rounds": 0}},
          {"key": "ridge"}]
VIDEO_FEATURES = ["user_profile", "user_posts", "time", {"name": "category", "params": {"columns": ["location"]}},
                  "text_stats", "post_meta", "media_emotion", "user_target"]
IMAGE_FEATURES = ["user_profile", "user_posts", "time", "geo", "category", "text_stats", "post_meta", "image_stats",
                  "user_target"]


def _config(tmp: Path, fmt: str, data: Path, features: list):
    return config_from_dict({
        "name": f"tiny-{fmt}", "seed": 2, "data": {"format": fmt, "path": str(data)},
        "cv": {"scheme": "kfold", "n_splits": 3}, "features": features, "models": MODELS,
        "stack": {"learners": ["blend"]},
        "output": {"runs_dir": str(tmp / "runs"), "submissions_dir": str(tmp / "subs"),
                   "cache_dir": str(tmp / "cache"), "submission": False},
    })


def _test_part(src: Path, dst: Path, files: tuple[str, ...]) -> Path:
    """A new folder holding only `src`'s test split: `test/` and the named side files."""
    shutil.copytree(src / "test", dst / "test")
    for rel in files:
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / rel, dst / rel)
    assert not (dst / "train").exists()
    return dst


def _old_full_load_predictions(run_dir: Path, data: Path) -> np.ndarray:
    """What `smp predict` computed before test-only loads: the whole folder loaded, its test rows predicted."""
    p = smp.Predictor.load(run_dir)
    frame = load_frame(p.cfg_.data, p.cfg_.output, root=data, progress=False)
    return p.predict(frame[frame["split"].eq("test")].reset_index(drop=True)).to_numpy()


def _read_predictions(path: Path) -> pd.DataFrame:
    """The CSV `smp predict` wrote, its scores parsed by Python's float (exact for the shortest repr pandas writes)."""
    table = pd.read_csv(path, dtype=str)
    return table.assign(popularity_score=table["popularity_score"].map(float))


def _predict_cli(run_dir: Path, data: Path, out: Path) -> int:
    return main(["-q", "predict", "--run", str(run_dir), "--data", str(data), "--out", str(out)])


# ------------------------------------------------------------------------------------------------- SMPD-Video
@pytest.fixture(scope="module")
def video_run(tmp_path_factory):
    """A tiny run on 300 + 100 posts of the real release (with its face and audio tables), or, where the release is
    absent, on a synthetic folder of the same layout."""
    tmp = tmp_path_factory.mktemp("video")
    full, features = tmp / "full", VIDEO_FEATURES
    if REAL.is_dir():
        write_real_copy(full)
    else:  # the synthetic face table has no emotion distribution for media_emotion to read
        write_tiny_video(full, n_train=150, n_test=40)
        features = [f for f in VIDEO_FEATURES if f != "media_emotion"]
    assert (full / "media" / "test_face.csv").is_file() and (full / "media" / "test_audio.csv").is_file()
    d = run(_config(tmp, "smpd_video", full, features), progress=False)
    return full, d


VIDEO_TEST_FILES = ("media/test_face.csv", "media/test_audio.csv")


def test_video_test_only_folder_predicts_as_the_full_folder(video_run, tmp_path):
    full, d = video_run
    only = _test_part(full, tmp_path / "only", VIDEO_TEST_FILES)
    a, b = tmp_path / "full.csv", tmp_path / "only.csv"
    assert _predict_cli(d, full, a) == 0 and _predict_cli(d, only, b) == 0
    assert a.read_bytes() == b.read_bytes()  # bit-identical: the same CSV text, float for float
    got = _read_predictions(b)
    n_test = len(video_path(full, "test", "posts").read_text().splitlines())
    assert len(got) == n_test and np.isfinite(got["popularity_score"]).all()
    np.testing.assert_array_equal(got["popularity_score"].to_numpy(), _old_full_load_predictions(d, full))
    # The run's own test predictions (fitted with train + test posts together) are these numbers too.
    want = pd.read_parquet(d / "test_pred.parquet").set_index("post_id")["final"]
    np.testing.assert_allclose(got["popularity_score"], want.loc[got["post_id"]], rtol=1e-6, atol=1e-6)
    # The media tables were joined: post_meta reads their columns, so these predictions depend on them.
    features = json.loads((d / "features.json").read_text())["columns"]
    media = {c.removeprefix("post_meta__").split("_")[0] for c in features if c.startswith("post_meta__")}
    assert {"face", "audio"} <= media, sorted(features)


def test_video_test_only_folder_missing_a_file_names_it(video_run, tmp_path):
    full, d = video_run
    only = _test_part(full, tmp_path / "only", VIDEO_TEST_FILES)
    videos = video_path(only, "test", "videos")
    videos.unlink()
    with pytest.raises(DataError, match="required file is missing") as e:
        predict_run(d, only, tmp_path / "p.csv", progress=False)
    assert str(videos) in str(e.value)
    # The media side table of the test split: the run's training posts carry its columns.
    only2 = _test_part(full, tmp_path / "only2", VIDEO_TEST_FILES[1:])
    with pytest.raises(DataError, match=r"required file is missing: the run's training posts carry its meta_face_\*"):
        predict_run(d, only2, tmp_path / "p.csv", progress=False)
    # Through the CLI: exit status 2 and the path on stderr, no output file.
    assert _predict_cli(d, only, tmp_path / "cli.csv") == 2 and not (tmp_path / "cli.csv").exists()


def test_video_training_post_id_among_new_posts_is_an_error(video_run, tmp_path, capsys):
    full, d = video_run
    only = _test_part(full, tmp_path / "only", VIDEO_TEST_FILES)
    train_pid = json.loads(video_path(full, "train", "posts").read_text().splitlines()[4])["pid"]
    posts = video_path(only, "test", "posts")
    lines = posts.read_text().splitlines(keepends=True)
    first = json.loads(lines[2])
    lines[2] = json.dumps({**first, "pid": train_pid}) + "\n"
    posts.write_text("".join(lines))
    with pytest.raises(DataError, match="one of the run's training posts") as e:
        predict_run(d, only, tmp_path / "p.csv", progress=False)
    msg = str(e.value)
    assert str(posts) in msg and train_pid in msg and "line 3" in msg and "column 'pid'" in msg
    assert _predict_cli(d, only, tmp_path / "cli.csv") == 2
    assert train_pid in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------- SMPD-Image
@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("image")
    full = generate_smpd_image(tmp / "full", n_posts=400, n_users=60, seed=5, image_size=8, progress=False)
    d = run(_config(tmp, "smpd_image", full, IMAGE_FEATURES), progress=False)
    return full, d


def test_image_test_only_folder_predicts_as_the_full_folder(image_run, tmp_path):
    full, d = image_run
    only = _test_part(full, tmp_path / "only", ("user_additional.csv",))
    assert any((only / "test").rglob("*.jpg"))  # the images of the test posts came along
    a, b = tmp_path / "full.csv", tmp_path / "only.csv"
    assert _predict_cli(d, full, a) == 0 and _predict_cli(d, only, b) == 0
    assert a.read_bytes() == b.read_bytes()
    got = _read_predictions(b)
    assert len(got) == len(json.loads((full / "test" / "test_category.json").read_text()))
    np.testing.assert_array_equal(got["popularity_score"].to_numpy(), _old_full_load_predictions(d, full))


def test_image_test_only_folder_errors(image_run, tmp_path):
    full, d = image_run
    # A row-aligned table of the test split missing.
    only = _test_part(full, tmp_path / "only", ("user_additional.csv",))
    (only / "test" / "test_text.json").unlink()
    with pytest.raises(DataError, match="required file is missing") as e:
        predict_run(d, only, tmp_path / "p.csv", progress=False)
    assert str(only / "test" / "test_text.json") in str(e.value)
    # The crawled user stats the run was trained with.
    bare = _test_part(full, tmp_path / "bare", ())
    with pytest.raises(DataError, match="required file is missing: the run's training posts carry") as e:
        predict_run(d, bare, tmp_path / "p.csv", progress=False)
    assert str(bare / "user_additional.csv") in str(e.value)
    # A training post among the new posts, in every row-aligned table.
    clash = _test_part(full, tmp_path / "clash", ("user_additional.csv",))
    pid = json.loads((full / "train" / "train_category.json").read_text())[3]["Pid"]
    for path in (clash / "test").glob("test_*.json"):
        records = json.loads(path.read_text())
        if "Pid" in records[0]:
            records[0]["Pid"] = pid
        path.write_text(json.dumps(records))
    with pytest.raises(DataError, match="one of the run's training posts") as e:
        predict_run(d, clash, tmp_path / "p.csv", progress=False)
    assert str(clash / "test" / "test_category.json") in str(e.value) and str(pid) in str(e.value)
    assert "record 1" in str(e.value)


# -------------------------------------------------------------------------------------- loaders, no fitting
def test_video_loader_test_only_is_the_full_loads_test_rows(tmp_path):
    full = write_tiny_video(tmp_path / "full")
    frame = load_smpd_video(full)
    train, test = (frame[frame["split"].eq(s)].reset_index(drop=True) for s in ("train", "test"))
    only = _test_part(full, tmp_path / "only", VIDEO_TEST_FILES)
    pd.testing.assert_frame_equal(load_smpd_video(only, train_posts=train), test)
    # A full folder in test-only mode does not read train/ at all (a broken train file is never seen).
    video_path(full, "train", "popularity").write_text("not json\n")
    pd.testing.assert_frame_equal(load_smpd_video(full, train_posts=train), test)
    # Without media, on both sides.
    plain = load_smpd_video(only, media=False, train_posts=load_smpd_video(write_tiny_video(tmp_path / "b"),
                                                                           media=False).query("split == 'train'"))
    assert not any(c.startswith("meta_face") for c in plain.columns)


def test_video_loader_test_only_media_checks(tmp_path):
    full = write_tiny_video(tmp_path / "full")
    train = load_smpd_video(full).query("split == 'train'").reset_index(drop=True)
    only = _test_part(full, tmp_path / "only", VIDEO_TEST_FILES)
    face = only / "media" / "test_face.csv"
    table = pd.read_csv(face)
    table.drop(columns="face_frame_rate").to_csv(face, index=False)
    with pytest.raises(DataError, match=r"media column \(meta_face_face_frame_rate\) but the test file lacks it") as e:
        load_smpd_video(only, train_posts=train)
    assert str(face) in str(e.value) and "column 'face_frame_rate'" in str(e.value)
    table.assign(smile=1.0).to_csv(face, index=False)
    with pytest.raises(DataError, match="no such media column") as e:
        load_smpd_video(only, train_posts=train)
    assert "column 'smile'" in str(e.value)
    # A run trained without media tables, predicting a folder that has one.
    table.to_csv(face, index=False)
    bare = train.drop(columns=[c for c in train.columns if c.startswith("meta_face_")])
    with pytest.raises(DataError, match=r"have no meta_face_\* columns"):
        load_smpd_video(only, train_posts=bare)
    # Every other check still applies to the test files alone: a duplicated pid names both lines.
    posts = video_path(only, "test", "posts")
    lines = posts.read_text().splitlines(keepends=True)
    posts.write_text("".join(lines + lines[:1]))
    with pytest.raises(DataError, match=r"ids must be unique \(lines 1 and 9\)"):
        load_smpd_video(only, train_posts=train)
    # ... and a byte that is not UTF-8 names its line.
    posts.write_bytes(b"".join(line.encode() for line in lines[:2]) + b'{"pid": "\xff"}\n')
    with pytest.raises(DataError, match="line 3, column 10: byte 0xff"):
        load_smpd_video(only, train_posts=train)


def test_image_loader_test_only_is_the_full_loads_test_rows(tmp_path):
    full = generate_smpd_image(tmp_path / "full", n_posts=120, n_users=20, seed=1, image_size=0, progress=False)
    frame = load_smpd_image(full)
    train, test = (frame[frame["split"].eq(s)].reset_index(drop=True) for s in ("train", "test"))
    only = _test_part(full, tmp_path / "only", ("user_additional.csv",))
    pd.testing.assert_frame_equal(load_smpd_image(only, train_posts=train), test)
    # Trained without the crawled stats: a folder that has them is refused rather than joined silently.
    bare = load_smpd_image(full, user_additional=False).query("split == 'train'")
    with pytest.raises(DataError, match="have no user_total_"):
        load_smpd_image(only, train_posts=bare)
    pd.testing.assert_frame_equal(load_smpd_image(only, user_additional=False, train_posts=bare),
                                  load_smpd_image(full, user_additional=False).query("split == 'test'")
                                  .reset_index(drop=True))


def test_table_test_only_load_checks_ids_and_columns(tmp_path):
    rows = pd.DataFrame({"post_id": [f"p{i}" for i in range(8)], "user_id": ["u1", "u2"] * 4,
                         "post_time": [f"2024-01-0{1 + i} 10:00" for i in range(8)], "label": np.arange(8.0),
                         "followers": [10, 20] * 4})
    mapping = {"user_columns": ["followers"]}
    rows.iloc[:5].to_csv(tmp_path / "train.csv", index=False)
    rows.iloc[5:].drop(columns="label").to_csv(tmp_path / "test.csv", index=False)
    frame = load_table(tmp_path / "train.csv", tmp_path / "test.csv", mapping)
    train, test = (frame[frame["split"].eq(s)].reset_index(drop=True) for s in ("train", "test"))
    pd.testing.assert_frame_equal(load_table(None, tmp_path / "test.csv", mapping, train_posts=train), test)
    rows.iloc[[5, 2]].drop(columns="label").to_csv(tmp_path / "clash.csv", index=False)
    with pytest.raises(DataError, match=r"column 'post_id': a post id of the new posts must not be one of the "
                                        r"run's training posts .*line 3: 'p2'"):
        load_table(None, tmp_path / "clash.csv", mapping, train_posts=train)
    rows.iloc[5:].drop(columns="label").assign(followers="many").to_csv(tmp_path / "text.csv", index=False)
    with pytest.raises(DataError, match="column 'user_followers': values must be numbers, as in the run's training "
                                        "posts .*row 1: 'many'"):
        load_table(None, tmp_path / "text.csv", mapping, train_posts=train)
