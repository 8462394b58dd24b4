"""Hand-checked values of the time and geo generators."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from smp.features import get_generator


def test_time_calendar_parts():
    X = pd.DataFrame({"post_time": pd.to_datetime(["2019-03-02 13:30", "2019-03-04 00:00"], utc=True)})
    out = get_generator("time").fit_transform(X)
    sat, mon = out.iloc[0], out.iloc[1]
    assert (sat["time__hour"], sat["time__weekday"], sat["time__month"], sat["time__day"]) == (13, 5, 3, 2)
    assert (sat["time__year"], sat["time__week"], sat["time__day_of_year"]) == (2019, 9, 61)
    assert sat["time__is_weekend"] == 1 and mon["time__is_weekend"] == 0 and mon["time__week"] == 10
    assert sat["time__hour_sin"] == pytest.approx(np.sin(2 * np.pi * 13.5 / 24))
    assert mon["time__hour_cos"] == pytest.approx(1.0)
    np.testing.assert_allclose(out["time__days_since_start"], [0, 1 + 10.5 / 24])


def test_time_origin_is_fitted_and_other_time_zones_are_converted():
    X = pd.DataFrame({"post_time": pd.to_datetime(["2019-03-02 13:30"], utc=True)})
    gen = get_generator("time").fit(X)
    later = pd.DataFrame({"post_time": pd.to_datetime(["2019-03-03 13:30"]).tz_localize("Europe/Paris")})
    out = gen.transform(later).iloc[0]
    assert out["time__hour"] == 12  # 13:30 in Paris is 12:30 UTC
    assert out["time__days_since_start"] == pytest.approx(1 - 1 / 24)


def geo_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": ["a", "a", "b", "b", "c"],
            "latitude": [0.0, 0.0, 10.2, 10.7, np.nan],
            "longitude": [0.0, 2.0, 20.3, 20.9, np.nan],
            "geo_accuracy": [16.0, 16.0, 3.0, 5.0, np.nan],
        }
    )


def test_geo_cells_and_distance_to_user_centre():
    out = get_generator("geo").fit_transform(geo_frame())
    np.testing.assert_array_equal(out["geo__has_geo"], [1, 1, 1, 1, 0])
    np.testing.assert_array_equal(out["geo__cell_count"], [1, 1, 2, 2, np.nan])
    km_per_degree = 2 * np.pi * 6371.0088 / 360
    np.testing.assert_allclose(out["geo__dist_user_center_km"].iloc[:2], km_per_degree, rtol=1e-9)
    assert np.isnan(out["geo__dist_user_center_km"].iloc[4])
    np.testing.assert_array_equal(out["geo__geo_accuracy"], geo_frame()["geo_accuracy"])

    coarse = get_generator("geo", {"cell_deg": 30.0}).fit_transform(geo_frame())
    np.testing.assert_array_equal(coarse["geo__cell_count"], [4, 4, 4, 4, np.nan])


def test_geo_user_centre_across_the_date_line():
    X = pd.DataFrame(
        {"user_id": ["a", "a"], "latitude": [0.0, 0.0], "longitude": [179.0, -179.0], "geo_accuracy": [1.0, 1.0]}
    )
    out = get_generator("geo").fit_transform(X)
    km_per_degree = 2 * np.pi * 6371.0088 / 360
    np.testing.assert_allclose(out["geo__dist_user_center_km"], km_per_degree, rtol=1e-9)


def test_geo_rejects_bad_cell_size():
    with pytest.raises(ValueError, match="cell_deg > 0"):
        get_generator("geo", {"cell_deg": 0}).fit(geo_frame())
