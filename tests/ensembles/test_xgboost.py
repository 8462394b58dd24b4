"""The XGBoost wrapper's own parts: categories fixed at fit, early stopping, exact contributions."""

from __future__ import annotations

import numpy as np
import pandas as pd

from smp.ensembles.models import make_model


def _data(n=400, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "c": pd.Categorical(rng.choice(["x", "y", "z"], n))})
    y = X["a"].to_numpy() + 2.0 * (X["c"] == "x").to_numpy() + rng.normal(0, 0.1, n)
    return X, y


def test_categories_are_read_by_value_not_by_code():
    """A frame whose category column lists its values in another order (other codes) predicts the same; an unseen
    value is a missing one."""
    X, y = _data()
    m = make_model("xgboost", {"n_estimators": 100}, seed=0).fit(X, y)
    reordered = X.assign(c=X["c"].cat.reorder_categories(["z", "y", "x"]))
    np.testing.assert_allclose(m.predict(reordered), m.predict(X))
    new = pd.DataFrame({"a": [0.0, 0.0], "c": pd.Categorical(["never seen", None])})
    p = m.predict(new)
    assert p[0] == p[1]


def test_early_stopping_keeps_the_best_rounds_and_refits_with_them():
    X, y = _data()
    m = make_model("xgboost", {"n_estimators": 2000, "early_stopping_rounds": 20, "learning_rate": 0.3}, seed=0)
    m.fit(X.iloc[:300], y[:300], X_val=X.iloc[300:], y_val=y[300:])
    rounds = m.fitted_rounds()
    assert 1 <= rounds < 2000
    refit = m.clone().with_rounds(rounds).fit(X.iloc[:300], y[:300])
    assert refit.booster_.num_boosted_rounds() == rounds


def test_contributions_sum_to_the_prediction():
    X, y = _data()
    m = make_model("xgboost", {"n_estimators": 50}, seed=0).fit(X, y)
    c = m.contributions(X.iloc[:20])
    np.testing.assert_allclose(c.sum(axis=1).to_numpy(), m.predict(X.iloc[:20]), rtol=1e-5, atol=1e-5)


def test_the_run_metric_picks_the_objective():
    assert make_model("xgboost", {}, metric="mae").params["objective"] == "reg:absoluteerror"
    assert make_model("xgboost", {}, metric="src").params["objective"] == "reg:squarederror"
