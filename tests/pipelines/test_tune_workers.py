"""`smp tune` worker processes on one study, on PostgreSQL (a real server, see tests/_servers.py) and SQLite: two
workers share the trial budget; a worker SIGKILLed mid-trial (after finishing some trials) is found by the heartbeat,
its trial failed and retried with the same parameters; the next process resumes the same study, keeps the finished
trials, and the budget counts only finished trials, over both processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import optuna
import pytest
import tomli_w
from optuna.trial import TrialState

from smp.pipelines.datasets.synthetic import generate_smpd_image

GRACE = 2  # seconds without a heartbeat before a running trial counts as dead (heartbeat every second)


@pytest.fixture(scope="module")
def tune_config(tmp_path_factory):
    """A small synthetic data set and a config whose LightGBM folds take a fraction of a second each."""
    tmp = tmp_path_factory.mktemp("tunew")
    data = generate_smpd_image(tmp / "data", n_posts=800, n_users=80, seed=3, image_size=0, progress=False)
    raw = {
        "name": "tw", "seed": 1,
        "data": {"format": "smpd_image", "path": str(data)},
        "cv": {"scheme": "kfold", "n_splits": 3},
        "features": ["user_profile", "user_posts", "time", "category", "text_stats"],
        "models": [{"key": "lgbm", "params": {"n_estimators": 300, "num_threads": 1}}],
        "output": {"runs_dir": str(tmp / "runs"), "cache_dir": str(tmp / "cache")},
        "tuning": {"heartbeat_interval": 1, "grace_period": GRACE, "startup_trials": 50},  # no pruning here
    }
    path = tmp / "tw.toml"
    path.write_text(tomli_w.dumps(raw))
    return path


def _tune_cmd(config, url, trials, out):
    return [sys.executable, "-m", "smp.pipelines.cli", "-q", "tune", "--config", str(config), "--storage", url,
            "--trials", str(trials), "--out", str(out)]


def _study(url):
    (summary,) = optuna.get_all_study_summaries(url)
    return optuna.load_study(study_name=summary.study_name, storage=url)


def test_two_tune_processes_share_one_postgres_study(tune_config, postgres_url, tmp_path):
    procs = [subprocess.Popen(_tune_cmd(tune_config, postgres_url, 6, tmp_path / f"w{i}"), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(2)]
    outs = [p.communicate(timeout=240) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
        assert f"study dashboard: optuna-dashboard {postgres_url}" in out
    study = _study(postgres_url)
    finished = study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))
    per_worker = Counter(t.user_attrs["worker"] for t in finished)
    print(f"\nPostgreSQL study {study.study_name}: finished trials per worker pid {dict(per_worker)}")
    assert set(per_worker) == {p.pid for p in procs}  # both processes ran trials of the one study
    # The budget is global: a worker stops once 6 trials are finished, the other may be one trial in already.
    assert 6 <= len(finished) <= 7
    assert not study.get_trials(states=(TrialState.RUNNING, TrialState.FAIL, TrialState.WAITING))


def _storage_url(kind, request, tmp_path):
    if kind == "postgresql":
        return request.getfixturevalue("postgres_url")
    return f"sqlite:///{tmp_path / 'kill.db'}"


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_killed_worker_trial_is_failed_and_retried(kind, tune_config, tmp_path, request):
    url = _storage_url(kind, request, tmp_path)
    worker = subprocess.Popen(_tune_cmd(tune_config, url, 500, tmp_path / "killed"), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    victim = None
    try:
        deadline = time.time() + 180
        storage = None
        while victim is None and time.time() < deadline and worker.poll() is None:
            time.sleep(0.05)
            try:
                storage = storage or optuna.storages.RDBStorage(url)
                studies = storage.get_all_studies()
                trials = storage.get_all_trials(studies[0]._study_id) if studies else []
            except Exception:  # the worker is still creating the schema
                storage, trials = None, []
            # Mid-trial (its first fold is reported, the other two are still fitting), with trials finished before.
            if sum(t.state == TrialState.COMPLETE for t in trials) >= 2:
                victim = next((t for t in trials if t.state == TrialState.RUNNING and t.intermediate_values), None)
        assert victim is not None, f"no trial seen mid-run: {worker.stderr.read()[-3000:] if worker.poll() else ''}"
        os.kill(worker.pid, signal.SIGKILL)
    finally:
        worker.kill()
        worker.wait()
    study = _study(url)
    before = {t.number: t.state for t in study.trials}
    assert before[victim.number] == TrialState.RUNNING  # nobody is left to finish or fail it
    n_done = sum(s in (TrialState.COMPLETE, TrialState.PRUNED) for s in before.values())
    time.sleep(GRACE + 1)  # its heartbeat is now older than the grace period

    budget = n_done + 2
    out = subprocess.run(_tune_cmd(tune_config, url, budget, tmp_path / "resumed"), capture_output=True, text=True,
                         timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    study = _study(url)
    after = {t.number: t for t in study.trials}
    print(f"\n{kind}: killed worker's trial {victim.number}: {before[victim.number].name} -> "
          f"{after[victim.number].state.name}; states before {Counter(s.name for s in before.values())}, "
          f"after {Counter(t.state.name for t in after.values())}")
    assert after[victim.number].state == TrialState.FAIL  # failed through the heartbeat, by the next worker
    # The killed process's finished trials stay in the one study, and the next process numbers its trials after them.
    assert all(after[n].state == s for n, s in before.items() if s == TrialState.COMPLETE) and n_done >= 2
    assert min(set(after) - set(before)) == len(before)
    retries = [t for t in after.values() if t.system_attrs.get("failed_trial") == victim.number]
    assert len(retries) == 1 and retries[0].params == victim.params  # queued again with the same parameters
    assert retries[0].state == TrialState.COMPLETE and retries[0].user_attrs["worker"] != worker.pid
    finished = [t for t in after.values() if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == budget  # the failed trial is not counted: the budget holds finished trials only
    assert not [t for t in after.values() if t.state in (TrialState.RUNNING, TrialState.WAITING)]
