"""Shared contract for every registered model wrapper."""

from __future__ import annotations

import functools
import pickle

import joblib
import numpy as np
import pandas as pd
import pytest

from smp.ensembles import MODELS, get_model

BLENDS = ("blend", "greedy_blend")  # learners that weigh their inputs (model predictions): finite inputs only

FAST = {"lgbm": {"n_estimators": 60}, "catboost": {"iterations": 60}, "tabnet": {"max_epochs": 40, "patience": 10},
        "mlp": {"max_epochs": 40, "patience": 10}, "realmlp": {"n_epochs": 30},
        "xgboost": {"n_estimators": 60}}


def _data(n=300, seed=0, missing=True):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n),
                      "c": pd.Categorical(rng.choice(["x", "y", "z"], n))})
    y = 2 * X["a"].to_numpy() - X["b"].to_numpy() + (X["c"] == "x").to_numpy() + rng.normal(0, 0.3, n)
    if missing:  # missing values and categories must be accepted by every learner but the blend of predictions
        X.loc[rng.random(n) < 0.1, "c"] = np.nan
        X.loc[rng.random(n) < 0.1, "b"] = np.nan
    return X, y


@pytest.fixture(params=sorted(MODELS))
def key(request):
    return request.param


def _fit(key, X, y):
    m = get_model(key, FAST.get(key))
    return m.fit(X.iloc[:200], y[:200], X_val=X.iloc[200:], y_val=y[200:])


@functools.cache
def _fitted(key):
    """One fitted model per key on the contract data, shared by the read-only checks (neural fits cost seconds)."""
    X, y = _data(missing=key not in BLENDS)
    return _fit(key, X, y)


def test_fit_predict_shapes_and_skill(key):
    X, y = _data(missing=key not in BLENDS)
    m = _fitted(key)
    p = m.predict(X.iloc[200:])
    assert p.shape == (100,) and np.isfinite(p).all()
    if key not in BLENDS:  # a blend of raw features is not a predictor
        assert np.corrcoef(p, y[200:])[0, 1] > 0.8


def test_deterministic(key):
    X, y = _data(missing=key not in BLENDS)
    np.testing.assert_array_equal(_fitted(key).predict(X), _fit(key, X, y).predict(X))


def test_clone_is_unfitted_with_same_params(key):
    m = _fitted(key)
    c = m.clone()
    assert c.params == m.params and type(c) is type(m)
    assert not any(k.endswith("_") for k in vars(c))


def test_pickle_round_trip(key, tmp_path):
    X, y = _data(missing=key not in BLENDS)
    m = _fitted(key)
    np.testing.assert_allclose(pickle.loads(pickle.dumps(m)).predict(X), m.predict(X))
    joblib.dump(m, tmp_path / "m.joblib")  # how run folders store fold models
    np.testing.assert_array_equal(joblib.load(tmp_path / "m.joblib").predict(X), m.predict(X))


def test_column_order_does_not_matter(key):
    X, y = _data(missing=key not in BLENDS)
    m = _fitted(key)
    np.testing.assert_allclose(m.predict(X[X.columns[::-1]]), m.predict(X))


@pytest.mark.parametrize(
    "bad, exc, match",
    [
        (lambda X, y: (X.to_numpy(), y), TypeError, "pandas DataFrame"),
        (lambda X, y: (X, y[:-1]), ValueError, "1-d with len"),
        (lambda X, y: (X, np.where(np.arange(len(y)) == 3, np.nan, y)), ValueError, "finite"),
        (lambda X, y: (X.iloc[:0], y[:0]), ValueError, "non-empty"),
    ],
)
def test_bad_input(key, bad, exc, match):
    X, y = _data(missing=key not in BLENDS)
    Xb, yb = bad(X, y)
    with pytest.raises(exc, match=match):
        get_model(key, FAST.get(key)).fit(Xb, yb)


def test_sample_weight_changes_the_fit(key):
    """Pseudo rows come in with a sample weight: every learner must take it (and it must matter)."""
    X, y = _data(missing=key not in BLENDS)
    w = np.where(np.arange(200) < 100, 1.0, 0.05)
    m = get_model(key, FAST.get(key)).fit(X.iloc[:200], y[:200], X_val=X.iloc[200:], y_val=y[200:], sample_weight=w)
    assert np.isfinite(m.predict(X)).all()
    if key not in BLENDS:
        assert not np.allclose(m.predict(X), _fitted(key).predict(X))


def test_blend_rejects_missing_predictions():
    X, y = _data(missing=True)
    with pytest.raises(ValueError, match="blend inputs must be finite"):
        get_model("blend").fit(X, y)


def test_unknown_model_lists_valid_keys():
    with pytest.raises(KeyError, match="valid keys"):
        get_model("xgboost_typo")


def test_ridge_rejects_unknown_param():
    with pytest.raises(TypeError, match="unknown parameters"):
        get_model("ridge", {"alhpa": 1.0})


def test_blend_weights_nonnegative_sum_to_one():
    rng = np.random.default_rng(1)
    y = rng.normal(size=500)
    X = pd.DataFrame({"good": y + rng.normal(0, 0.1, 500), "noisy": y + rng.normal(0, 1, 500),
                      "anti": -y})
    w = get_model("blend").fit(X, y).weights_
    assert (w >= 0).all() and w.sum() == pytest.approx(1.0)
    assert w["good"] > 0.9 and w["anti"] < 0.01
