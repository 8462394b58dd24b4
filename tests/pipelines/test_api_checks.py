"""The Python API and the table path name every bad input before any work: new posts are checked against the run's
frame schema (columns and kinds of values), ids have one spelling, times name their row, nested values are refused,
and a frame that `smp.posts` did not build is told so. Valid inputs keep their predictions."""

from __future__ import annotations

import json
import logging
import shutil
import warnings

import numpy as np
import pandas as pd
import pytest

import smp
from smp.pipelines.api import Predictor
from smp.pipelines.cli import main
from smp.pipelines.commands.options import parse_seeds
from smp.pipelines.config import load_config
from smp.pipelines.datasets import DataError, load_table
from smp.pipelines.fitted import RunFolderError
from tests._data import make_news_table

MAPPING = {"post_id": "id", "user_id": "author", "post_time": "created_at", "title": "title", "label": "label",
           "tags": "tags", "user_columns": ["followers"]}
RIDGE = {"models": ["ridge"], "cv": {"scheme": "kfold", "n_splits": 3},
         "features": ["user_posts", "time", "text_stats", "user_profile", "hot_tags"]}


def news_table(n: int = 300) -> pd.DataFrame:
    t = make_news_table(n)
    t["followers"] = np.random.default_rng(0).integers(0, 1000, n)
    t["tags"] = ["rust launch" if i % 3 else "ask" for i in range(n)]
    return t


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A fitted predictor, the same loaded back from its run folder, and the new posts' table and PostFrame."""
    t = news_table()
    tmp = tmp_path_factory.mktemp("api")
    train_df, new_df = t.iloc[:240].reset_index(drop=True), t.iloc[240:].drop(columns=["label", "points"])
    p = Predictor(RIDGE, output={"cache_dir": str(tmp / "cache")}).fit(smp.posts(train_df, MAPPING))
    q = Predictor.load(p.save(tmp / "run"))
    return p, q, new_df.reset_index(drop=True), smp.posts(new_df, MAPPING)


def _renamed(f: pd.DataFrame) -> pd.DataFrame:
    return f.rename(columns={"title": "caption"})


# (case, corruption of the new posts' PostFrame, error type, message)
BAD_NEW_POSTS = [
    ("missing profile column", lambda f: f.drop(columns="user_followers"), DataError,
     "column 'user_followers': the run's training posts have this column but the new posts lack it"),
    ("missing post_time", lambda f: f.drop(columns="post_time"), DataError, "column 'post_time': the run's training"),
    ("missing tags", lambda f: f.drop(columns="tags"), DataError, "column 'tags': the run's training posts have"),
    ("title renamed", _renamed, DataError, "column 'title': the run's training posts have this column"),
    ("extra column", lambda f: f.assign(user_extra=1.0), DataError,
     "column 'user_extra': the new posts have this column but the run's training posts lack it"),
    ("profile column as text", lambda f: f.assign(user_followers="many"), DataError,
     "column 'user_followers': values must be numbers, as in the run's training posts"),
    ("title as numbers", lambda f: f.assign(title=1.0), DataError, "column 'title': values must be text"),
    ("tags as text", lambda f: f.assign(tags="a b"), DataError, "column 'tags': values must be lists of texts"),
    ("naive times", lambda f: f.assign(post_time=f["post_time"].dt.tz_localize(None)), DataError,
     "column 'post_time': values must be UTC datetimes"),
    ("duplicate ids", lambda f: pd.concat([f, f.iloc[:2]]), DataError, "column 'post_id': post ids must be unique"),
    ("not a frame", lambda f: f.to_dict("records"), TypeError, "expected a PostFrame"),
]


@pytest.mark.parametrize("case, corrupt, error, match", BAD_NEW_POSTS, ids=[c[0] for c in BAD_NEW_POSTS])
@pytest.mark.parametrize("which", ["fitted", "loaded"])
def test_predict_refuses_new_posts_unlike_the_training_posts(fitted, which, case, corrupt, error, match):
    p, q, _, new = fitted
    with pytest.raises(error, match=match):
        (p if which == "fitted" else q).predict(corrupt(new))


