"""Plausibility of data and one position convention: every rule names the file, the 1-based line (or record), the
column and the value; the SMP-Video overflow is repaired and reported; posts without side-table rows are counted."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from smp.pipelines.datasets import DataError, generate_smpd_image, load_smpd_image, load_smpd_video, load_table
from tests._video import REAL, video_path, write_real_copy, write_tiny_video


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _write(path: Path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def _set(path: Path, row: int, field: str, value: object) -> None:
    recs = _lines(path)
    recs[row][field] = value
    _write(path, recs)


@pytest.fixture()
def video(tmp_path: Path) -> Path:
    return write_tiny_video(tmp_path / "video")


def _error(root: Path, loader=load_smpd_video, **kw) -> str:
    with pytest.raises(DataError) as info:
        loader(root, **kw)
    return str(info.value)


# ------------------------------------------------------------------------------------------------------- labels
@pytest.mark.parametrize("value, rule", [(1e300, "plausible range"), ("1e300", "plausible range"),
                                         (-5e4, "plausible range"), (True, "finite numbers"),
                                         ([1], "finite numbers")])
def test_absurd_popularity_names_file_line_column_value(video, value, rule):
    _set(video_path(video, "train", "popularity"), 6, "popularity", value)
    msg = _error(video)
    assert "SMP-Video_anonymized_popularity_train.jsonl: column 'popularity'" in msg and rule in msg
    assert f"line 7: {value!r}" in msg


def test_label_range_is_configurable(video):
    _set(video_path(video, "train", "popularity"), 2, "popularity", 40.0)
    load_smpd_video(video)  # within the default range
    msg = _error(video, label_range=(0, 20))
    assert "line 3: 40.0" in msg and "[0, 20]" in msg


@pytest.fixture(scope="module")
def image_root(tmp_path_factory) -> Path:
    return generate_smpd_image(tmp_path_factory.mktemp("img") / "d", n_posts=120, n_users=20, image_size=0,
                               progress=False)


def test_label_1e300_in_train_label_txt(image_root, tmp_path):
    import shutil

    root = shutil.copytree(image_root, tmp_path / "copy")
    path = root / "train" / "train_label.txt"
    lines = path.read_text().splitlines()
    lines[4] = "1e300"
    path.write_text("\n".join(lines) + "\n")
    msg = _error(root, load_smpd_image)
    assert f"{path}: column 'label'" in msg and "line 5: '1e300'" in msg and "plausible range" in msg


def test_table_label_1e300_names_the_csv_line(tmp_path):
    posts = pd.DataFrame({"post_id": ["a", "b", "c"], "user_id": ["u", "u", "v"],
                          "post_time": ["2020-01-01", "2020-01-02", "2020-01-03"], "label": [1.0, 1e300, 2.0]})
    posts.to_csv(tmp_path / "t.csv", index=False)
    msg = _error(tmp_path / "t.csv", load_table)
    assert "t.csv: column 'label'" in msg and "line 3: 1e+300" in msg


# ------------------------------------------------------------------------------------------------------ counts
@pytest.mark.parametrize("value, rule", [(1e300, "finite and within"), ("inf", "finite and within"),
                                         (-5, "non-negative"), ("many", "a number or empty"), (False, "a number")])
def test_absurd_counts_are_errors(video, value, rule):
    _set(video_path(video, "test", "users"), 1, "user_follower_count", value)
    msg = _error(video)
    assert "SMP-Video_anonymized_users_test.jsonl: column 'user_follower_count'" in msg and rule in msg
    assert "line 2:" in msg


def test_negative_video_size_is_an_error(video):
    _set(video_path(video, "train", "videos"), 3, "video_duration", -10)
    msg = _error(video)
    assert "videos_train.jsonl: column 'video_duration'" in msg and "line 4: -10" in msg


def test_likes_overflow_repaired_and_reported(video, caplog):
    path = video_path(video, "train", "users")
    recs = _lines(path)
    recs[2]["user_likes_count"] = recs[2]["user_heart_count"] = -984901888
    _write(path, recs)
    with caplog.at_level(logging.WARNING, logger="smp"):
        f = load_smpd_video(video)
    rows = (f["user_id"] == recs[2]["uid"]) & (f["split"] == "train")
    assert rows.any() and f.loc[rows, "user_likes_count"].eq(3310065408.0).all()
    assert f.loc[rows, "user_heart_count"].eq(3310065408.0).all()
    assert (f["user_likes_count"] >= 0).all()
    text = caplog.text
    assert "repaired negative user_likes_count and user_heart_count" in text
    assert "1 row(s) of user_likes_count, e.g. line 3: -984901888 -> 3310065408" in text


@pytest.mark.skipif(not REAL.is_dir(), reason="real SMP-Video data not present")
def test_real_release_facts(caplog):
    """What the 2025 release holds: 3 train / 2 test users with overflowed likes (repaired), hearts equal to likes,
    friend counts all 0, and every post's user in its users table."""
    with caplog.at_level(logging.WARNING, logger="smp"):
        f = load_smpd_video(REAL)
    assert "users_train.jsonl: repaired negative" in caplog.text and "3 row(s) of user_likes_count" in caplog.text
    assert "users_test.jsonl: repaired negative" in caplog.text and "2 row(s) of user_likes_count" in caplog.text
    assert "have no row" not in caplog.text
    assert (f["user_likes_count"] >= 0).all() and f["user_likes_count"].max() == 3310065408.0
    assert f["user_heart_count"].equals(f["user_likes_count"]) and f["user_friend_count"].eq(0).all()


