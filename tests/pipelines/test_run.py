"""End to end: synthetic SMPD-Image files -> `smp run` -> run folder -> `smp predict`."""

from __future__ import annotations

import json
import tomllib

import numpy as np
import pandas as pd
import pytest

from smp.pipelines.cli import main
from smp.pipelines.config import config_from_dict
from smp.pipelines.datasets.synthetic import generate_smpd_image
from smp.pipelines.runner import run
from smp.pipelines.submission import validate_submission

FEATURES = ["user_profile", "user_posts", "user_post_interval", "time", "geo", "category", "hot_tags", "text_stats",
            {"name": "tfidf_svd", "params": {"column": "title", "n_components": 4}}, "post_meta",
            "user_target", "category_target"]


def small_config(tmp_path, data_dir, **over) -> dict:
    raw = {
        "name": "tiny",
        "seed": 1,
        "data": {"format": "smpd_image", "path": str(data_dir)},
        "cv": {"scheme": "group", "n_splits": 3},
        "features": FEATURES,
        "models": [{"key": "lgbm", "params": {"n_estimators": 60, "num_leaves": 15}}, {"key": "ridge"}],
        "stack": {"learners": ["blend", "ridge"]},
        "output": {"runs_dir": str(tmp_path / "runs"), "submissions_dir": str(tmp_path / "subs"),
                   "cache_dir": str(tmp_path / "cache"), "post_id_prefix": "post"},
    }
    raw.update(over)
    return raw


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth") / "smpd"
    generate_smpd_image(root, n_posts=1500, n_users=150, seed=3, image_size=8, progress=False)
    return root


@pytest.fixture(scope="module")
def first_run(tmp_path_factory, data_dir):
    tmp = tmp_path_factory.mktemp("run")
    cfg = config_from_dict(small_config(tmp, data_dir))
    return tmp, run(cfg, progress=False)


def test_run_folder_contents(first_run):
    tmp, d = first_run
    for name in ["config.resolved.toml", "data.json", "features.json", "metrics.json", "oof.parquet",
                 "test_pred.parquet", "importance.csv", "report.md", "plots/pred_vs_true.png", "plots/importance.png",
                 "submission.json", "models/fitted.joblib", "models/train_posts.parquet"]:
        assert (d / name).is_file(), name
    assert not [p for p in d.parent.iterdir() if p.name.startswith(".")]  # no temporary folder left behind
    metrics = json.loads((d / "metrics.json").read_text())
    assert set(metrics["models"]) == {"lgbm", "ridge", "blend_2", "ridge_2"}
    assert metrics["models"]["lgbm"]["overall"]["src"] > 0.3
    assert len(metrics["models"]["lgbm"]["folds"]) == 3
    features = json.loads((d / "features.json").read_text())
    assert features["columns"]["user_target__mean"]["group"] == "target"
    imp = pd.read_csv(d / "importance.csv")
    assert {"feature", "group", "importance"} <= set(imp.columns) and imp["importance"].sum() == pytest.approx(1.0)
    oof = pd.read_parquet(d / "oof.parquet")
    assert oof["final"].notna().all() and (oof["fold"] >= 0).all()
    assert tomllib.loads((d / "config.resolved.toml").read_text())["name"] == "tiny"


def test_submission_official_and_copied(first_run, data_dir):
    tmp, d = first_run
    sub = json.loads((d / "submission.json").read_text())
    test_ids = pd.read_parquet(d / "test_pred.parquet")["post_id"]
    validate_submission(sub, test_ids, prefix="post")
    assert sub["result"][0]["post_id"].startswith("post")
    assert json.loads((tmp / "subs" / f"{d.name}.json").read_text()) == sub


def test_same_config_same_predictions_and_cache_reuse(first_run, data_dir, caplog):
    tmp, d = first_run
    cfg = config_from_dict(small_config(tmp, data_dir))
    with caplog.at_level("INFO", logger="smp"):
        d2 = run(cfg, progress=False)
    assert d2 != d
    pd.testing.assert_frame_equal(pd.read_parquet(d / "test_pred.parquet"), pd.read_parquet(d2 / "test_pred.parquet"))
    pd.testing.assert_frame_equal(pd.read_parquet(d / "oof.parquet"), pd.read_parquet(d2 / "oof.parquet"))
    assert any("10/10 generators from cache" in r.message for r in caplog.records)
    # Every level-1 fold came from the fold cache (nothing of what they read changed), and engine.json says so.
    assert any("3/3 folds from the fold cache" in r.message for r in caplog.records)
    for d_, cached in ((d, False), (d2, True)):
        folds = json.loads((d_ / "engine.json").read_text())["folds"]
        assert sorted(folds) == ["lgbm", "ridge"]
        assert all(f["from_cache"] is cached for fs in folds.values() for f in fs)


def test_same_config_refits_to_the_same_predictions(first_run, data_dir):
    """Determinism of the fits themselves: with the fold cache off every fold is refitted, bit for bit the same."""
    tmp, d = first_run
    raw = small_config(tmp, data_dir)
    raw["output"] = {**raw["output"], "fold_cache": False}
    d2 = run(config_from_dict(raw), progress=False)
    folds = json.loads((d2 / "engine.json").read_text())["folds"]
    assert not any(f["from_cache"] for fs in folds.values() for f in fs)
    pd.testing.assert_frame_equal(pd.read_parquet(d / "test_pred.parquet"), pd.read_parquet(d2 / "test_pred.parquet"))
    pd.testing.assert_frame_equal(pd.read_parquet(d / "oof.parquet"), pd.read_parquet(d2 / "oof.parquet"))