@pytest.mark.parametrize("left_out", ["title", "tags"])
def test_predict_names_a_column_the_new_posts_mapping_leaves_out(fitted, left_out):
    p, q, new_df, _ = fitted
    posts = smp.posts(new_df, {k: v for k, v in MAPPING.items() if k != left_out})
    for predictor in (p, q):
        with pytest.raises(DataError, match=f"column '{left_out}': the run's training posts have values in this "
                                            "column but the new posts' mapping maps no column to it"):
            predictor.predict(posts)


def test_predict_names_a_raw_table_and_keeps_valid_numbers(fitted):
    p, q, new_df, new = fitted
    for predictor in (p, q):
        with pytest.raises(ValueError, match=r"not a PostFrame: .*pass the table through smp.posts\(df, mapping\)"):
            predictor.predict(new_df)
    expected = p.predict(new)
    np.testing.assert_array_equal(q.predict(new).to_numpy(), expected.to_numpy())
    # Reordered columns and rows, and a non-default index, are the same posts.
    shuffled = new.iloc[::-1].set_index(np.arange(len(new)) + 7)[list(new.columns)[::-1]]
    pd.testing.assert_series_equal(p.predict(shuffled).sort_index(), expected.sort_index())


def test_the_schema_is_stored_in_the_run_folder(fitted):
    p, q, _, _ = fitted
    schema = json.loads((q.run_dir_ / "schema.json").read_text())
    assert schema == p.schema_ == q.schema_
    assert schema["user_followers"] == "number" and schema["tags"] == "tags" and schema["post_time"] == "time"


def test_the_schema_knows_every_canonical_column():
    from smp.pipelines.datasets._frameschema import CANONICAL_KINDS, OPTIONAL_TEXT
    from smp.pipelines.datasets._schema import CORE_COLUMNS, OPTIONAL_STRING_COLUMNS

    assert set(CANONICAL_KINDS) == set(CORE_COLUMNS) and OPTIONAL_TEXT == OPTIONAL_STRING_COLUMNS


def test_a_run_folder_without_its_manifest_is_refused(fitted, tmp_path):
    _, q, _, _ = fitted
    copy = shutil.copytree(q.run_dir_, tmp_path / "copy")
    (copy / "manifest.json").unlink()
    (copy / "config.resolved.toml").write_text((copy / "config.resolved.toml").read_text() + "\n# edited\n")
    with pytest.raises(RunFolderError, match="has no manifest.json"):
        Predictor.load(copy)


# ----------------------------------------------------------------------------------------------------- fit
def test_fit_names_raw_tables_missing_labels_and_constant_labels(tmp_path):
    t = news_table(120)
    with pytest.raises(ValueError, match=r"train_posts: not a PostFrame: .*smp.posts\(df, mapping\)"):
        Predictor(RIDGE).fit(t)
    unlabelled = smp.posts(t, {**MAPPING, "label": "score"})
    assert unlabelled["split"].eq("test").all()  # a table without the label column holds new posts ...
    with pytest.raises(ValueError, match="no labelled post among 120: .*no label column 'score'"):
        Predictor(RIDGE).fit(unlabelled)  # ... which fit refuses, naming the column, before any work
    train = smp.posts(t, MAPPING)
    with pytest.raises(DataError, match="column 'user_followers': the run's training posts have this column"):
        Predictor(RIDGE).fit(train.iloc[:100], test=smp.posts(t.iloc[100:].drop(columns="label"),
                                                              {**MAPPING, "user_columns": []}))
    with pytest.raises(ValueError, match="all 120 training labels are 2: metric src .* undefined for constant"):
        Predictor(RIDGE, output={"cache_dir": str(tmp_path)}).fit(smp.posts(t.assign(label=2.0), MAPPING))