def test_posts_without_a_user_row_are_counted(video, caplog):
    path = video_path(video, "test", "users")
    _write(path, [r for r in _lines(path) if r["uid"] != "USER003"])
    with caplog.at_level(logging.WARNING, logger="smp"):
        f = load_smpd_video(video)
    lacking = (f["split"] == "test") & (f["user_id"] == "USER003")
    assert f.loc[lacking, "user_follower_count"].isna().all()
    assert re.search(rf"users_test.jsonl: {lacking.sum()} of 8 posts have no row for their uid \(e.g. post POST", caplog.text)


def test_posts_without_a_media_row_are_counted(video, caplog):
    face = video / "media" / "train_face.csv"
    pd.read_csv(face).iloc[:-3].to_csv(face, index=False)
    with caplog.at_level(logging.WARNING, logger="smp"):
        load_smpd_video(video)
    assert "train_face.csv: 3 of 24 posts have no row for their pid" in caplog.text


# --------------------------------------------------------------------------------------- files and positions
def test_empty_test_file_says_file_is_empty(video):
    video_path(video, "test", "posts").write_text("")
    msg = _error(video)
    assert "SMP-Video_anonymized_posts_test.jsonl: file: file is empty" in msg


def test_empty_table_test_file(tmp_path):
    pd.DataFrame({"post_id": ["a"], "user_id": ["u"], "post_time": ["2020-01-01"], "label": [1.0]}).to_csv(
        tmp_path / "train.csv", index=False)
    (tmp_path / "test.csv").write_text("")
    assert "test.csv: file: file is empty" in _error(tmp_path / "train.csv", lambda p: load_table(p, tmp_path / "test.csv"))
    (tmp_path / "test.csv").write_text("post_id,user_id,post_time\n")
    assert "test.csv: file: file has no rows" in _error(tmp_path / "train.csv",
                                                        lambda p: load_table(p, tmp_path / "test.csv"))


@pytest.mark.parametrize("raw, where", [(b'{"pid": "P\xff"}', "line 3, column 11: byte 0xff"),
                                        (b"\xc3\x28", "line 3, column 1: byte 0xc3")])
