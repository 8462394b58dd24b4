"""The training parts: honest early stopping, metric-driven objectives, bagging, exclusion, selection inside
folds and out-of-fold calibration."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from smp.ensembles import Stopping, cross_fit, make_folds, make_model, stop_rows
from smp.ensembles.calibration import Calibrator, cross_fit_calibration
from smp.ensembles.models.linear import RidgeModel
from smp.ensembles.selection import select_features


def _data(n=400, noise=8, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n),
                      **{f"noise{i}": rng.normal(size=n) for i in range(noise)}})
    y = 2.0 * X["a"] - X["b"] + rng.normal(0, 0.5, n) + 8.0
    return X, y.to_numpy()


def _posts(n=400, seed=0):
    rng = np.random.default_rng(seed)
    t = pd.Timestamp("2022-01-01", tz="UTC") + pd.to_timedelta(np.sort(rng.integers(0, 500 * 86400, n)), unit="s")
    return pd.DataFrame({"user_id": [f"u{i}" for i in rng.integers(0, 60, n)], "post_time": t})


# ------------------------------------------------------------------------------------------- early stopping
def test_stop_rows_follow_the_fold_scheme():
    posts = _posts()
    rows = np.arange(100, 400)
    late = stop_rows(posts, rows, scheme="time", frac=0.2)
    assert late.sum() == 60 and posts["post_time"].iloc[rows[late]].min() >= posts["post_time"].iloc[rows[~late]].max()
    users = stop_rows(posts, rows, scheme="group", frac=0.2, seed=3)
    held = set(posts["user_id"].iloc[rows[users]])
    assert not held & set(posts["user_id"].iloc[rows[~users]])  # whole users are held back
    assert 0.15 <= users.mean() <= 0.35
    rand = stop_rows(posts, rows, scheme="kfold", frac=0.2, seed=3)
    assert rand.sum() == 60 and np.array_equal(rand, stop_rows(posts, rows, scheme="kfold", frac=0.2, seed=3))


class _Spy(RidgeModel):
    """A ridge that claims to stop early and records the rows it was given to stop on."""

    early_stops = True
    seen: list = []

    def _fit(self, X, y, X_val, y_val, sample_weight):
        type(self).seen.append(None if y_val is None else set(np.round(y_val, 9)))
        super()._fit(X, y, X_val, y_val, sample_weight)


@pytest.mark.parametrize("mode", ["inner", "refit", "validation", "none"])
def test_early_stopping_rows_are_never_the_scored_rows_unless_asked(mode):
    X, y = _data()
    folds = make_folds(X, scheme="kfold", n_splits=4, seed=0)
    _Spy.seen = []
    cross_fit(_Spy(), X, y, folds=folds, stopping=Stopping(mode), progress=False)
    # (A ridge reports no rounds, so `refit` has nothing to refit: one fit per fold, stopped on the inner rows.)
    assert len(_Spy.seen) == len(folds)
    for (tr, va), got in zip(folds, _Spy.seen):
        scored = set(np.round(y[va], 9))
        if mode in ("inner", "refit"):
            assert got and not got & scored and got <= set(np.round(y[tr], 9))
        elif mode == "validation":
            assert got == scored
        else:
            assert got is None


def test_refit_runs_the_found_rounds_scaled_on_the_whole_training_part():
    X, y = _data()
    folds = make_folds(X, scheme="kfold", n_splits=3, seed=0)
    lgbm = make_model("lgbm", {"n_estimators": 400, "early_stopping_rounds": 20, "learning_rate": 0.1})
    inner = cross_fit(lgbm, X, y, folds=folds, stopping=Stopping("inner"), progress=False)
    refit = cross_fit(lgbm, X, y, folds=folds, stopping=Stopping("refit"), progress=False)
    for mi, mr in zip(inner.models, refit.models):
        found = mi.fitted_rounds()
        assert found < 400 and mr.booster_.current_iteration() == round(found / 0.85)


# ------------------------------------------------------------------------------------------ metric objectives
def test_the_metric_picks_objectives_and_explicit_params_win():
    assert make_model("lgbm", metric="mae").params["objective"] == "l1"
    assert make_model("lgbm", metric="mape").params["metric"] == "mape"
    assert make_model("catboost", metric="mape").params["loss_function"] == "MAPE"
    assert make_model("catboost", metric="smp").params["loss_function"].startswith("Huber")
    assert make_model("mlp", metric="mae").params["loss"] == "l1"
    assert make_model("ridge", metric="mae").params["loss"] == "absolute"
    assert make_model("blend", metric="mape").params["loss"] == "relative"
    assert make_model("lgbm", {"objective": "huber"}, metric="mae").params["objective"] == "huber"


def test_absolute_loss_stacker_and_blend_fit_the_median():
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"p": rng.normal(size=600)})
    y = X["p"].to_numpy() + rng.standard_t(1.5, 600)  # heavy-tailed noise: the mean and the median part ways
    sq = make_model("ridge", metric="src").fit(X, y)
    ab = make_model("ridge", metric="mae").fit(X, y)
    mae = lambda m: np.mean(np.abs(m.predict(X) - y))  # noqa: E731
    assert mae(ab) < mae(sq)
    P = pd.DataFrame({"a": X["p"] + rng.normal(0, 0.3, 600), "b": rng.normal(size=600)})
    w = make_model("blend", metric="mae").fit(P, y).weights_
    assert w["a"] > 0.9 and abs(w.sum() - 1) < 1e-9


# --------------------------------------------------------------------------------------- bagging, exclusion
def test_multi_seed_bagging_averages_members_with_consecutive_seeds():
    X, y = _data()
    bag = make_model("lgbm", {"n_estimators": 30, "seeds": 3}, seed=5).fit(X, y)
    assert [m.params["seed"] for m in bag.members_] == [5, 6, 7]
    singles = [make_model("lgbm", {"n_estimators": 30}, seed=s).fit(X, y).predict(X) for s in (5, 6, 7)]
    np.testing.assert_allclose(bag.predict(X), np.mean(singles, axis=0))
    assert set(bag.feature_importance().index) == set(X.columns)
    again = make_model("lgbm", {"n_estimators": 30, "seeds": 3}, seed=5).fit(X, y)
    np.testing.assert_array_equal(again.predict(X), bag.predict(X))


def test_exclude_drops_columns_by_prefix():
    X, y = _data()
    m = make_model("lgbm", {"n_estimators": 10, "exclude": ["noise"]}).fit(X, y)
    assert m.columns_ == ["a", "b"]
    assert np.isfinite(m.predict(X)).all()  # the excluded columns may be present at predict time


# ------------------------------------------------------------------------------------------------- selection
@pytest.mark.parametrize("method", ["cumulative", "null"])
def test_selection_keeps_the_signal_and_drops_noise(method):
    X, y = _data(n=600, noise=12)
    kept = select_features(X, y, method=method, share=0.9, min_features=2)
    assert {"a", "b"} <= set(kept) and len(kept) < X.shape[1]


def test_selection_inside_a_model_sees_only_its_training_rows():
    X, y = _data(n=600, noise=12)
    m = make_model("lgbm", {"n_estimators": 30, "select": {"method": "cumulative", "share": 0.9}}).fit(X, y)
    assert m.columns_ == m.selection_ and len(m.columns_) < X.shape[1]
    # The same training rows give the same selection; validation rows are never an input of `fit`'s selection.
    m2 = make_model("lgbm", {"n_estimators": 30, "select": {"method": "cumulative", "share": 0.9}}).fit(X, y)
    assert m2.selection_ == m.selection_


# ----------------------------------------------------------------------------------------------- calibration
def test_isotonic_and_linear_maps_fix_a_miscalibrated_prediction():
    rng = np.random.default_rng(2)
    y = rng.normal(8, 1, 500)
    pred = 0.5 * (y - 8) + 7 + rng.normal(0, 0.3, 500)  # right order, wrong scale and offset
    t = pd.Series(pd.date_range("2022-01-01", periods=500, freq="D", tz="UTC"))
    for method in ("isotonic", "linear"):
        cal = Calibrator(method).fit(pred, y, t)
        assert np.mean(np.abs(cal(pred, pd.DataFrame({"post_time": t})) - y)) < 0.5 * np.mean(np.abs(pred - y))


def test_trend_correction_extrapolates_a_drift_to_later_posts():
    t = pd.Series(pd.date_range("2022-01-01", periods=730, freq="D", tz="UTC"))
    y = 7.0 + np.arange(730) / 365.0  # +1 per year
    pred = np.full(730, 7.5)  # a model that cannot see the drift
    cal = Calibrator("none", trend=True).fit(pred, y, t)
    later = pd.DataFrame({"post_time": pd.date_range("2024-06-30", periods=10, freq="D", tz="UTC")})
    np.testing.assert_allclose(cal(np.full(10, 7.5), later), 7.0 + (np.arange(10) + 911) / 365.0, atol=0.02)
    assert cal.describe()["trend_per_year"] == pytest.approx(1.0, abs=0.01)


def test_median_guard_never_loses_to_the_median_out_of_fold():
    rng = np.random.default_rng(3)
    y = np.concatenate([np.zeros(300), rng.exponential(3, 100)])  # heavy-tailed: most posts have nothing
    pred = np.full(400, y.mean()) + rng.normal(0, 0.5, 400)  # the mean predicts badly on MAE
    t = pd.Series(pd.date_range("2022-01-01", periods=400, freq="D", tz="UTC"))
    folds = make_folds(pd.DataFrame(index=range(400)), scheme="kfold", n_splits=5, seed=0)
    oof = cross_fit_calibration(Calibrator("none", median_guard=True, absolute=True), pred, y, t, folds)
    assert np.mean(np.abs(oof - y)) <= np.mean(np.abs(np.median(y) - y)) + 1e-9
    assert np.mean(np.abs(oof - y)) < np.mean(np.abs(pred - y))


def test_relative_calibration_fits_its_lines_for_mape():
    # Errors on small labels cost MAPE most: the 1 / |label|-weighted line beats the plain least-absolute line there.
    rng = np.random.default_rng(4)
    y = np.exp(rng.normal(1.5, 0.8, 600))
    pred = 0.6 * y + 2.0 + rng.normal(0, 0.3, 600) * np.sqrt(y)
    t = pd.Series(pd.date_range("2022-01-01", periods=600, freq="D", tz="UTC"))
    posts = pd.DataFrame({"post_time": t})
    mape = lambda p: float(np.mean(np.abs(p - y) / np.abs(y)))  # noqa: E731
    plain = Calibrator("linear", absolute=True).fit(pred, y, t)
    relative = Calibrator("linear", absolute=True, relative=True).fit(pred, y, t)
    assert mape(relative(pred, posts)) < mape(plain(pred, posts)) - 0.005
    assert mape(relative(pred, posts)) < mape(pred)
