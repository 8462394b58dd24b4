"""Loaders: SMPD-Image (on synthetic files), SMPD-Video (real release when present, tiny fixture otherwise), tables,
and one table-driven test per validation rule checking that the error names the file, the column and the value."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from smp.pipelines.datasets import (
    CORE_COLUMNS,
    FORMATS,
    DataError,
    TableMapping,
    generate_smpd_image,
    load_dataset,
    load_smpd_image,
    load_smpd_video,
    load_table,
)

VIDEO_DATA = Path(__file__).parents[3] / "shared/data/smpd-video"
USER_ADDITIONAL_COLUMNS = {
    "user_total_views",
    "user_total_tags",
    "user_total_geotagged",
    "user_total_faves",
    "user_total_in_group",
    "user_photo_count_crawl",
    "user_follower_count",
    "user_following_count",
}


# ----------------------------------------------------------------------------------------------- helpers
def _read_json(path: Path) -> list[dict]:
    return json.loads(path.read_text())


def _write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data))


def _edit_json(path: Path, edit: Callable[[list[dict]], object]) -> None:
    records = _read_json(path)
    result = edit(records)
    _write_json(path, records if result is None else result)


def _edit_lines(path: Path, edit: Callable[[list[str]], object]) -> None:
    lines = path.read_text().splitlines()
    result = edit(lines)
    path.write_text("\n".join(lines if result is None else result) + "\n")


def _assert_names(err: DataError, file: str, column: str | None, value: str) -> None:
    """The message names the file, the column (when the rule is about one) and the offending value."""
    msg = str(err)
    assert file in msg, msg
    if column is not None:
        assert f"column {column!r}" in msg, msg
    assert value in msg, msg


# ----------------------------------------------------------------------------------------------- SMPD-Image
@pytest.fixture(scope="module")
def smpd_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_smpd_image(
        tmp_path_factory.mktemp("smpd") / "d", n_posts=1000, n_users=120, image_size=0, progress=False
    )


@pytest.fixture(scope="module")
def smpd_frame(smpd_root: Path) -> pd.DataFrame:
    return load_smpd_image(smpd_root)


@pytest.fixture()
def smpd_copy(smpd_root: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(smpd_root, tmp_path / "copy"))


def test_smpd_image_round_trip(smpd_root: Path, smpd_frame: pd.DataFrame) -> None:
    f = smpd_frame
    assert list(f.columns[: len(CORE_COLUMNS)]) == list(CORE_COLUMNS)
    assert all(c.startswith(("user_", "meta_")) for c in f.columns[len(CORE_COLUMNS) :])
    assert len(f) == 1000 and f["split"].value_counts().to_dict() == {"train": 800, "test": 200}
    train, test = f[f["split"] == "train"], f[f["split"] == "test"]
    assert np.isfinite(train["label"]).all() and test["label"].isna().all()
    assert str(f["post_time"].dtype) == "datetime64[ns, UTC]"
    assert f["post_id"].is_unique
    assert USER_ADDITIONAL_COLUMNS <= set(f.columns)
    for col in (
        "user_photo_firstdate",
        "user_photo_count",
        "user_ispro",
        "user_canbuy_pro",
        "user_timezone_offset",
        "user_photo_firstdatetaken",
        "meta_ispublic",
    ):
        assert f[col].dtype == float, col
    # The files agree with the frame value by value.
    texts = _read_json(smpd_root / "train" / "train_text.json")
    geo = _read_json(smpd_root / "train" / "train_temporalspatial_information.json")
    first = f.iloc[0]
    assert first["post_id"] == texts[0]["Pid"] and first["title"] == texts[0]["Title"]
    assert first["tags"] == texts[0]["Alltags"].split()
    assert first["post_time"] == pd.Timestamp(int(geo[0]["Postdate"]), unit="s", tz="UTC")
    labels = np.loadtxt(smpd_root / "train" / "train_label.txt")
    np.testing.assert_allclose(train["label"].to_numpy(), labels)
    assert first["image_path"] == f"train/{first['user_id']}/{first['post_id']}.jpg"
    # "0"/"0" is "no geotag": all three geo columns NaN together.
    no_geo = f["latitude"].isna()
    assert 0 < no_geo.mean() < 1 and f.loc[no_geo, ["longitude", "geo_accuracy"]].isna().all().all()
    assert set(f["user_timezone_offset"].dropna()) <= set(np.arange(-12, 15, 0.5))


def test_smpd_image_user_additional_is_optional(smpd_copy: Path) -> None:
    assert not USER_ADDITIONAL_COLUMNS & set(load_smpd_image(smpd_copy, user_additional=False).columns)
    moved = smpd_copy.parent / "elsewhere.csv"
    (smpd_copy / "user_additional.csv").rename(moved)
    assert not USER_ADDITIONAL_COLUMNS & set(load_smpd_image(smpd_copy).columns)
    assert USER_ADDITIONAL_COLUMNS <= set(load_smpd_image(smpd_copy, user_additional=moved).columns)


def test_smpd_image_posts_without_alias_get_nan_stats(smpd_frame: pd.DataFrame) -> None:
    no_alias = smpd_frame["meta_pathalias"].isna()
    assert no_alias.any() and smpd_frame.loc[no_alias, "user_follower_count"].isna().all()
    assert smpd_frame.loc[~no_alias, "user_follower_count"].notna().all()


@pytest.mark.parametrize("shape", ["dict_of_dicts", "dict_of_lists"])
def test_smpd_image_dict_shaped_json(smpd_copy: Path, smpd_frame: pd.DataFrame, shape: str) -> None:
    for split in ("train", "test"):
        for table in ("user_data", "category"):
            path = smpd_copy / split / f"{split}_{table}.json"
            frame = pd.DataFrame(_read_json(path))
            if shape == "dict_of_dicts":
                # Row keys as strings in scrambled order, as `DataFrame.to_json()` might leave them.
                data = {c: {str(i): frame[c][i] for i in reversed(range(len(frame)))} for c in frame.columns}
            else:
                data = {c: frame[c].tolist() for c in frame.columns}
            _write_json(path, data)
    pd.testing.assert_frame_equal(load_smpd_image(smpd_copy), smpd_frame)


def _drop_field(field: str) -> Callable[[list[dict]], None]:
    return lambda recs: [r.pop(field) for r in recs] and None


def _set(row: int, field: str, value: str) -> Callable[[list[dict]], None]:
    return lambda recs: recs[row].__setitem__(field, value)


def _duplicate_pid(root: Path) -> None:
    for table in ("category", "text", "temporalspatial_information", "additional_information", "user_data"):
        _edit_json(
            root / "train" / f"train_{table}.json", lambda recs: recs[1].update(Pid=recs[0]["Pid"], Uid=recs[0]["Uid"])
        )


def _pid_in_both(root: Path) -> None:
    pid = _read_json(root / "train" / "train_category.json")[0]["Pid"]
    for table in ("category", "text", "temporalspatial_information", "additional_information", "user_data"):
        _edit_json(root / "test" / f"test_{table}.json", lambda recs: recs[0].update(Pid=pid))


def _train_pid(root: Path, row: int) -> str:
    return _read_json(root / "train" / "train_category.json")[row]["Pid"]


SMPD_ERRORS = [
    # (id, mutation, file named, column named, value named)
    (
        "missing file",
        lambda r: (r / "train" / "train_text.json").unlink(),
        "train_text.json",
        None,
        "required file is missing",
    ),
    (
        "missing label file",
        lambda r: (r / "train" / "train_label.txt").unlink(),
        "train_label.txt",
        None,
        "required file is missing",
    ),
    (
        "missing field",
        lambda r: _edit_json(r / "train" / "train_temporalspatial_information.json", _drop_field("Postdate")),
        "train_temporalspatial_information.json",
        "Postdate",
        "Geoaccuracy",
    ),
    (
        "row count",
        lambda r: _edit_json(r / "train" / "train_text.json", lambda recs: recs[:-1]),
        "train_text.json",
        None,
        "799 rows vs 800",
    ),
    (
        "misaligned rows",
        lambda r: _edit_json(r / "train" / "train_user_data.json", lambda recs: recs[::-1]),
        "train_user_data.json",
        "Pid",
        "record 1",
    ),
    ("duplicate post id", _duplicate_pid, "train_category.json", "Pid", "ids must be unique"),
    ("post id in train and test", _pid_in_both, "test_category.json", "Pid", "both train and test"),
    (
        "unparsable time",
        lambda r: _edit_json(r / "train" / "train_temporalspatial_information.json", _set(3, "Postdate", "yesterday")),
        "train_temporalspatial_information.json",
        "Postdate",
        "record 4: 'yesterday'",
    ),
    (
        "time out of range",
        lambda r: _edit_json(r / "train" / "train_temporalspatial_information.json",
                             _set(2, "Postdate", "99999999999")),
        "train_temporalspatial_information.json",
        "Postdate",
        "record 3: '99999999999'",
    ),
    (
        "missing time",
        lambda r: _edit_json(r / "test" / "test_temporalspatial_information.json", _set(0, "Postdate", "")),
        "test_temporalspatial_information.json",
        "Postdate",
        "record 1: ''",
    ),
    (
        "unparsable coordinate",
        lambda r: _edit_json(r / "train" / "train_temporalspatial_information.json", _set(2, "Latitude", "north")),
        "train_temporalspatial_information.json",
        "Latitude",
        "record 3: 'north'",
    ),
    (
        "unparsable label",
        lambda r: _edit_lines(r / "train" / "train_label.txt", lambda ls: ls.__setitem__(1, "abc")),
        "train_label.txt",
        "label",
        "line 2: 'abc'",
    ),
    (
        "non-finite label",
        lambda r: _edit_lines(r / "train" / "train_label.txt", lambda ls: ls.__setitem__(4, "inf")),
        "train_label.txt",
        "label",
        "line 5: 'inf'",
    ),
    (
        "label count",
        lambda r: _edit_lines(r / "train" / "train_label.txt", lambda ls: ls[:-1]),
        "train_label.txt",
        "label",
        "799 lines vs 800",
    ),
    (
        "image path count",
        lambda r: _edit_lines(r / "test" / "test_img_filepath.txt", lambda ls: ls[:-2]),
        "test_img_filepath.txt",
        None,
        "198 lines vs 200",
    ),
    (
        "test lacks train column",
        lambda r: _edit_json(r / "test" / "test_category.json", _drop_field("Concept")),
        "test_category.json",
        "Concept",
        "train has this column but the test file lacks it",
    ),
    (
        "invalid json",
        lambda r: (r / "test" / "test_text.json").write_text('[{"Pid": '),
        "test_text.json",
        None,
        "invalid JSON",
    ),
    (
        "user_additional lacks column",
        lambda r: (
            pd.read_csv(r / "user_additional.csv")
            .drop(columns="followerCount")
            .to_csv(r / "user_additional.csv", index=False)
        ),
        "user_additional.csv",
        "followerCount",
        "Pathalias",
    ),
    (
        "user_additional disagreeing rows",
        lambda r: pd.concat(
            [
                pd.read_csv(r / "user_additional.csv").head(1).assign(totalViews=-1),
                pd.read_csv(r / "user_additional.csv"),
            ]
        ).to_csv(r / "user_additional.csv", index=False),
        "user_additional.csv",
        "Pathalias",
        "disagree",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "file", "column", "value"), [e[1:] for e in SMPD_ERRORS], ids=[e[0] for e in SMPD_ERRORS]
)
def test_smpd_image_errors(
    smpd_copy: Path, mutate: Callable[[Path], None], file: str, column: str | None, value: str
) -> None:
    mutate(smpd_copy)
    with pytest.raises(DataError, match=re.escape(file)) as info:
        load_smpd_image(smpd_copy)
    _assert_names(info.value, file, column, value)


def test_smpd_image_duplicate_pid_names_the_id(smpd_copy: Path) -> None:
    _duplicate_pid(smpd_copy)
    with pytest.raises(DataError, match=re.escape(repr(_train_pid(smpd_copy, 0)))):
        load_smpd_image(smpd_copy)


def test_smpd_image_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="data folder does not exist"):
        load_smpd_image(tmp_path / "nope")


# ----------------------------------------------------------------------------------------------- SMPD-Video
def _write_jsonl(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def _video_path(root: Path, split: str, table: str) -> Path:
    return root / split / f"SMP-Video_anonymized_{table}_{split}.jsonl"


@pytest.fixture()
def video_root(tmp_path: Path) -> Path:
    """A tiny SMPD-Video folder: 4 train + 3 test posts, a duplicated user row, face and audio side tables."""
    root = tmp_path / "video"
    splits = {"train": [0, 1, 2, 3], "test": [4, 5, 6]}
    for split, ids in splits.items():
        posts = [
            {
                "pid": f"POST{i:03d}",
                "uid": f"USER{i % 3:03d}",
                "post_content": "fyp,cat, funny,,cats",
                "post_location": "NA" if i == 0 else "US",
                "post_suggested_words": ["cat videos", "funny cat"],
                "post_text_language": "en",
                "video_path": f"{split}/USER{i % 3:03d}/VIDEO{i:03d}.mp4",
                "post_time": f"2023-0{1 + i}-1{i} 12:3{i}",
            }
            for i in ids
        ]
        _write_jsonl(_video_path(root, split, "posts"), posts)
        videos = [
            {
                "vid": f"VIDEO{i:03d}",
                "pid": f"POST{i:03d}",
                "uid": f"USER{i % 3:03d}",
                "video_height": 1024,
                "video_width": 576,
                "video_duration": 10 + i,
                "video_ratio": "540p",
                "video_format": "mp4",
                "music_title": "original sound",
                "music_duration": 10 + i,
            }
            for i in ids
        ]
        _write_jsonl(_video_path(root, split, "videos"), videos)
        users = [
            {"uid": f"USER{u:03d}", **{f: 10 * u + k for k, f in enumerate(USER_FIELDS)}}
            for u in sorted({i % 3 for i in ids})
        ]
        _write_jsonl(_video_path(root, split, "users"), users + users[:1])  # verbatim repeat, as in the release
        if split == "train":
            _write_jsonl(
                _video_path(root, split, "popularity"),
                [{"pid": f"POST{i:03d}", "uid": f"USER{i % 3:03d}", "popularity": 5.0 + i} for i in ids],
            )
        media = root / "media"
        media.mkdir(exist_ok=True)
        pd.DataFrame(
            {
                "pid": [f"POST{i:03d}" for i in ids],
                "has_face": [i % 2 for i in ids],
                "face_frame_rate": [0.5] * len(ids),
                "dominant_emotion": ["none"] * len(ids),
                "emotion_distribution": ["{'happy': 0.9, 'sad': 0.1}"] * len(ids),
            }
        ).to_csv(media / f"{split}_face.csv", index=False)
        pd.DataFrame(
            {
                "tempo": [120.0 + i for i in ids],
                "emotion_label": ["unknown"] * len(ids),
                "vid": [f"VIDEO{i:03d}" for i in ids],
                "pid": [f"POST{i:03d}" for i in ids],
            }
        ).to_csv(media / f"{split}_audio.csv", index=False)
    return root


USER_FIELDS = (
    "user_following_count",
    "user_follower_count",
    "user_likes_count",
    "user_video_count",
    "user_digg_count",
    "user_heart_count",
    "user_friend_count",
)


def test_smpd_video_fixture_mapping(video_root: Path) -> None:
    f = load_smpd_video(video_root)
    assert len(f) == 7 and f["split"].tolist() == ["train"] * 4 + ["test"] * 3
    first = f.iloc[0]
    assert first["tags"] == ["fyp", "cat", "funny", "cats"]
    assert first["description"] == "cat videos, funny cat"
    assert first["location"] == "NA"  # Namibia, not a missing value
    assert first["post_time"] == pd.Timestamp("2023-01-10 12:30", tz="UTC")
    assert first["title"] == "" and first["image_path"] == "train/USER000/VIDEO000.mp4"
    assert f["label"].iloc[:4].tolist() == [5.0, 6.0, 7.0, 8.0] and f["label"].iloc[4:].isna().all()
    assert f["user_follower_count"].tolist() == [1.0, 11.0, 21.0, 1.0, 11.0, 21.0, 1.0]
    assert f["meta_video_duration"].tolist() == [10.0 + i for i in range(7)]
    assert f["meta_video_ratio"].iloc[0] == "540p"
    assert f["meta_face_has_face"].dtype == float and f["meta_face_dominant_emotion"].iloc[0] == "none"
    assert f["meta_face_emotion_distribution"].iloc[0] == "{'happy': 0.9, 'sad': 0.1}"
    assert f["meta_audio_tempo"].tolist() == [120.0 + i for i in range(7)] and "meta_audio_vid" not in f
    assert not any(c.startswith(("meta_face", "meta_audio")) for c in load_smpd_video(video_root, media=False).columns)


def test_smpd_video_user_missing_from_users_table_keeps_nan(video_root: Path) -> None:
    path = _video_path(video_root, "test", "users")
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    _write_jsonl(path, [r for r in lines if r["uid"] != "USER001"])
    f = load_smpd_video(video_root)
    missing = (f["split"] == "test") & (f["user_id"] == "USER001")
    assert missing.any() and f.loc[missing, "user_follower_count"].isna().all()
    assert f.loc[~missing, "user_follower_count"].notna().all()


def test_smpd_video_without_media_folder(video_root: Path) -> None:
    shutil.rmtree(video_root / "media")
    f = load_smpd_video(video_root)
    assert len(f) == 7 and not any(c.startswith(("meta_face", "meta_audio")) for c in f.columns)


def _edit_jsonl(path: Path, edit: Callable[[list[dict]], object]) -> None:
    records = [json.loads(line) for line in path.read_text().splitlines()]
    result = edit(records)
    _write_jsonl(path, records if result is None else result)


VIDEO_ERRORS = [
    (
        "missing file",
        lambda r: _video_path(r, "train", "popularity").unlink(),
        "SMP-Video_anonymized_popularity_train.jsonl",
        None,
        "required file is missing",
    ),
    (
        "missing field",
        lambda r: _edit_jsonl(_video_path(r, "train", "posts"), _drop_field("post_time")),
        "SMP-Video_anonymized_posts_train.jsonl",
        "post_time",
        "post_location",
    ),
    (
        "duplicate post id",
        lambda r: _edit_jsonl(_video_path(r, "test", "posts"), lambda recs: recs + recs[:1]),
        "SMP-Video_anonymized_posts_test.jsonl",
        "pid",
        "'POST004'",
    ),
    (
        "unparsable time",
        lambda r: _edit_jsonl(_video_path(r, "train", "posts"), _set(2, "post_time", "25/08/2022 16h")),
        "SMP-Video_anonymized_posts_train.jsonl",
        "post_time",
        "line 3: '25/08/2022 16h'",
    ),
    (
        "unparsable label",
        lambda r: _edit_jsonl(_video_path(r, "train", "popularity"), _set(1, "popularity", "high")),
        "SMP-Video_anonymized_popularity_train.jsonl",
        "popularity",
        "line 2: 'high'",
    ),
    (
        "non-finite label",
        lambda r: _edit_jsonl(_video_path(r, "train", "popularity"), _set(3, "popularity", None)),
        "SMP-Video_anonymized_popularity_train.jsonl",
        "popularity",
        "line 4: None",
    ),
    (
        "post without label",
        lambda r: _edit_jsonl(_video_path(r, "train", "popularity"), lambda recs: recs[1:]),
        "SMP-Video_anonymized_popularity_train.jsonl",
        "popularity",
        "'POST000'",
    ),
    (
        "users disagree",
        lambda r: _edit_jsonl(
            _video_path(r, "train", "users"), lambda recs: recs + [{**recs[0], "user_follower_count": 999}]
        ),
        "SMP-Video_anonymized_users_train.jsonl",
        "uid",
        "'USER000'",
    ),
    (
        "unparsable user count",
        lambda r: _edit_jsonl(_video_path(r, "test", "users"), _set(1, "user_video_count", "many")),
        "SMP-Video_anonymized_users_test.jsonl",
        "user_video_count",
        "'many'",
    ),
    (
        "test lacks train column",
        lambda r: _edit_jsonl(_video_path(r, "test", "posts"), _drop_field("post_location")),
        "SMP-Video_anonymized_posts_test.jsonl",
        "post_location",
        "train has this column but the test file lacks it",
    ),
    (
        "test media lacks column",
        lambda r: (
            pd.read_csv(r / "media" / "test_face.csv")
            .drop(columns="has_face")
            .to_csv(r / "media" / "test_face.csv", index=False)
        ),
        "test_face.csv",
        "has_face",
        "train has this column but the test file lacks it",
    ),
    (
        "media for one split only",
        lambda r: (r / "media" / "test_audio.csv").unlink(),
        "test_audio.csv",
        None,
        "required file is missing",
    ),
    (
        "bad json line",
        lambda r: _video_path(r, "test", "videos").write_text('{"vid": 1}\n{oops\n'),
        "SMP-Video_anonymized_videos_test.jsonl",
        None,
        "line 2",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "file", "column", "value"), [e[1:] for e in VIDEO_ERRORS], ids=[e[0] for e in VIDEO_ERRORS]
)
def test_smpd_video_errors(
    video_root: Path, mutate: Callable[[Path], None], file: str, column: str | None, value: str
) -> None:
    mutate(video_root)
    with pytest.raises(DataError, match=re.escape(file)) as info:
        load_smpd_video(video_root)
    _assert_names(info.value, file, column, value)


def test_smpd_video_real_release() -> None:
    if not VIDEO_DATA.is_dir():
        pytest.skip(f"real SMPD-Video data not found at {VIDEO_DATA}")
    f = load_dataset("smpd_video", VIDEO_DATA)
    assert f["split"].value_counts().to_dict() == {"train": 3200, "test": 2000}
    train = f[f["split"] == "train"]
    assert np.isfinite(train["label"]).all() and f.loc[f["split"] == "test", "label"].isna().all()
    assert 1 <= train["label"].min() and train["label"].max() <= 14
    assert f["post_id"].is_unique and f["post_id"].str.startswith("POST").all()
    assert f["user_follower_count"].notna().all() and f["meta_video_duration"].notna().all()
    assert f["meta_face_has_face"].notna().all() and f["meta_audio_tempo"].notna().all()
    assert f["meta_face_dominant_emotion"].notna().all() and f["meta_audio_emotion_label"].notna().all()
    assert f["tags"].map(len).mean() > 3 and f["location"].notna().all()
    assert f["post_time"].min() >= pd.Timestamp("2015-01-01", tz="UTC")


def test_one_format_registry() -> None:
    from smp.pipelines.config import DATA_FORMATS

    assert set(FORMATS) == {"synthetic", "smpd_image", "smpd_video", "table", "frame"} == set(DATA_FORMATS)
    assert FORMATS["synthetic"].load is FORMATS["smpd_image"].load and FORMATS["synthetic"].generated
    with pytest.raises(KeyError, match="valid formats"):
        load_dataset("flickr", ".")
    with pytest.raises(ValueError, match="reads tables"):
        load_dataset("table", ".")


# ----------------------------------------------------------------------------------------------- tables
def _posts_table(n: int = 6) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [f"00{i}" for i in range(n)],
            "author": [f"u{i % 2}" for i in range(n)],
            "when": [f"2024-03-0{i + 1} 10:00:00" for i in range(n)],
            "caption": [f"caption {i}" for i in range(n)],
            "hashtags": ["a,b", "c", "", "d, e", "f", "g"][:n],
            "views": [float(i) + 0.5 for i in range(n)],
            "followers": [10 * i for i in range(n)],
            "device": ["ios", "android"] * (n // 2),
            "part": ["train"] * (n - 2) + ["test"] * 2,
        }
    )


MAPPING = dict(
    post_id="id",
    user_id="author",
    post_time="when",
    title="caption",
    tags="hashtags",
    tags_sep=",",
    label="views",
    user_columns=["followers"],
    meta_columns=["device"],
)


def test_table_two_csv_files(tmp_path: Path) -> None:
    table = _posts_table()
    table.iloc[:4].drop(columns="part").to_csv(tmp_path / "train.csv", index=False)
    table.iloc[4:].drop(columns=["part", "views"]).to_csv(tmp_path / "test.csv", index=False)
    f = load_table(tmp_path / "train.csv", tmp_path / "test.csv", mapping=TableMapping.from_dict(MAPPING))
    assert f["post_id"].tolist() == [f"00{i}" for i in range(6)]  # leading zeros survive
    assert f["split"].tolist() == ["train"] * 4 + ["test"] * 2
    assert f["tags"].tolist()[:4] == [["a", "b"], ["c"], [], ["d", "e"]]
    assert f["label"].iloc[:4].tolist() == [0.5, 1.5, 2.5, 3.5] and f["label"].iloc[4:].isna().all()
    assert f["user_followers"].dtype == float and f["meta_device"].iloc[0] == "ios"
    assert f["post_time"].iloc[0] == pd.Timestamp("2024-03-01 10:00", tz="UTC")
    assert list(f.columns[: len(CORE_COLUMNS)]) == list(CORE_COLUMNS)


def test_table_one_parquet_file_with_split_column_and_epochs(tmp_path: Path) -> None:
    table = _posts_table()
    table["when"] = (pd.to_datetime(table["when"]) - pd.Timestamp(0)) // pd.Timedelta(seconds=1)
    table["hashtags"] = [["a", "b"], ["c"], [], ["d"], ["e"], []]
    table.loc[4:, "views"] = np.nan
    table.to_parquet(tmp_path / "posts.parquet")
    mapping = {**MAPPING, "time_unit": "s", "split": "part"}
    f = load_table(tmp_path / "posts.parquet", mapping=mapping)
    assert f["split"].tolist() == ["train"] * 4 + ["test"] * 2
    assert f["tags"].iloc[0] == ["a", "b"] and f["label"].iloc[4:].isna().all()
    assert f["post_time"].iloc[1] == pd.Timestamp("2024-03-02 10:00", tz="UTC")


def test_table_without_split_is_all_train(tmp_path: Path) -> None:
    _posts_table().to_csv(tmp_path / "posts.csv.gz", index=False)
    f = load_table(tmp_path / "posts.csv.gz", mapping={**MAPPING})
    assert (f["split"] == "train").all() and f["label"].notna().all()


def test_table_mapping_rejects_unknown_keys() -> None:
    with pytest.raises(ValueError, match=r"unknown TableMapping key 'postid'; valid keys: \['post_id'"):
        TableMapping.from_dict({"postid": "id"})
    with pytest.raises(TypeError, match="user_columns must be a list"):
        TableMapping.from_dict({"user_columns": "followers"})
    with pytest.raises(TypeError, match="title must be a column name"):
        TableMapping.from_dict({"title": 3})


def _write_pair(
    root: Path,
    edit_train: Callable[[pd.DataFrame], pd.DataFrame] = lambda t: t,
    edit_test: Callable[[pd.DataFrame], pd.DataFrame] = lambda t: t,
) -> tuple[Path, Path]:
    table = _posts_table()
    edit_train(table.iloc[:4].drop(columns="part").reset_index(drop=True)).to_csv(root / "train.csv", index=False)
    edit_test(table.iloc[4:].drop(columns=["part", "views"]).reset_index(drop=True)).to_csv(
        root / "test.csv", index=False
    )
    return root / "train.csv", root / "test.csv"


def _assign(row: int, column: str, value: object) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def edit(t: pd.DataFrame) -> pd.DataFrame:
        t = t.astype({column: object})
        t.loc[row, column] = value
        return t

    return edit


TABLE_ERRORS = [
    ("missing column", dict(edit_train=lambda t: t.drop(columns="when")), "train.csv", "when", "author"),
    (
        "test lacks train column",
        dict(edit_test=lambda t: t.drop(columns="followers")),
        "test.csv",
        "followers",
        "train has this column but the test file lacks it",
    ),
    ("duplicate post id", dict(edit_train=_assign(2, "id", "000")), "train.csv", "id", "'000'"),
    ("post id in train and test", dict(edit_test=_assign(0, "id", "001")), "test.csv", "id", "'001'"),
    (
        "unparsable time",
        dict(edit_test=_assign(1, "when", "tomorrow noon")),
        "test.csv",
        "when",
        "line 3: 'tomorrow noon'",
    ),
    ("unparsable label", dict(edit_train=_assign(2, "views", "lots")), "train.csv", "views", "line 4: 'lots'"),
    ("non-finite label", dict(edit_train=_assign(0, "views", "inf")), "train.csv", "views", "line 2: inf"),
    ("missing label", dict(edit_train=_assign(3, "views", None)), "train.csv", "views", "line 5: nan"),
]


@pytest.mark.parametrize(
    ("edits", "file", "column", "value"), [e[1:] for e in TABLE_ERRORS], ids=[e[0] for e in TABLE_ERRORS]
)
def test_table_errors(tmp_path: Path, edits: dict, file: str, column: str, value: str) -> None:
    train, test = _write_pair(tmp_path, **edits)
    with pytest.raises(DataError, match=re.escape(file)) as info:
        load_table(train, test, mapping=MAPPING)
    _assert_names(info.value, file, column, value)


def test_table_single_file_errors(tmp_path: Path) -> None:
    table = _posts_table()
    table.loc[5, "part"] = "holdout"
    table.to_csv(tmp_path / "posts.csv", index=False)
    with pytest.raises(DataError, match=re.escape("posts.csv")) as info:
        load_table(tmp_path / "posts.csv", mapping={**MAPPING, "split": "part"})
    _assert_names(info.value, "posts.csv", "part", "line 7: 'holdout'")
    with pytest.raises(DataError, match="numeric times need `time_unit`"):
        table.assign(when=1_700_000_000, part="train").to_parquet(tmp_path / "p.parquet")
        load_table(tmp_path / "p.parquet", mapping=MAPPING)
    (tmp_path / "posts.xlsx").write_text("x")
    with pytest.raises(DataError, match="unsupported extension"):
        load_table(tmp_path / "posts.xlsx", mapping=MAPPING)
    with pytest.raises(DataError, match=re.escape(str(tmp_path / "absent.csv"))):
        load_table(tmp_path / "absent.csv", mapping=MAPPING)
