"""Run folders: destinations checked before any data is loaded, `smp predict` refuses anything that is not a finished,
intact run, concurrent runs on one `--out` end cleanly, stale temporary folders are removed, metrics are strict JSON."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from smp.pipelines.cli import main
from smp.pipelines.config import config_from_dict
from smp.pipelines.datasets.synthetic import generate_smpd_image
from smp.pipelines.runner import run
from smp.files import CLAIM, FolderBusy, _me, staged_dir
from smp.pipelines.fitted import RunFolderError, check_finished_run, read_fitted
from smp.pipelines.runfolder import _json


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return generate_smpd_image(tmp_path_factory.mktemp("d") / "smpd", n_posts=300, n_users=40, seed=1, image_size=0,
                               progress=False)


def tiny(tmp: Path, data: Path | str, **over) -> dict:
    raw = {"name": "tiny", "data": {"format": "smpd_image", "path": str(data)},
           "cv": {"scheme": "kfold", "n_splits": 3}, "features": ["user_profile", "time"], "models": ["ridge"],
           "stack": {"learners": []}, "importance": {"permutation": False},
           "output": {"runs_dir": str(tmp / "runs"), "submissions_dir": str(tmp / "subs"),
                      "cache_dir": str(tmp / "cache")}}
    raw.update(over)
    return raw


def write_toml(path: Path, raw: dict) -> Path:
    import tomli_w

    path.write_text(tomli_w.dumps(raw))
    return path


@pytest.fixture(scope="module")
def finished(tmp_path_factory, data_dir) -> Path:
    tmp = tmp_path_factory.mktemp("run")
    return run(config_from_dict(tiny(tmp, data_dir)), out=tmp / "done", progress=False)


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


# --------------------------------------------------------------------------------------- destinations up front
def test_submission_name_taken_fails_before_loading_data(tmp_path, capsys):
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / "mine.json").write_text("{}")
    cfg = write_toml(tmp_path / "c.toml", tiny(tmp_path, tmp_path / "no-such-data"))
    assert main(["-q", "run", "--config", str(cfg), "--out", str(tmp_path / "mine")]) == 2
    err = capsys.readouterr().err
    # The data folder does not exist, so naming the submission proves the check ran before any loading.
    assert f"{tmp_path / 'subs' / 'mine.json'} already exists" in err and "Traceback" not in err
    assert not (tmp_path / "mine").exists() and not any(tmp_path.glob(".mine.tmp-*"))


@contextlib.contextmanager
def immutable(d: Path):
    """`d` made a folder nobody can create files in, even root (immutable); skipped where chattr is not available."""
    d.mkdir(parents=True, exist_ok=True)
    d.chmod(0o555)
    if os.geteuid() == 0:
        if not shutil.which("chattr") or subprocess.run(["chattr", "+i", str(d)], capture_output=True).returncode:
            d.chmod(0o755)
            pytest.skip("cannot make a folder read-only for root here")
    try:
        yield d
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(d)], capture_output=True)
        d.chmod(0o755)


@pytest.fixture()
def readonly(tmp_path) -> Path:
    with immutable(tmp_path / "ro") as d:
        yield d


@pytest.mark.parametrize("where", ["out", "runs_dir", "submissions_dir", "cache_dir"])
def test_read_only_destinations_fail_before_loading_data(tmp_path, readonly, where, capsys):
    raw = tiny(tmp_path, tmp_path / "no-such-data")
    args = []
    if where == "out":
        args = ["--out", str(readonly / "run")]
    else:
        raw["output"][where] = str(readonly / where)
    cfg = write_toml(tmp_path / "c.toml", raw)
    assert main(["-q", "run", "--config", str(cfg), *args]) == 2
    err = capsys.readouterr().err
    assert "cannot write in" in err and str(readonly) in err and "Traceback" not in err, err


@pytest.mark.parametrize("sub, what", [("folds", "fold cache"), ("rows", "row cache")])
def test_a_read_only_cache_subfolder_fails_before_loading_data(tmp_path, sub, what, capsys):
    raw = tiny(tmp_path, tmp_path / "no-such-data")
    with immutable(tmp_path / "cache" / sub) as d:
        cfg = write_toml(tmp_path / "c.toml", raw)
        assert main(["-q", "run", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert f"[output].cache_dir's {what} {d}: cannot write in {d}" in err and "Traceback" not in err, err


@pytest.mark.parametrize("verb", ["evaluate", "tune"])
def test_an_out_under_a_file_fails_before_loading_data(tmp_path, verb, capsys):
    (tmp_path / "afile").write_text("x")
    raw = tiny(tmp_path, tmp_path / "no-such-data", models=[{"key": "lgbm"}], tuning={"n_trials": 1})
    cfg = write_toml(tmp_path / "c.toml", raw)
    assert main(["-q", verb, "--config", str(cfg), "--out", str(tmp_path / "afile" / "ev")]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'afile'} is a file, not a folder" in err and "Traceback" not in err, err


# ------------------------------------------------------------------------------------------ predict refuses
def test_predict_refuses_a_half_written_temporary_folder(finished, tmp_path, data_dir):
    tmp = finished.parent / f".{finished.name}.tmp-{os.getpid()}"
    shutil.copytree(finished, tmp)
    (tmp / CLAIM).write_text(json.dumps(_me()))
    try:
        with pytest.raises(RunFolderError, match=r"temporary folder of an unfinished run: process \d+ is still "
                                                 r"writing it; predict with the finished folder"):
            check_finished_run(tmp)
        assert main(["-q", "predict", "--run", str(tmp), "--data", str(data_dir),
                     "--out", str(tmp_path / "p.csv")]) == 2
        assert not (tmp_path / "p.csv").exists()
    finally:
        shutil.rmtree(tmp)


def test_predict_on_a_non_run_folder_says_what_is_missing(tmp_path, data_dir, capsys):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "metrics.json").write_text("{}")
    assert main(["-q", "predict", "--run", str(tmp_path / "notes"), "--data", str(data_dir),
                 "--out", str(tmp_path / "p.csv")]) == 2
    err = capsys.readouterr().err
    assert "is not a finished run folder: missing config.resolved.toml, data.json, features.json, oof.parquet" in err
    assert "models/fitted.joblib" in err and "Traceback" not in err
    (tmp_path / "empty").mkdir()
    assert main(["-q", "predict", "--run", str(tmp_path / "empty"), "--data", str(data_dir),
                 "--out", str(tmp_path / "p.csv")]) == 2
    assert "empty is not a run folder: it has none of the files `smp run` writes" in capsys.readouterr().err


def test_truncated_model_file_is_a_clear_error(finished, tmp_path, data_dir, capsys):
    broken = shutil.copytree(finished, tmp_path / "broken")
    model = broken / "models" / "fitted.joblib"
    model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    assert main(["-q", "predict", "--run", str(broken), "--data", str(data_dir), "--out", str(tmp_path / "p.csv")]) == 2
    err = capsys.readouterr().err
    assert f"{model}: changed or corrupted since the run finished" in err and "Traceback" not in err
    (broken / "manifest.json").unlink()  # without it nothing can be checked: refused, not predicted with
    assert main(["-q", "predict", "--run", str(broken), "--data", str(data_dir), "--out", str(tmp_path / "p.csv")]) == 2
    err = capsys.readouterr().err
    assert f"{broken} has no manifest.json" in err and "Traceback" not in err


def test_a_fitted_file_that_cannot_be_unpickled_is_a_clear_error(finished, tmp_path):
    broken = shutil.copytree(finished, tmp_path / "broken")
    (broken / "models" / "fitted.joblib").write_bytes(b"not a pickle")
    with pytest.raises(RunFolderError, match="fitted.joblib: cannot be loaded .*truncated or corrupt"):
        read_fitted(broken)


def test_flipped_bytes_in_a_run_file_are_found(finished, tmp_path):
    copy = shutil.copytree(finished, tmp_path / "copy")
    oof = copy / "oof.parquet"
    data = bytearray(oof.read_bytes())
    data[100:140] = bytes(b ^ 0xFF for b in data[100:140])
    oof.write_bytes(bytes(data))
    with pytest.raises(RunFolderError, match="oof.parquet: changed or corrupted since the run finished"):
        check_finished_run(copy)
    check_finished_run(finished)


def test_predict_works_on_the_finished_folder(finished, tmp_path, data_dir):
    other = shutil.copytree(data_dir, tmp_path / "other")
    for name in ("category", "text", "temporalspatial_information", "additional_information", "user_data"):
        path = other / "test" / f"test_{name}.json"
        path.write_text(path.read_text().replace('"Pid": "', '"Pid": "n'))
    assert main(["-q", "predict", "--run", str(finished), "--data", str(other), "--out", str(tmp_path / "p.csv")]) == 0


# ------------------------------------------------------------------------------------------------ concurrency
def test_live_claim_makes_a_second_run_fail_at_once(tmp_path, data_dir, capsys):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        claim = tmp_path / f".out.tmp-{sleeper.pid}"
        claim.mkdir()
        (claim / CLAIM).write_text(json.dumps({**_me(), "pid": sleeper.pid, "started": None}))
        cfg = write_toml(tmp_path / "c.toml", tiny(tmp_path, data_dir))
        assert main(["-q", "run", "--config", str(cfg), "--out", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err
        assert f"another smp process (pid {sleeper.pid}) is writing {tmp_path / 'out'}" in err and "Traceback" not in err
        assert claim.is_dir()  # a live run's folder is never touched
    finally:
        sleeper.kill()
        sleeper.wait()


def test_publish_onto_a_folder_another_run_filled_is_a_clean_error(tmp_path):
    final = tmp_path / "out"
    with pytest.raises(FolderBusy, match="was written by another smp process while this one was running"):
        with staged_dir(final, manifest=True) as tmp:
            (tmp / "metrics.json").write_text("{}")
            final.mkdir()
            (final / "metrics.json").write_text('{"other": 1}')  # the winner got there first
    assert json.loads((final / "metrics.json").read_text()) == {"other": 1}
    assert not tmp.exists()


def test_two_concurrent_runs_on_one_out(tmp_path, data_dir):
    """Two real `smp run` processes aimed at one --out: one finishes, the other ends with one clean line."""
    cfg = write_toml(tmp_path / "c.toml", tiny(tmp_path, data_dir))
    cmd = [sys.executable, "-m", "smp.pipelines.cli", "-q", "run", "--config", str(cfg), "--out", str(tmp_path / "out")]
    procs = [subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, cwd=tmp_path) for _ in range(2)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    codes = sorted(rc for rc, _ in results)
    assert codes == [0, 2], results
    loser = next(err for rc, err in results if rc == 2)
    assert "Traceback" not in loser and ("another smp process" in loser or "written by another smp" in loser), loser
    check_finished_run(tmp_path / "out")
    assert not list(tmp_path.glob(".out.tmp-*"))


def test_stale_temporary_folders_are_removed_by_the_next_run(tmp_path, data_dir, caplog):
    dead = _dead_pid()
    runs = tmp_path / "runs"
    runs.mkdir()
    claimed = runs / f".old-run.tmp-{dead}"
    claimed.mkdir()
    (claimed / CLAIM).write_text(json.dumps({**_me(), "pid": dead, "started": None}))
    legacy = runs / f".older.tmp-{dead}"  # killed before claim files existed: recognised by its run files
    (legacy / "models").mkdir(parents=True)
    (legacy / "config.resolved.toml").write_text("")
    unrelated = runs / f".notes.tmp-{dead}"  # not ours: never touched
    unrelated.mkdir()
    with caplog.at_level("WARNING", logger="smp"):
        d = run(config_from_dict(tiny(tmp_path, data_dir)), progress=False)
    assert not claimed.exists() and not legacy.exists() and unrelated.exists()
    assert f"removed {claimed}" in caplog.text and f"pid {dead}) is gone" in caplog.text
    check_finished_run(d)


def test_default_names_never_clash(tmp_path, data_dir):
    cfg = config_from_dict(tiny(tmp_path, data_dir, output={**tiny(tmp_path, data_dir)["output"], "submission": False}))
    a, b = run(cfg, progress=False), run(cfg, progress=False)
    assert a != b and check_finished_run(a) and check_finished_run(b)


# ---------------------------------------------------------------------------------------------- strict JSON
def test_metrics_never_hold_infinity(tmp_path, finished):
    _json(tmp_path / "m.json", {"a": float("inf"), "b": [float("nan"), 1.5], "c": {"d": -float("inf")}})
    assert json.loads((tmp_path / "m.json").read_text()) == {"a": None, "b": [None, 1.5], "c": {"d": None}}

    def no_constants(name):
        raise AssertionError(f"{name} in metrics.json")

    json.loads((finished / "metrics.json").read_text(), parse_constant=no_constants)
    json.loads((finished / "data.json").read_text(), parse_constant=no_constants)


def test_a_run_folder_of_the_older_layout_says_to_retrain(tmp_path):
    import joblib

    from smp.pipelines.fitted import FittedRun, RunFolderError, read_fitted

    old = FittedRun.__new__(FittedRun)
    object.__setattr__(old, "stack_levels", [{"ridge": {"kind": "ridge", "models": []}}])  # the old dict entries
    (tmp_path / "models").mkdir()
    joblib.dump(old, tmp_path / "models" / "fitted.joblib")
    with pytest.raises(RunFolderError, match="older smp.*rerun `smp run`"):
        read_fitted(tmp_path)
