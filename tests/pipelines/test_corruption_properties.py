"""Property-based: random corruptions of the jsonl / CSV / TOML inputs (truncation, bad bytes, wrong types, dropped or
duplicated fields, absurd numbers) always end in a `DataError` / `ConfigError` naming the corrupted file, which the CLI
turns into exit 2 and one line; never a traceback, never a silently different result. The Python API's frames and
mappings (columns dropped, renamed, retyped, nested) end in an error naming the column, or the clean predictions.

Where a corruption may legitimately leave the data unchanged (a users row repeated verbatim, which the release
itself does) the property is "an error naming the file, or exactly the frame of the clean data". Examples are bounded
and derandomized, so the suite is fast and the same on every run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import random
import re
import shutil
import tempfile
import typing
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import smp
from smp.pipelines import config as config_module
from smp.pipelines.cli import main
from smp.pipelines.config import ConfigError, load_config
from smp.pipelines.datasets import DataError, load_smpd_video, load_table
from tests._data import make_news_table
from tests._video import REAL, video_path, write_real_copy, write_tiny_video

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

TABLES = [("train", "posts"), ("train", "videos"), ("train", "users"), ("train", "popularity"),
          ("test", "posts"), ("test", "videos"), ("test", "users")]
# Fields a wrong-typed value must be refused in (ids, numbers, times, text), per table.
ID_FIELDS = {"posts": ("pid", "uid"), "videos": ("pid",), "users": ("uid",), "popularity": ("pid",)}
NUMBER_FIELDS = {"videos": ("video_height", "video_width", "video_duration", "music_duration"),
                 "users": ("user_following_count", "user_follower_count", "user_likes_count", "user_video_count",
                           "user_digg_count", "user_heart_count", "user_friend_count"),
                 "popularity": ("popularity",)}
TEXT_FIELDS = {"posts": ("post_content", "post_location", "post_text_language", "video_path", "post_time"),
               "videos": ("video_ratio", "video_format", "music_title")}
BAD_BYTES = [b"\xff", b"\xfe", b"\xc3\x28", b"\xe2\x82\x28", b"\x80", b"\xf0\x28\x8c\x28"]


@pytest.fixture(scope="module")
def bases(tmp_path_factory) -> dict[str, Path]:
    """Clean folders to corrupt copies of: a synthetic one, and a 300-post copy of the real release if present."""
    out = {"tiny": write_tiny_video(tmp_path_factory.mktemp("tiny") / "v")}
    if REAL.is_dir():
        out["real300"] = write_real_copy(tmp_path_factory.mktemp("real") / "v")
    return out


@pytest.fixture(scope="module")
def clean_frames(bases) -> dict[str, pd.DataFrame]:
    return {name: load_smpd_video(root) for name, root in bases.items()}


def _copy(src: Path) -> Path:
    dst = Path(tempfile.mkdtemp(prefix="smp-corrupt-")) / "v"
    shutil.copytree(src, dst)
    return dst


def _outcome(root: Path) -> tuple[str, object]:
    try:
        return "ok", load_smpd_video(root)
    except DataError as e:
        return "error", str(e)


# ------------------------------------------------------------------------------------------------- jsonl
@st.composite
def jsonl_corruption(draw):
    split, table = draw(st.sampled_from(TABLES))
    kind = draw(st.sampled_from(["truncate", "bad_bytes", "wrong_type", "drop_field", "duplicate_key",
                                 "duplicate_line", "absurd_number"]))
    return split, table, kind, draw(st.randoms(use_true_random=False))


def _corrupt_jsonl(path: Path, table: str, kind: str, rnd: random.Random) -> bool:
    """Corrupt one file in place; returns whether the data may legitimately come out unchanged."""
    lines = path.read_bytes().splitlines(keepends=True)
    i = rnd.randrange(len(lines))
    line = lines[i].rstrip(b"\n")
    record = json.loads(line)
    if kind == "truncate":  # a strict prefix of a JSON object is never valid JSON
        path.write_bytes(b"".join(lines[:i]) + line[: rnd.randrange(1, len(line))])
    elif kind == "bad_bytes":
        at = rnd.randrange(1, len(line))
        lines[i] = line[:at] + rnd.choice(BAD_BYTES) + line[at:] + b"\n"
        path.write_bytes(b"".join(lines))
    elif kind in ("wrong_type", "absurd_number", "drop_field", "duplicate_key"):
        if kind == "wrong_type":
            field = rnd.choice(ID_FIELDS[table] + NUMBER_FIELDS.get(table, ()) + TEXT_FIELDS.get(table, ()))
            if field in ID_FIELDS[table]:
                record[field] = rnd.choice([None, "", True, [1], {"a": 1}])
            elif field in NUMBER_FIELDS.get(table, ()):
                record[field] = rnd.choice(["many", True, False, [3], {"n": 3}, "12abc"])
            else:
                record[field] = rnd.choice([True, [1, 2], {"x": "y"}])
        elif kind == "absurd_number":
            fields = NUMBER_FIELDS.get(table) or ("popularity",)
            field = rnd.choice(fields) if table in NUMBER_FIELDS else None
            if field is None:  # posts have no numbers: an absurd value in a text field still must not pass as text
                field, value = "post_time", rnd.choice([1e300, -1.0, 10**20])
            elif field == "popularity":
                value = rnd.choice([1e300, -1e300, 1e20, 5e4, -5e4])
            elif field in ("user_likes_count", "user_heart_count"):
                value = rnd.choice([1e300, -1e300, 1e20, -5e9])  # -1..-2^31 are the release's overflow: repaired
            else:
                value = rnd.choice([1e300, -1e300, 1e20, -5, -0.5])
            record[field] = value
        elif kind == "drop_field":
            del record[rnd.choice(sorted(record))]
        text = json.dumps(record)
        if kind == "duplicate_key":
            key = rnd.choice(sorted(record))
            text = "{" + json.dumps(key) + ": " + json.dumps("other") + ", " + text[1:]
        lines[i] = text.encode() + b"\n"
        path.write_bytes(b"".join(lines))
    elif kind == "duplicate_line":
        lines.insert(rnd.randrange(len(lines) + 1), line + b"\n")
        path.write_bytes(b"".join(lines))
        return table == "users"  # the release repeats users verbatim; the loader drops exact repeats
    return False


@pytest.mark.parametrize("base", ["tiny", "real300"])
@SETTINGS
@given(case=jsonl_corruption())
def test_jsonl_corruptions_are_named_errors(bases, clean_frames, base, case):
    if base not in bases:
        pytest.skip("real SMP-Video data not present")
    split, table, kind, rnd = case
    root = _copy(bases[base])
    try:
        path = video_path(root, split, table)
        may_be_unchanged = _corrupt_jsonl(path, table, kind, rnd)
        status, got = _outcome(root)
        if status == "ok":  # only a corruption that leaves the data as it was may load
            assert may_be_unchanged or kind == "drop_field", f"{kind} in {path.name} loaded without an error"
            pd.testing.assert_frame_equal(got, clean_frames[base])
        else:
            assert str(path) in got, (kind, got)
            if kind in ("truncate", "bad_bytes", "duplicate_key"):
                assert "line " in got, got
    finally:
        shutil.rmtree(root.parent)


# --------------------------------------------------------------------------------------------------- CSV
@st.composite
def csv_corruption(draw):
    target = draw(st.sampled_from(["media/train_face.csv", "media/test_audio.csv", "table/train.csv",
                                   "table/test.csv"]))
    kind = draw(st.sampled_from(["truncate", "bad_bytes", "wrong_type", "drop_field", "duplicate_header",
                                 "duplicate_row", "absurd_number"]))
    return target, kind, draw(st.randoms(use_true_random=False))


NUMERIC_CSV = {"media/train_face.csv": ["has_face", "face_frame_rate"], "media/test_audio.csv": ["tempo"],
               "table/train.csv": ["label", "followers"], "table/test.csv": ["followers"]}


def _corrupt_csv(path: Path, target: str, kind: str, rnd: random.Random) -> None:
    text = path.read_text()
    lines = text.splitlines(keepends=True)
    header = lines[0].rstrip("\n").split(",")
    i = rnd.randrange(1, len(lines))
    row = lines[i].rstrip("\n")
    if kind == "truncate":  # cut before the row's last separator: at least one field goes missing
        cut = rnd.randrange(0, row.rindex(",") + 1)
        path.write_text("".join(lines[:i]) + row[:cut])
        if cut == 0:  # an empty last line would be a clean cut at a row boundary: keep one character
            path.write_text("".join(lines[:i]) + row[:1])
        return
    if kind == "bad_bytes":
        data = path.read_bytes()
        start = len("".join(lines[:i]).encode())
        at = start + rnd.randrange(0, len(row.encode()))
        path.write_bytes(data[:at] + rnd.choice(BAD_BYTES) + data[at:])
        return
    cells = row.split(",")
    if kind in ("wrong_type", "absurd_number"):
        column = rnd.choice(NUMERIC_CSV[target])
        cells[header.index(column)] = rnd.choice(["many", "12abc", "true"]) if kind == "wrong_type" else rnd.choice(
            ["1e300", "-1e300", "inf", "-inf", "1e20"])
    elif kind == "drop_field":
        del cells[rnd.randrange(len(cells))]
    elif kind == "duplicate_header":
        lines[0] = ",".join(header + [rnd.choice(header)]) + "\n"
        lines = [lines[0]] + [ln.rstrip("\n") + ",x\n" for ln in lines[1:]]
        path.write_text("".join(lines))
        return
    elif kind == "duplicate_row":
        lines.insert(rnd.randrange(1, len(lines) + 1), row + "\n")
        path.write_text("".join(lines))
        return
    lines[i] = ",".join(cells) + "\n"
    path.write_text("".join(lines))


def _table_pair(root: Path) -> tuple[Path, Path]:
    from tests._data import make_postframe

    frame = make_postframe(n_posts=100, n_users=12, seed=9)
    table = pd.DataFrame({"id": frame["post_id"], "author": frame["user_id"], "when": frame["post_time"].astype(str),
                          "followers": frame["user_follower_count"], "label": frame["label"], "split": frame["split"]})
    (root / "table").mkdir(parents=True)
    table[table.split == "train"].drop(columns="split").to_csv(root / "table" / "train.csv", index=False)
    table[table.split == "test"].drop(columns=["split", "label"]).to_csv(root / "table" / "test.csv", index=False)
    return root / "table" / "train.csv", root / "table" / "test.csv"


TABLE_MAPPING = {"post_id": "id", "user_id": "author", "post_time": "when", "user_columns": ["followers"]}


@SETTINGS
@given(case=csv_corruption())
def test_csv_corruptions_are_named_errors(bases, case):
    target, kind, rnd = case
    root = _copy(bases["tiny"])
    try:
        train, test = _table_pair(root)
        path = root / target
        _corrupt_csv(path, target, kind, rnd)
        try:
            if target.startswith("media"):
                load_smpd_video(root)
            else:
                load_table(train, test, mapping=TABLE_MAPPING)
        except DataError as e:
            assert str(path) in str(e), (kind, str(e))
        else:
            pytest.fail(f"{kind} in {target} loaded without an error")
    finally:
        shutil.rmtree(root.parent)


# -------------------------------------------------------------------------------------------------- TOML
BASE_TOML = {
    "name": "prop", "seed": 1, "metric": "src",
    "data": {"format": "smpd_video", "path": "/nonexistent/smpd-video"},
    "cv": {"scheme": "group", "n_splits": 3},
    "features": ["user_profile", {"name": "time", "params": {}}],
    "models": [{"key": "lgbm", "params": {"num_leaves": 15, "n_estimators": 40}}, {"key": "ridge"}],
    "stack": {"learners": ["blend"], "passthrough": False},
    "importance": {"permutation": True, "repeats": 1},
    "outliers": {"enabled": False, "k": 1.5},
    "output": {"submission": True, "runs_dir": "runs", "cache_dir": ".smp/cache"},
    "tuning": {"enabled": False, "n_trials": 5, "timeout": 0.0},
    "pseudo": {"enabled": False, "alpha": 0.5},
}
SECTIONS = {"data": config_module.DataConfig, "cv": config_module.CVConfig, "output": config_module.OutputConfig,
            "importance": config_module.ImportanceConfig, "outliers": config_module.OutliersConfig,
            "tuning": config_module.TuningConfig, "pseudo": config_module.PseudoConfig,
            "stack": config_module.StackConfig, "ray": config_module.RayConfig, "local": config_module.LocalEngineConfig,
            "retrain": config_module.RetrainConfig}


def _wrong_values(annotation) -> list:
    """Values of a kind the annotation does not allow, derived from the annotation alone (an int is a float)."""
    allowed = set()
    for a in [a for a in typing.get_args(annotation) if a is not type(None)] or [annotation]:
        kind = typing.get_origin(a) or a
        allowed |= {dict} if dataclasses.is_dataclass(kind) else {kind, int} if kind is float else {kind}
    candidates = {bool: True, int: 7, float: 2.5, str: "word", list: ["a"], dict: {"k": 1}}
    return [value for kind, value in candidates.items() if kind not in allowed]


FIELD_CASES = [(section, f.name, value)
               for section, cls in SECTIONS.items()
               for f in dataclasses.fields(cls)
               for value in _wrong_values(typing.get_type_hints(cls)[f.name])]


@st.composite
def toml_corruption(draw):
    kind = draw(st.sampled_from(["bad_bytes", "truncate", "wrong_type", "drop_required", "duplicate_key",
                                 "absurd_number"]))
    return kind, draw(st.randoms(use_true_random=False))


ABSURD = [("cv", "n_splits", 0), ("cv", "n_splits", -3), ("", "seed", -1), ("importance", "repeats", 0),
          ("data", "label_range", [1e300, 1.0]), ("pseudo", "alpha", float("inf")), ("tuning", "timeout", -5.0),
          ("model", "num_leaves", -7), ("model", "learning_rate", "fast"), ("model", "num_leafs", 9),
          ("model", "feature_fraction", 1e300)]


def _corrupt_toml(path: Path, kind: str, rnd: random.Random) -> str | None:
    """Write a corrupted config; returns a key path the error must name, when the corruption has one."""
    raw = json.loads(json.dumps(BASE_TOML))
    if kind == "wrong_type":
        section, key, value = rnd.choice(FIELD_CASES)
        raw.setdefault(section, {})[key] = value
        path.write_text(tomli_w.dumps(raw))
        return f"[{section}].{key}"
    if kind == "absurd_number":
        section, key, value = rnd.choice(ABSURD)
        if section == "model":
            raw["models"][0]["params"][key] = value
            path.write_text(tomli_w.dumps(raw))
            return f"[[models]][0] (lgbm)"
        (raw.setdefault(section, {}) if section else raw)[key] = value
        path.write_text(tomli_w.dumps(raw))
        return f"[{section}].{key}" if section else key
    if kind == "drop_required":
        if rnd.random() < 0.5:
            del raw["models"][rnd.randrange(2)]["key"]
        else:
            del raw["models"]
        path.write_text(tomli_w.dumps(raw))
        return None
    text = tomli_w.dumps(raw)
    lines = text.splitlines(keepends=True)
    if kind == "bad_bytes":
        data = text.encode()
        at = rnd.randrange(len(data))
        path.write_bytes(data[:at] + rnd.choice(BAD_BYTES) + data[at:])
    elif kind == "truncate":  # right after an "=" or inside a quoted string: never valid TOML
        spots = [i + 1 for i, c in enumerate(text) if c == "="]
        spots += [i + 1 for i, c in enumerate(text) if c == '"' and text[:i].count('"') % 2 == 0]
        path.write_text(text[: rnd.choice(spots)])
    elif kind == "duplicate_key":
        assignments = [i for i, ln in enumerate(lines) if re.match(r"^[A-Za-z_]\w* = ", ln)]
        i = rnd.choice(assignments)
        lines.insert(i + 1, lines[i])
        path.write_text("".join(lines))
    return None


@SETTINGS
@given(case=toml_corruption())
def test_toml_corruptions_are_named_errors(case):
    kind, rnd = case
    folder = Path(tempfile.mkdtemp(prefix="smp-toml-"))
    try:
        path = folder / "cfg.toml"
        must_name = _corrupt_toml(path, kind, rnd)
        with pytest.raises(ConfigError) as info:
            load_config(path)
        msg = str(info.value)
        assert str(path) in msg, (kind, msg)
        if must_name:
            assert must_name in msg, (kind, must_name, msg)
    finally:
        shutil.rmtree(folder)


def test_base_toml_is_valid(tmp_path):
    path = tmp_path / "cfg.toml"
    path.write_text(tomli_w.dumps(BASE_TOML))
    load_config(path)
    assert len(FIELD_CASES) > 60  # every field of every section gets wrong-typed values


# ---------------------------------------------------------------------------------------------- the CLI
@settings(max_examples=8, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(case=jsonl_corruption())
def test_cli_exits_2_with_one_line_naming_the_file(bases, case):
    split, table, kind, rnd = case
    root = _copy(bases["tiny"])
    try:
        path = video_path(root, split, table)
        may_be_unchanged = _corrupt_jsonl(path, table, kind, rnd)
        out = root.parent / "out"
        cfg = root.parent / "cfg.toml"
        cfg.write_text(tomli_w.dumps({"data": {"format": "smpd_video", "path": str(root)},
                                      "features": ["user_profile"], "models": ["ridge"], "stack": {"learners": []},
                                      "importance": {"permutation": False}, "cv": {"scheme": "kfold", "n_splits": 2},
                                      "output": {"runs_dir": str(out / "runs"), "submissions_dir": str(out / "subs"),
                                                 "cache_dir": str(out / "cache")}}))
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            rc = main(["-q", "run", "--config", str(cfg), "--out", str(out / "run")])
        text = err.getvalue()
        assert "Traceback" not in text
        if rc == 0:
            assert may_be_unchanged, (kind, text)
        else:
            assert rc == 2 and f"smp run: error: {path}" in text, (kind, text)
            assert not (out / "run").exists()
    finally:
        shutil.rmtree(root.parent)


# ------------------------------------------------------------------------------------------------ Python API
# The Python API takes frames, not files: columns of the new posts (or of the table smp.posts maps) are dropped,
# renamed, retyped or nested. The property: an error (a ValueError, which DataError is, or a TypeError) naming a
# column the corruption touched, or exactly the clean input's predictions; never a traceback of another kind, and
# never different numbers without an error.
API_MAPPING = {"post_id": "id", "user_id": "author", "post_time": "created_at", "title": "title", "label": "label",
               "tags": "tags", "user_columns": ["followers"]}
API_CONFIG = {"models": ["ridge"], "cv": {"scheme": "kfold", "n_splits": 3},
              "features": ["user_posts", "time", "text_stats", "user_profile", "hot_tags"]}
NEW_NAMES = ("caption", "user_extra", "meta_x", "tags2", "post_time")
API_SETTINGS = settings(SETTINGS, max_examples=30)


@pytest.fixture(scope="module")
def api_fitted(tmp_path_factory):
    """A Predictor fitted on 160 posts of a news table, the new posts' table and its PostFrame, and their clean
    predictions."""
    t = make_news_table(200)
    t["followers"] = np.random.default_rng(0).integers(0, 1000, len(t))
    t["tags"] = ["rust launch" if i % 3 else "ask" for i in range(len(t))]
    cache = tmp_path_factory.mktemp("api-cache")
    p = smp.Predictor(API_CONFIG, output={"cache_dir": str(cache)}).fit(smp.posts(t.iloc[:160], API_MAPPING))
    new_df = t.iloc[160:].drop(columns=["label", "points"]).reset_index(drop=True)
    new = smp.posts(new_df, API_MAPPING)
    return p, new_df, new, p.predict(new)


def _retyped(values: pd.Series, kind: str) -> pd.Series:
    items = values.tolist()
    if kind == "text":
        return pd.Series([str(v) for v in items], dtype=object)
    if kind == "numbers":
        return pd.Series(range(len(items)), dtype=float)
    if kind == "lists":
        return pd.Series([[v] for v in items], dtype=object)
    if kind == "structs":
        return pd.Series([{"x": v} for v in items], dtype=object)
    if kind == "bools":
        return pd.Series([i % 2 == 0 for i in range(len(items))], dtype=bool)
    return values  # "same": the column as it was


@st.composite
def frame_corruption(draw, columns: tuple[str, ...]):
    ops = []
    for _ in range(draw(st.integers(1, 2))):
        kind = draw(st.sampled_from(["drop", "rename", "retype", "duplicate_row", "reorder"]))
        ops.append((kind, draw(st.sampled_from(columns)), draw(st.sampled_from(NEW_NAMES)),
                    draw(st.sampled_from(["text", "numbers", "lists", "structs", "bools", "same"]))))
    return ops


def _apply(frame: pd.DataFrame, ops) -> tuple[pd.DataFrame, set[str]]:
    """The corrupted frame and the column names an error may name (the touched ones)."""
    touched: set[str] = set()
    for kind, column, new_name, retype in ops:
        if column not in frame.columns:
            continue
        if kind == "drop":
            frame = frame.drop(columns=column)
        elif kind == "rename":
            frame = frame.drop(columns=new_name, errors="ignore").rename(columns={column: new_name})
            touched.add(new_name)
        elif kind == "retype":
            frame = frame.assign(**{column: _retyped(frame[column], retype).set_axis(frame.index)})
        elif kind == "duplicate_row":
            frame = pd.concat([frame, frame.iloc[:1]])
            touched.update({"post_id", "id"})  # the PostFrame's id column, or the table's
        else:
            frame = frame.iloc[::-1][list(frame.columns)[::-1]]
        touched.add(column)
    return frame, touched


def _same_or_named(predict, frame: pd.DataFrame, touched: set[str], clean: pd.Series) -> None:
    try:
        got = predict(frame)
    except (ValueError, TypeError) as e:
        assert any(c in str(e) for c in touched) or "not a PostFrame" in str(e), (touched, str(e))
        return
    if set(got.index) == set(clean.index):
        got, want = got.reindex(clean.index).to_numpy(), clean.to_numpy()
    else:  # ids respelled (numbers for text): no id feeds a feature, so the same numbers, in some order
        got, want = np.sort(got.to_numpy()), np.sort(clean.to_numpy())
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9, err_msg=str(touched))


@API_SETTINGS
@given(data=st.data())
def test_api_predict_on_corrupted_new_posts_names_the_column_or_is_unchanged(api_fitted, data):
    p, _, new, clean = api_fitted
    _same_or_named(p.predict, *_apply(new, data.draw(frame_corruption(tuple(new.columns)))), clean)


@API_SETTINGS
@given(data=st.data())
def test_api_posts_of_a_corrupted_table_or_mapping_names_the_column_or_is_unchanged(api_fitted, data):
    p, new_df, _, clean = api_fitted
    table, touched = _apply(new_df, data.draw(frame_corruption(tuple(new_df.columns))))
    mapping = dict(API_MAPPING)
    dropped = data.draw(st.sampled_from([None, "title", "tags", "user_columns", "label"]))
    if dropped:  # a mapping entry left out: the canonical column it fed is the one to name
        mapping.pop(dropped)
        touched.add("user_followers" if dropped == "user_columns" else dropped)
    try:
        posts = smp.posts(table, mapping)
    except (ValueError, TypeError) as e:
        assert any(c in str(e) for c in touched), (touched, str(e))
        return
    _same_or_named(p.predict, posts, touched | {"post_id"}, clean)
