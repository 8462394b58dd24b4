"""Optuna tuning: spaces (FixedTrial), per-fold pruning reports, reuse/retune, two workers on one SQLite study,
and a killed tuning process whose study resumes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest

from smp.ensembles import get_model, make_folds
from smp.ensembles.tuning import search_spaces, CVObjective, get_space, params_from_trial, redact, tune

ROOT = Path(__file__).resolve().parents[2]


def _data(n=240, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "noise": rng.normal(size=n)})
    y = 2 * X["a"].to_numpy() - X["b"].to_numpy() + rng.normal(0, 0.5, n)
    return X, y, make_folds(X, scheme="kfold", n_splits=3, seed=0)


@pytest.mark.parametrize("key", sorted(search_spaces()))
def test_space_gives_valid_params_for_fixed_trial(key):
    study = optuna.create_study()
    trial = study.ask()
    params = get_space(key)(trial)
    get_model(key, params)  # the model accepts every name the space sets
    again = params_from_trial(key, trial.params)  # replaying stored values gives the same params
    assert again == params


def test_unknown_space_and_metric():
    X, y, folds = _data()
    with pytest.raises(KeyError, match="no search space"):
        get_space("blend")
    with pytest.raises(ValueError, match="tuning metric must be one of"):
        CVObjective("ridge", {}, X, y, folds, metric="rmse")


def test_redact_hides_password():
    assert redact("postgresql://me:secret@db:5432/x") == "postgresql://me:***@db:5432/x"
    assert redact("sqlite:///a.db") == "sqlite:///a.db"
    assert redact("postgresql+psycopg://me@db/x") == "postgresql+psycopg://me@db/x"  # no password to hide


def test_tune_reports_folds_reuses_and_retunes(tmp_path):
    X, y, folds = _data()
    url = f"sqlite:///{tmp_path / 'o.db'}"
    r = tune("ridge", X, y, folds, n_trials=4, storage=url, metric="smp")
    assert r.n_finished == 4 and not r.reused and set(r.best_params) == {"alpha"}
    study = optuna.load_study(study_name=r.study_name, storage=url)
    t0 = study.trials[0]
    assert sorted(t0.intermediate_values) == [0, 1, 2]  # one report per fold, for the MedianPruner
    assert {"src", "mae", "fold_values"} <= set(t0.user_attrs)
    # smp: the best trial has the best mean rank of SRC and MAE over the finished trials
    done = study.trials
    rank = (pd.Series([t.user_attrs["src"] for t in done]).rank(ascending=False)
            + pd.Series([t.user_attrs["mae"] for t in done]).rank())
    assert r.best_trial == done[int(rank.idxmin())].number
    again = tune("ridge", X, y, folds, n_trials=4, storage=url, metric="smp")
    assert again.reused and again.best_params == r.best_params
    assert len(optuna.load_study(study_name=r.study_name, storage=url).trials) == 4  # no new trials
    other = tune("ridge", X, y[::-1].copy(), folds, n_trials=2, storage=url, metric="smp")
    assert other.study_name != r.study_name  # other labels: another study, never the old best params
    fresh = tune("ridge", X, y, folds, n_trials=2, storage=url, metric="smp", retune=True)
    assert not fresh.reused and fresh.n_finished == 2


def test_median_pruner_prunes_bad_trials(tmp_path):
    X, y, folds = _data()
    url = f"sqlite:///{tmp_path / 'p.db'}"
    r = tune("ridge", X, y, folds, n_trials=25, storage=url, metric="src", startup_trials=3, warmup_folds=0)
    states = r.trials["state"].astype(str)
    assert states.str.endswith("COMPLETE").sum() >= 3 and r.n_finished == 25
    # huge alphas shrink the ridge to a constant-ish prediction; with 25 trials some trial falls below the median
    assert states.str.endswith("PRUNED").any()


def test_two_workers_share_one_sqlite_study(tmp_path):
    X, y, folds = _data()
    url = f"sqlite:///{tmp_path / 'w.db'}"
    r = tune("lgbm", X, y, folds, base_params={"n_estimators": 30, "num_threads": 1}, n_trials=6, storage=url,
             workers=2)
    study = optuna.load_study(study_name=r.study_name, storage=url)
    finished = [t for t in study.trials if t.state.is_finished()]
    assert len(finished) >= 6  # the budget counts trials of both workers (a worker may finish one more)
    workers = {t.user_attrs.get("worker") for t in finished if "worker" in t.user_attrs}
    assert len(workers) == 2 and os.getpid() not in workers
    assert len({t.number for t in study.trials}) == len(study.trials)


SCRIPT = """
import sys, numpy as np, pandas as pd
from smp.ensembles import make_folds
from smp.ensembles.tuning import tune