def test_predict_reproduces_test_predictions(first_run, data_dir, tmp_path):
    _, d = first_run
    out = tmp_path / "preds.csv"
    assert main(["-q", "predict", "--run", str(d), "--data", str(data_dir), "--out", str(out)]) == 0
    got = pd.read_csv(out, dtype={"post_id": str})
    want = pd.read_parquet(d / "test_pred.parquet")
    assert list(got["post_id"]) == list(want["post_id"])
    np.testing.assert_allclose(got["popularity_score"], want["final"], rtol=1e-6, atol=1e-6)
    # never overwrites
    assert main(["-q", "predict", "--run", str(d), "--data", str(data_dir), "--out", str(out)]) == 2


def test_predict_on_another_folder(first_run, tmp_path):
    _, d = first_run
    other = tmp_path / "other"
    generate_smpd_image(other, n_posts=300, n_users=40, seed=99, image_size=0, progress=False)
    out = tmp_path / "other.csv"
    assert main(["-q", "predict", "--run", str(d), "--data", str(other), "--out", str(out)]) == 0
    got = pd.read_csv(out)
    assert len(got) > 0 and np.isfinite(got["popularity_score"]).all()


def test_out_folder_never_overwritten(first_run, data_dir, tmp_path):
    tmp, d = first_run
    cfg = config_from_dict(small_config(tmp, data_dir))
    with pytest.raises(FileExistsError, match="refusing to overwrite"):
        run(cfg, out=d, progress=False)


def test_cli_lists(capsys):
    assert main(["features", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    by_name = {r["name"]: r for r in rows}
    assert by_name["user_target"]["uses_target"] and not by_name["time"]["uses_target"]
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "lgbm" in out and "catboost" in out


def test_cli_error_is_one_line(capsys, tmp_path):
    assert main(["run", "--config", str(tmp_path / "missing.toml")]) == 2
    err = capsys.readouterr().err
    assert "missing.toml does not exist" in err and "Traceback" not in err


def test_table_format_run_and_predict_via_cli(tmp_path):
    """A generic CSV (posts + users + time -> popularity) through a TOML config, then predict a new folder."""
    from tests._data import make_postframe

    frame = make_postframe(n_posts=500, n_users=60, seed=5)
    csv = frame.assign(tags=frame["tags"].map(",".join), when=frame["post_time"].astype(str))
    cols = ["post_id", "user_id", "when", "title", "tags", "category", "label", "user_follower_count"]
    (tmp_path / "data").mkdir()
    csv[csv.split == "train"][cols].to_csv(tmp_path / "data" / "train.csv", index=False)
    csv[csv.split == "test"][cols].drop(columns="label").to_csv(tmp_path / "data" / "test.csv", index=False)
    config = tmp_path / "table.toml"
    config.write_text(f"""
name = "table"
[data]
format = "table"
table = {{ train = "{tmp_path / 'data' / 'train.csv'}", test = "{tmp_path / 'data' / 'test.csv'}", mapping = {{ post_time = "when", title = "title", tags = "tags", tags_sep = ",", category = "category", user_columns = ["user_follower_count"] }} }}
[cv]
scheme = "kfold"
n_splits = 3
[[features]]
name = "user_profile"
[[features]]
name = "text_stats"
[[features]]
name = "user_target"
[[models]]
key = "lgbm"
params = {{ n_estimators = 40 }}
[stack]
learners = []
[output]
runs_dir = "{tmp_path / 'runs'}"
submissions_dir = "{tmp_path / 'subs'}"
cache_dir = "{tmp_path / 'cache'}"
""")
    assert main(["-q", "run", "--config", str(config), "--out", str(tmp_path / "run")]) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["final"] == "lgbm" and metrics["models"]["lgbm"]["overall"]["src"] > 0.3
    new = tmp_path / "new"
    new.mkdir()
    (new / "train.csv").write_text((tmp_path / "data" / "train.csv").read_text())
    test = pd.read_csv(tmp_path / "data" / "test.csv").head(20)
    test.assign(post_id="new_" + test["post_id"]).to_csv(new / "test.csv", index=False)
    assert main(["-q", "predict", "--run", str(tmp_path / "run"), "--data", str(new), "--out", str(tmp_path / "p.csv")]) == 0
    got = pd.read_csv(tmp_path / "p.csv")
    assert len(got) == 20 and got["post_id"].str.startswith("new_").all()


@pytest.mark.parametrize("scheme", ["kfold", "group"])
def test_permuted_labels_run_scores_near_zero(tmp_path, data_dir, scheme):
    """The leak check end to end: label encodings on, labels shuffled, every CV SRC near zero, no submission."""
    cfg = config_from_dict(small_config(tmp_path, data_dir, cv={"scheme": scheme, "n_splits": 3}))
    d = run(cfg, progress=False, permute_labels=True)
    metrics = json.loads((d / "metrics.json").read_text())
    for name, m in metrics["models"].items():
        assert abs(m["overall"]["src"]) < 0.1, (name, m["overall"]["src"])
    assert json.loads((d / "data.json").read_text())["labels_permuted"] is True
    assert not (d / "submission.json").exists() and not (tmp_path / "subs").exists()