# ------------------------------------------------------------------------------------------ smp.posts values
def _posts(**columns) -> pd.DataFrame:
    base = {"id": ["1", "2", "3"], "author": ["a", "b", "a"], "created_at": ["2020-01-01"] * 3}
    return pd.DataFrame({**base, **columns})


M = {"post_id": "id", "user_id": "author", "post_time": "created_at"}
BAD_VALUES = [
    ("struct id", _posts(id=[{"x": "1"}, {"x": "2"}, {"x": "3"}]), M, "column 'id': ids must be .*row 1: {'x': '1'}"),
    ("fractional id", _posts(id=[1.5, 2.0, 3.0]), M, "column 'id': ids must be non-empty strings or integers"),
    ("list id", _posts(id=[np.array([1]), np.array([2]), np.array([3])]), M, "column 'id': ids must be"),
    ("struct title", _posts(t=[{"a": 1}] * 3), {**M, "title": "t"},
     "column 't': value must be a number or text, not a list"),
    ("nested tags", _posts(g=[[["a"]], [["b"]], []]), {**M, "tags": "g"}, "column 'g': tags must be text or numbers"),
    ("struct profile", _posts(f=[{"n": 1}] * 3), {**M, "user_columns": ["f"]},
     "column 'f': value must be a number or text, not a list"),
    ("time 2999", _posts(created_at=["2999-01-01"] * 3), M,
     r"column 'created_at': time must lie between 1678 and 2261 .*row 1: '2999-01-01'"),
    ("epoch 99999999999", _posts(created_at=["99999999999", "1", "2"]), {**M, "time_unit": "s"},
     r"column 'created_at': time must lie between 1678 and 2261 .*epoch in unit 's' .*row 1"),
    ("empty user_id name", _posts(), {**M, "user_id": ""}, r"TableMapping.user_id must name a column.*''"),
    ("empty title name", _posts(), {**M, "title": ""}, r"TableMapping.title must name a column"),
    ("bad split", _posts(s=["train", "nope", "test"], label=[1.0, 2.0, None]), {**M, "split": "s"},
     r"column 's': split must be one of .*row 2: 'nope'"),
]


@pytest.mark.parametrize("case, table, mapping, match", BAD_VALUES, ids=[c[0] for c in BAD_VALUES])
def test_posts_names_values_it_cannot_map(case, table, mapping, match):
    with pytest.raises(ValueError, match=match):
        smp.posts(table, mapping)


def test_ids_and_tags_have_one_spelling():
    posts = smp.posts(_posts(id=[13389.0, 2.0, np.int64(3)], tags=[123, 456.0, None]), {**M, "tags": "tags",
                                                                                         "tags_sep": ","})
    assert posts["post_id"].tolist() == ["13389", "2", "3"]
    assert posts["tags"].tolist() == [["123"], ["456"], []]
    assert smp.posts(_posts(tags=[["x", 7], np.array(["y"]), "p, q"]), {**M, "tags": "tags", "tags_sep": ","})[
        "tags"].tolist() == [["x", "7"], ["y"], ["p", "q"]]


def test_parquet_float_ids_match_integer_ids_and_structs_are_refused(tmp_path):
    train = pd.DataFrame({"id": [13389, 13390], "author": ["a", "b"], "created_at": ["2020-01-01"] * 2,
                          "label": [1.0, 2.0]})
    train.to_parquet(tmp_path / "train.parquet")
    test = pd.DataFrame({"id": [13389.0, np.nan], "author": ["a", "b"], "created_at": ["2020-01-02"] * 2})
    test.iloc[:1].to_parquet(tmp_path / "test.parquet")
    with pytest.raises(DataError, match=r"a post id must not appear in both train and test .*row 1: '13389'"):
        load_table(tmp_path / "train.parquet", tmp_path / "test.parquet", {**M, "label": "label"})
    test.assign(id=[13562.0, 13563.0]).to_parquet(tmp_path / "test.parquet")
    frame = load_table(tmp_path / "train.parquet", tmp_path / "test.parquet", {**M, "label": "label"})
    assert frame["post_id"].tolist() == ["13389", "13390", "13562", "13563"]
    test.assign(id=[{"x": "13562"}, {"x": "13563"}]).to_parquet(tmp_path / "test.parquet")
    with pytest.raises(DataError, match=r"test.parquet: column 'id': ids must be .*row 1: {'x': '13562'}"):
        load_table(tmp_path / "train.parquet", tmp_path / "test.parquet", {**M, "label": "label"})