def main():
    rng = np.random.default_rng(0)
    n = 240
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "noise": rng.normal(size=n)})
    y = 2 * X["a"].to_numpy() - X["b"].to_numpy() + rng.normal(0, 0.5, n)
    folds = make_folds(X, scheme="kfold", n_splits=3, seed=0)
    r = tune("lgbm", X, y, folds, base_params={"n_estimators": 40, "num_threads": 1}, n_trials=int(sys.argv[2]),
             storage=sys.argv[1], study_prefix="resume")
    print("DONE", r.study_name, r.n_finished)

if __name__ == "__main__":
    main()
"""


def test_killed_tuning_process_resumes_the_same_study(tmp_path):
    script = tmp_path / "tune_script.py"
    script.write_text(textwrap.dedent(SCRIPT))
    url = f"sqlite:///{tmp_path / 'resume.db'}"
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.Popen([sys.executable, str(script), url, "200"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    name, done_before = None, []
    deadline = time.time() + 240
    try:
        while time.time() < deadline:  # wait until some trials are committed, then kill it hard
            time.sleep(0.5)
            try:
                summaries = optuna.get_all_study_summaries(url)
            except Exception:
                continue
            if summaries:
                name = summaries[0].study_name
                study = optuna.load_study(study_name=name, storage=url)
                done_before = [t.number for t in study.trials if t.state.is_finished()]
                if len(done_before) >= 3:
                    break
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert len(done_before) >= 3, "the tuning process committed no trials in time"
    before = optuna.load_study(study_name=name, storage=url)
    n_before = len(before.trials)
    # The budget of the second session is set after the kill: trials finish faster than the poll on an idle
    # machine, so a fixed budget could already be spent by the killed process.
    n_trials = len([t for t in before.trials if t.state.is_finished()]) + 5

    out = subprocess.run([sys.executable, str(script), url, str(n_trials)], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"DONE {name}" in out.stdout  # the same study, loaded, not a new one
    after = optuna.load_study(study_name=name, storage=url)
    assert len(optuna.get_all_study_summaries(url)) == 1
    finished = [t for t in after.trials if t.state.is_finished()]
    assert len(finished) >= n_trials  # the total budget, counted over both sessions
    new_numbers = [t.number for t in after.trials[n_before:]]
    assert new_numbers and min(new_numbers) >= n_before  # trial numbers continue
    assert all(t.number in {u.number for u in after.trials} for t in before.trials if t.state.is_finished())


def test_fold_generators_stay_per_fold_after_one_fold_at_a_time_tuning():
    """Tuning fits one fold at a time (each as fold 0); the run's fold k must still get fold k's generators."""
    from smp.ensembles import FoldFeatures

    class MeanOfLabels:
        name = "m"

        def clone(self):
            return MeanOfLabels()

        def fit_transform(self, frame, y, *, folds=None):
            self.mean_ = float(np.mean(y))
            return pd.DataFrame({"m__mean": np.full(len(frame), self.mean_)})

        def transform(self, frame):
            return pd.DataFrame({"m__mean": np.full(len(frame), self.mean_)})

    frame, y = pd.DataFrame({"a": range(30)}), np.arange(30.0)
    folds = make_folds(frame, scheme="kfold", n_splits=3)
    ff = FoldFeatures([MeanOfLabels()], frame, y)
    for fold in folds:
        ff.for_fold(0, *fold)
    for k, fold in enumerate(folds):
        ff.for_fold(k, *fold)
    assert [ff.fitted[k][0].mean_ for k in range(3)] == [y[tr].mean() for tr, _ in folds]