def test_non_utf8_jsonl_names_file_and_line(video, raw, where):
    path = video_path(video, "train", "videos")
    lines = path.read_bytes().splitlines(keepends=True)
    lines[2] = raw + b"\n"
    path.write_bytes(b"".join(lines))
    msg = _error(video)
    assert f"{path}: file: file must be UTF-8 text" in msg and where in msg


def test_non_utf8_csv_and_json_table(video, image_root, tmp_path):
    import shutil

    face = video / "media" / "test_face.csv"
    face.write_bytes(face.read_bytes().replace(b"none", b"n\xe9ne", 2))
    assert "test_face.csv: file: file must be UTF-8 text (got 'line 2, column" in _error(video)
    root = shutil.copytree(image_root, tmp_path / "copy")
    text = root / "test" / "test_text.json"
    text.write_bytes(text.read_bytes().replace(b'"Title"', b'"Ti\xfftle"', 1))
    assert "test_text.json: file: file must be UTF-8 text" in _error(root, load_smpd_image)


@pytest.mark.parametrize("uid, label", [("", "line 5: ''"), (None, "line 5: None"), (True, "line 5: True")])
def test_empty_uid_names_file_and_line(video, uid, label):
    path = video_path(video, "train", "posts")
    _set(path, 4, "uid", uid)
    msg = _error(video)
    assert f"{path}: column 'uid': ids must be non-empty" in msg and label in msg


def test_time_errors_count_lines_from_one(video):
    _set(video_path(video, "train", "posts"), 0, "post_time", "soon")
    assert "line 1: 'soon'" in _error(video)


def test_line_numbers_skip_blank_lines_truthfully(video):
    path = video_path(video, "train", "popularity")
    recs = _lines(path)
    recs[5]["popularity"] = "high"
    path.write_text("\n\n" + "".join(json.dumps(r) + "\n" for r in recs))  # two blank lines first
    assert "line 8: 'high'" in _error(video)


@pytest.mark.parametrize("line, rule", [('{"pid": "P1", "pid": "P2", "uid": "U"}', "duplicate key 'pid'"),
                                        ('{"pid": "P1", "uid": "U", "popularity": NaN}', "NaN is not valid JSON"),
                                        ('{"pid": "P1", "uid": "U", "popularity": Infinity}', "Infinity is not valid")])
def test_strict_json(video, line, rule):
    path = video_path(video, "train", "popularity")
    path.write_text(path.read_text() + line + "\n")
    msg = _error(video)
    assert f"{path}: file: invalid JSON: {rule}" in msg and "line 25" in msg


def test_a_line_lacking_a_field_others_have(video):
    path = video_path(video, "test", "users")
    recs = _lines(path)
    del recs[1]["user_digg_count"]
    _write(path, recs)
    msg = _error(video)
    assert f"{path}: column 'user_digg_count': field is missing from this line" in msg and "line 2" in msg


def test_csv_row_with_too_few_fields(video):
    audio = video / "media" / "train_audio.csv"
    text = audio.read_text()
    audio.write_text(text[: text.rindex(",")] + "\n")  # the last row loses its last field
    msg = _error(video)
    assert f"{audio}: file: every row must have the header's 4 fields (got 'line 25: 3 fields')" in msg


def test_duplicate_ids_name_both_lines(video):
    path = video_path(video, "train", "videos")
    recs = _lines(path)
    _write(path, recs + recs[3:4])
    assert "ids must be unique (lines 4 and 25)" in _error(video)


@pytest.mark.skipif(not REAL.is_dir(), reason="real SMP-Video data not present")
def test_real_300_post_copy_loads_and_is_checked(tmp_path):
    root = write_real_copy(tmp_path / "real")
    f = load_smpd_video(root)
    assert f["split"].value_counts().to_dict() == {"train": 300, "test": 100}
    assert np.isfinite(f.loc[f.split == "train", "label"]).all()
    _set(video_path(root, "train", "popularity"), 10, "popularity", 1e300)
    assert "popularity_train.jsonl: column 'popularity'" in _error(root) and "line 11: 1e+300" in _error(root)
