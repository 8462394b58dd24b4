"""Each model wrapper's contributions: exact (they add up to `predict`) or a `NotExplainable` error, never an
approximation; a calibration carries them as the affine map it applies."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from smp.ensembles import BASE, NotExplainable, affine, get_model
from smp.ensembles.calibration import Calibrator


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(200, 3)), columns=["a", "b", "c"])
    X["cat"] = pd.Categorical(rng.choice(["x", "y", "z"], 200))
    X.loc[::7, "b"] = np.nan
    y = np.exp(X["a"].to_numpy()) + X["cat"].cat.codes.to_numpy() + rng.random(200)
    return X, y


@pytest.mark.parametrize("key, params", [
    ("lgbm", {"n_estimators": 20, "early_stopping_rounds": 0, "min_child_samples": 5}),
    ("lgbm", {"n_estimators": 20, "early_stopping_rounds": 0, "seeds": 2, "exclude": ["c"]}),
    ("catboost", {"iterations": 20, "depth": 3, "early_stopping_rounds": 0, "thread_count": 1}),
    ("ridge", {}),
    ("ridge", {"loss": "absolute"}),
])
def test_contributions_add_up_to_the_prediction(data, key, params):
    X, y = data
    m = get_model(key, params).fit(X, y)
    c = m.contributions(X)
    assert list(c.columns) == [*m.columns_, BASE] and c.index.equals(X.index)
    np.testing.assert_allclose(c.sum(axis=1), m.predict(X), rtol=0, atol=1e-6)
    assert c["a"].abs().sum() > 0  # the informative column moves the predictions


def test_linear_slopes_are_the_change_per_unit_of_input(data):
    X, y = data
    A = X[["a", "c"]]
    for m in (get_model("ridge").fit(A, y), get_model("blend").fit(A, y)):
        moved = A.assign(a=A["a"] + 1.0)
        np.testing.assert_allclose(m.predict(moved) - m.predict(A), m.slopes()["a"], atol=1e-9)


def test_a_model_without_an_exact_path_is_refused(data):
    X, y = data
    poisson = get_model("lgbm", {"n_estimators": 20, "early_stopping_rounds": 0, "objective": "poisson"}).fit(X, y)
    with pytest.raises(NotExplainable, match="miss its predictions"):  # a log link: TreeSHAP sums the raw score
        poisson.contributions(X)
    with pytest.raises(NotExplainable, match="no exact additive explanation"):
        get_model("mlp").contributions(X)
    with pytest.raises(NotExplainable, match="not linear in its inputs"):
        get_model("lgbm").slopes()


def test_calibration_carries_contributions_as_its_affine_map():
    rng = np.random.default_rng(1)
    pred = rng.normal(5, 1, 300)
    times = pd.Series(pd.Timestamp("2020-01-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 700, 300), unit="D"))
    y = 0.8 * pred + 1 + 0.002 * np.arange(300) + rng.normal(0, 0.1, 300)
    posts = pd.DataFrame({"post_time": times})
    contrib = pd.DataFrame({"f": pred - 4.0, BASE: np.full(300, 4.0)})
    for cal in (Calibrator("linear", trend=True, median_guard=True), Calibrator("none", trend=True)):
        cal.fit(pred, y, times)
        out = affine(contrib, *cal.affine(posts))
        np.testing.assert_allclose(out.sum(axis=1), cal(pred, posts), atol=1e-9)
    iso = Calibrator("isotonic").fit(pred, y, times)
    with pytest.raises(NotExplainable, match="isotonic"):
        iso.affine(posts)
