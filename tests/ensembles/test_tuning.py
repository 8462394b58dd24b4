"""Optuna tuning: spaces (FixedTrial), per-fold pruning reports, reuse/retune, two workers on one SQLite study.
A tuning process SIGKILLed mid-study and resumed by the next one: tests/pipelines/test_tune_workers.py (`smp tune`
processes on SQLite and PostgreSQL)."""

from __future__ import annotations

import os

import numpy as np
import optuna
import pandas as pd
import pytest

from smp.ensembles import get_model, make_folds
from smp.ensembles.tuning import search_spaces, CVObjective, get_space, params_from_trial, redact, tune


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
