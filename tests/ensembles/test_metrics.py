from __future__ import annotations

import numpy as np
import pytest

from smp.ensembles.metrics import mae, mape, mse, score_all, src


def test_values_by_hand():
    y, p = np.array([1.0, 2.0, 4.0]), np.array([2.0, 2.0, 3.0])
    assert mae(y, p) == pytest.approx(2 / 3)
    assert mse(y, p) == pytest.approx(2 / 3)
    assert mape(y, p) == pytest.approx((1 + 0 + 0.25) / 3)
    assert src(y, [3, 2, 1]) == pytest.approx(-1.0)


def test_nan_predictions_are_skipped_and_counted():
    s = score_all([1, 2, 3, 4], [1, np.nan, 3, 4])
    assert s["n"] == 3 and s["src"] == pytest.approx(1.0)


def test_constant_prediction_src_is_nan():
    assert np.isnan(src([1, 2, 3], [5, 5, 5]))


def test_shape_mismatch():
    with pytest.raises(ValueError, match="same shape"):
        mae([1, 2], [1, 2, 3])
