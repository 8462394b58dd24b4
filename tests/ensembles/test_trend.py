"""A model's `trend`: a line in a time column fitted on the model's own training rows, extrapolated to later rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from smp.ensembles import make_model
from smp.ensembles.models.params import ParamError, check_params
from smp.ensembles.trend import TimeTrend

COLUMN = "time__days_since_start"


def drifting(n: int = 1500, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """A label falling by 0.004 a day over 1000 days, plus one informative column."""
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0, 1000, n))
    x = rng.normal(size=n)
    return pd.DataFrame({COLUMN: t, "x": x}), 5 - 0.004 * t + x + rng.normal(scale=0.3, size=n)


def test_a_trend_follows_a_drifting_level_past_the_training_rows():
    X, y = drifting()
    tr, te = slice(0, 1100), slice(1100, None)
    errors = {}
    for name, trend in (("flat", {}), ("trend", {"column": COLUMN})):
        m = make_model("lgbm", {"n_estimators": 200, "trend": trend}, seed=0).fit(X[tr], y[tr])
        errors[name] = np.abs(m.predict(X[te]) - y[te]).mean()
        assert np.isfinite(errors[name])
    assert errors["trend"] < 0.7 * errors["flat"], errors


def test_the_line_is_fitted_on_the_training_rows_only():
    X, y = drifting()
    a = make_model("lgbm", {"n_estimators": 50, "trend": {"column": COLUMN}}, seed=0).fit(X[:1000], y[:1000])
    y2 = y.copy()
    y2[1000:] += 100.0  # rows the model never sees
    b = make_model("lgbm", {"n_estimators": 50, "trend": {"column": COLUMN}}, seed=0).fit(X[:1000], y2[:1000])
    np.testing.assert_array_equal(a.predict(X[1000:]), b.predict(X[1000:]))
    assert a.trend_.per_unit() == pytest.approx(-0.004, abs=0.0007)


def test_share_fits_the_latest_rows_and_a_flat_line_when_there_is_no_time():
    X, y = drifting()
    y = y + np.where(X[COLUMN] < 500, 0.004 * X[COLUMN], 0.0)  # flat for the first half, falling after it
    late = TimeTrend(COLUMN, share=0.5).fit(X, y)
    assert late.per_unit() == pytest.approx(-0.004, abs=0.0008)
    flat = TimeTrend(COLUMN).fit(X.assign(**{COLUMN: np.nan}), y)
    assert flat.per_unit() == 0 and np.all(flat.predict(X) == np.median(y))


def test_contributions_and_slopes_carry_the_line():
    X, y = drifting()
    lgbm = make_model("lgbm", {"n_estimators": 50, "trend": {"column": COLUMN}}, seed=0).fit(X, y)
    c = lgbm.contributions(X.iloc[:50])
    np.testing.assert_allclose(c.sum(axis=1), lgbm.predict(X.iloc[:50]), atol=1e-6)
    ridge = make_model("ridge", {"trend": {"column": COLUMN}}).fit(X, y)
    plain = make_model("ridge", {}).fit(X, y - ridge.trend_.predict(X))
    assert ridge.slopes()[COLUMN] == pytest.approx(plain.slopes()[COLUMN] + ridge.trend_.per_unit())


def test_a_missing_column_and_bad_params_say_so():
    X, y = drifting()
    with pytest.raises(KeyError, match="time__nope"):
        make_model("lgbm", {"n_estimators": 5, "trend": {"column": "time__nope"}}).fit(X, y)
    for bad, message in (({"column": 3}, "trend.column"), ({"share": 0}, "trend.share"), ({"slope": 1}, "unknown key"),
                         ("time", "must be a table")):
        with pytest.raises(ParamError, match=message):
            check_params("lgbm", {"trend": bad}, "models[0]")
