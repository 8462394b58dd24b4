"""`smp retrain`: first job promotes, later jobs are compared on the same recent window, one job at a time, and a
job killed at any point leaves the registry and the champion as they were."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest
import tomli_w

from smp.pipelines.cli import main
from smp.pipelines.config import config_from_dict, load_config
from smp.pipelines.datasets.snapshot import snapshot_smpd_image
from smp.pipelines.datasets.synthetic import generate_smpd_image
from smp.pipelines.model_registry import Registry
from smp.pipelines.retraining import apply_retune, retrain, retune_due
from smp.pipelines.windows import latest_labelled

UNTIL = int(pd.Timestamp("2016-08-01", tz="UTC").timestamp())


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Two snapshots of one synthetic set (before Aug 2016, everything), a config file, a registry with v0001."""
    tmp = tmp_path_factory.mktemp("retrain")
    full = generate_smpd_image(tmp / "full", n_posts=500, n_users=60, seed=7, image_size=0, progress=False)
    snapshot_smpd_image(full, tmp / "early", UNTIL)
    raw = {
        "name": "rt", "seed": 1,
        "data": {"format": "smpd_image", "path": str(tmp / "early")},
        "cv": {"scheme": "time", "n_splits": 3},
        "features": [{"name": n} for n in ("user_posts", "time", "category", "text_stats", "user_target")],
        "models": [{"key": "lgbm", "params": {"n_estimators": 30, "num_leaves": 7}}, {"key": "ridge"}],
        "stack": {"learners": [{"key": "blend"}]},
        "output": {"runs_dir": str(tmp / "runs"), "cache_dir": str(tmp / "cache"),
                   "submissions_dir": str(tmp / "subs")},
        "retrain": {"registry_dir": str(tmp / "reg"), "window_frac": 0.2},
    }
    config = tmp / "rt.toml"
    config.write_text(tomli_w.dumps(raw))
    first = retrain(load_config(config), progress=False)
    return tmp, config, full, first


def _copy_registry(world, tmp_path) -> Registry:
    tmp = world[0]
    shutil.copytree(tmp / "reg", tmp_path / "reg")
    return Registry(tmp_path / "reg")


def _snapshot(reg: Registry):
    return (reg.root / "registry.json").read_bytes(), reg.versions(), reg.champion()


def test_first_retrain_promotes_and_records_manifest(world):
    tmp, config, full, first = world
    assert first.version == "v0001" and first.promoted and first.champion == "v0001"
    m = first.manifest
    assert m["parent"] is None and m["data"]["rows"]["train"] > 0 and len(m["data"]["fingerprint"]) == 64
    assert m["code_version"] and m["config"]["name"] == "rt" and m["metrics"]["final"]
    assert m["validation"]["rows"] == round(0.2 * m["data"]["rows"]["train"])
    assert m["features"]["cache"]["static_generators"] == 4
    assert not (tmp / "subs").exists()  # retraining writes no submission copies


def test_grown_data_challenger_compared_on_the_same_window(world, tmp_path):
    tmp, config, full, first = world
    reg = _copy_registry(world, tmp_path)
    res = retrain(load_config(config), data=full, registry_dir=reg.root, progress=False)
    val = res.manifest["validation"]
    assert res.version == "v0002" and res.manifest["parent"] == "v0001"
    assert val["champion"] is not None and val["rows"] > 0
    assert res.promoted == (val["gain"] > 0) and reg.champion() == ("v0002" if res.promoted else "v0001")
    # `smp predict` without --run uses the champion.
    rc = main(["-q", "predict", "--registry", str(reg.root), "--data", str(full), "--out", str(tmp_path / "a.csv")])
    assert rc == 0
    rc = main(["-q", "predict", "--run", str(reg.run_dir()), "--data", str(full), "--out", str(tmp_path / "b.csv")])
    assert rc == 0
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "a.csv"), pd.read_csv(tmp_path / "b.csv"))


def test_margin_keeps_the_champion(world, tmp_path):
    tmp, config, full, first = world
    reg = _copy_registry(world, tmp_path)
    cfg = load_config(config).evolve(retrain={"margin": 5.0})  # SRC can never improve by 5
    res = retrain(cfg, data=full, registry_dir=reg.root, progress=False)
    assert not res.promoted and reg.champion() == "v0001" and reg.versions() == ["v0001", "v0002"]
    assert "champion kept" in res.manifest["validation"]["reason"]


def test_second_job_exits_while_the_first_holds_the_lock(world, tmp_path, capsys):
    tmp, config, full, first = world
    reg = _copy_registry(world, tmp_path)
    before = _snapshot(reg)
    with reg.lock():
        rc = main(["-q", "retrain", "--config", str(config), "--registry", str(reg.root)])
        assert main(["-q", "registry", "--registry", str(reg.root), "rollback", "v0001"]) == 75
    assert rc == 75 and "another job holds the lock" in capsys.readouterr().err
    assert _snapshot(reg) == before


def _retrain_cmd(config, reg, data):
    return [sys.executable, "-m", "smp.pipelines.cli", "retrain", "--config", str(config), "--registry", str(reg.root),
            "--data", str(data)]


