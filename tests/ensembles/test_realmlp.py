"""The RealMLP wrapper's own parts: weights as row copies, its frame preparation, the run metric's epoch choice."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from smp.ensembles.models import make_model
from smp.ensembles.models.realmlp import weighted_copies


def test_equal_weights_keep_every_row_once():
    for seed in range(5):
        np.testing.assert_array_equal(weighted_copies(np.full(37, 2.5), seed), np.arange(37))


def test_copies_follow_the_weights_and_skip_zero_weights():
    w = np.array([0.0, 1.0, 0.0, 3.0, 0.5, 0.5])
    counts = np.bincount(weighted_copies(w, 0), minlength=len(w))
    assert counts.sum() == len(w)
    assert counts[0] == counts[2] == 0
    expected = w / w.sum() * len(w)  # 0, 1.2, 0, 3.6, 0.6, 0.6
    assert np.all(np.abs(counts - expected) < 1)


def test_all_zero_weights_are_refused():
    with pytest.raises(ValueError, match="every sample weight is zero"):
        weighted_copies(np.zeros(4), 0)


def _data(n=240, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "c": pd.Categorical(rng.choice(["x", "y"], n))})
    y = X["a"].to_numpy() + 2.0 * (X["c"] == "x").to_numpy()
    return X, y


def test_unseen_categories_and_missing_numbers_predict():
    X, y = _data()
    m = make_model("realmlp", {"n_epochs": 20}, seed=0, threads=1).fit(X.iloc[:200], y[:200])
    new = pd.DataFrame({"a": [np.nan, 0.5], "c": pd.Categorical(["never seen", "x"])})
    p = m.predict(new)
    assert p.shape == (2,) and np.isfinite(p).all()


def test_the_run_metric_picks_the_validation_metric():
    assert make_model("realmlp", {}, metric="mae").params["val_metric_name"] == "mae"
    assert make_model("realmlp", {}, metric="src").params["val_metric_name"] == "rmse"


def test_a_value_that_is_not_a_number_is_an_error_naming_its_column():
    X, y = _data()
    X["a"] = X["a"].astype(object)
    X.loc[7, "a"] = "n/a"
    with pytest.raises(ValueError, match="column 'a' must be numeric or a pandas category, got value 'n/a'"):
        make_model("realmlp", {"n_epochs": 2}, seed=0, threads=1).fit(X, y)