def test_a_csv_time_out_of_range_names_file_line_and_column(tmp_path):
    _posts(label=[1.0, 2.0, 3.0], created_at=["2020-01-01", "2999-01-01", "2020-01-02"]).to_csv(
        tmp_path / "t.csv", index=False)
    with pytest.raises(DataError, match=r"t.csv: column 'created_at': time must lie .*line 3: '2999-01-01'"):
        load_table(tmp_path / "t.csv", mapping={**M, "label": "label"})


def test_thousands_of_profile_columns_map_without_warnings():
    t = _posts()
    wide = pd.concat([t, pd.DataFrame({f"f{k}": [1.0, 2.0, 3.0] for k in range(300)})], axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        posts = smp.posts(wide, {**M, "user_columns": [f"f{k}" for k in range(300)]})
    assert posts.shape[1] == 17 + 300  # pandas warns of a fragmented frame from about 100 inserts


# ------------------------------------------------------------------------------------------------ CLI bits
@pytest.mark.parametrize("text, match", [
    ("0,0", r"--seeds must name each seed once, got '0,0' \(seed 0 twice\)"),
    ("0,,a", r"--seeds must be comma-separated integers like 0,1,2, got '0,,a' \(item '' is not an integer\)"),
    ("1,x", r"--seeds must be .*\(item 'x' is not an integer\)"),
    ("-1", r"--seeds must be integers >= 0, got '-1'"),
])
def test_seeds_are_parsed_once_and_named(text, match):
    with pytest.raises(ValueError, match=match):
        parse_seeds(text)


def test_good_seeds_parse():
    assert parse_seeds("0, 1,2") == [0, 1, 2]


@pytest.mark.parametrize("seeds", ["0,0", "0,,a"])
def test_evaluate_names_bad_seeds_before_any_work(tmp_path, seeds, capsys):
    assert main(["-q", "evaluate", "--seeds", seeds, "--data", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert "--seeds must" in err and "Traceback" not in err


def test_a_toml_config_with_a_byte_order_mark_is_read(tmp_path):
    (tmp_path / "c.toml").write_bytes(b"\xef\xbb\xbfname = 'bom'\n[[models]]\nkey = 'ridge'\n")
    assert load_config(tmp_path / "c.toml").name == "bom"


def test_a_run_without_test_posts_says_why_it_writes_no_submission(tmp_path, caplog):
    import tomli_w

    news_table(80).to_csv(tmp_path / "train.csv", index=False)
    raw = {"name": "notest", "data": {"format": "table", "table": {"train": str(tmp_path / "train.csv"),
                                                                    "mapping": MAPPING}},
           **RIDGE, "importance": {"permutation": False},
           "output": {"runs_dir": str(tmp_path / "runs"), "submissions_dir": str(tmp_path / "subs"),
                      "cache_dir": str(tmp_path / "cache")}}
    (tmp_path / "c.toml").write_text(tomli_w.dumps(raw))
    with caplog.at_level(logging.WARNING, logger="smp"):
        assert main(["-q", "run", "--config", str(tmp_path / "c.toml"), "--out", str(tmp_path / "r")]) == 0
    assert "no test posts, so no submission.json is written" in caplog.text
    assert not (tmp_path / "r" / "submission.json").exists()