def test_kill_during_training_leaves_registry_then_rerun_succeeds(world, tmp_path):
    tmp, config, full, first = world
    reg = _copy_registry(world, tmp_path)
    before = _snapshot(reg)
    proc = subprocess.Popen(_retrain_cmd(config, reg, full), stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            text=True, env={**os.environ, "SMP_DEBUG": "1"})
    seen = []
    for line in proc.stderr:  # features are built: the learners are about to train
        seen.append(line)
        if "static feature columns" in line:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=120)
    assert proc.returncode == -signal.SIGKILL, "".join(seen)
    assert _snapshot(reg) == before
    assert any((reg.root / ".staging").iterdir())  # the killed job's work is there but not listed
    res = retrain(load_config(config), data=full, registry_dir=reg.root, progress=False)
    assert res.version == "v0002" and reg.versions() == ["v0001", "v0002"]
    assert not any((reg.root / ".staging").iterdir())


@pytest.mark.parametrize("point", [
    "before_switch",
    pytest.param("after_training", marks=pytest.mark.slow),
    pytest.param("before_version", marks=pytest.mark.slow),
    pytest.param("after_switch", marks=pytest.mark.slow),
])
def test_kill_during_promotion(world, tmp_path, point):
    """SIGKILL at each step of the promotion: before the switch nothing changed; after it, the complete new
    state. Either way a rerun succeeds and no partial version is ever listed."""
    tmp, config, full, first = world
    reg = _copy_registry(world, tmp_path)
    before = _snapshot(reg)
    proc = subprocess.run(_retrain_cmd(config, reg, full), capture_output=True, text=True, timeout=300,
                          env={**os.environ, "SMP_FAULT": point})
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    if point == "after_switch":
        assert reg.versions() == ["v0001", "v0002"]
        assert (reg.root / "v0002" / "manifest.json").is_file() and (reg.run_dir("v0002") / "oof.parquet").is_file()
        assert reg.champion() == ("v0002" if reg.manifest("v0002")["promoted"] else "v0001")
    else:
        assert _snapshot(reg) == before
    n = len(reg.versions())
    res = retrain(load_config(config), data=full, registry_dir=reg.root, progress=False)
    assert reg.versions() == [f"v{i:04d}" for i in range(1, n + 2)] and res.version == reg.versions()[-1]
    assert sorted(p.name for p in reg.root.iterdir() if p.name.startswith("v")) == reg.versions()


def test_apply_retune_switches_tuning_on_a_copy():
    base = config_from_dict({"models": [{"key": "ridge"}], "tuning": {"enabled": False}})
    cfg, tunes = apply_retune(base, True)
    assert tunes and cfg.tuning.enabled and cfg.tuning.retune and not base.tuning.enabled  # base is untouched
    cfg, tunes = apply_retune(base, False)
    assert not tunes and not cfg.tuning.enabled
    on = config_from_dict({"models": [{"key": "ridge"}], "tuning": {"enabled": True, "retune": True}})
    cfg, tunes = apply_retune(on, False)
    assert not tunes and cfg.tuning.enabled and not cfg.tuning.retune  # tuned params are reused, not re-searched


def test_retune_schedule(tmp_path):
    reg = Registry(tmp_path / "reg")
    now = datetime(2026, 1, 10, tzinfo=timezone.utc)
    assert retune_due(reg, 0, False, now)[0] is False
    assert retune_due(reg, 0, True, now)[0] is True
    assert retune_due(reg, 7, False, now) == (True, "scheduled every 7 days and never tuned yet")
    s = reg.stage()
    reg.commit(s, {"created": (now - timedelta(days=3)).isoformat(), "retuned": True}, promote=True)
    assert retune_due(reg, 7, False, now)[0] is False
    assert retune_due(reg, 2, False, now)[0] is True


def test_window_is_the_most_recent_labelled_posts():
    t0 = pd.Timestamp("2020-01-01", tz="UTC")
    posts = pd.DataFrame({"post_id": [f"p{i}" for i in range(10)],
                          "post_time": [t0 + pd.Timedelta(days=d) for d in (5, 1, 9, 3, 7, 2, 8, 0, 6, 4)],
                          "label": [1.0] * 9 + [float("nan")]})
    w = latest_labelled(posts, 0.3)
    assert list(w["post_id"]) == ["p4", "p6", "p2"]  # days 7, 8, 9 (p9, day 4, is unlabelled)


def test_compare_promotes_only_beyond_the_margin():
    from smp.pipelines.retraining import compare

    y = pd.Series([1.0, 2.0, 3.0, 4.0, 5.0])
    good, worse = pd.Series([1.1, 2.0, 3.2, 3.9, 5.1]), pd.Series([2.0, 1.0, 3.0, 5.0, 4.0])
    assert compare(y, good, worse, "src", 0.0)["promote"]
    assert not compare(y, good, worse, "src", 0.5)["promote"]  # SRC 1.0 vs 0.6: gain 0.4 < 0.5
    assert not compare(y, worse, good, "mae", 0.0)["promote"]  # lower is better for MAE
    assert compare(y, good, None, "src", 0.0)["promote"]  # no champion yet
