"""Category codes fixed at fit, count encodings and per-user shares."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from smp.features import get_generator

COLS = ("category", "subcategory", "concept", "location", "language")


def cat_frame(values: list, users: list[str] | None = None, **extra) -> pd.DataFrame:
    n = len(values)
    frame = pd.DataFrame({"user_id": users or ["u"] * n, "category": values}, index=np.arange(n) * 10)
    for c in COLS[1:]:
        frame[c] = extra.get(c, [None] * n)
    return frame


def test_codes_are_fixed_at_fit_and_unseen_values_become_nan():
    fit = cat_frame(["Food", "Travel", "Food", None, ""])
    gen = get_generator("category").fit(fit)
    out = gen.transform(fit)
    assert list(out["category__category"].cat.categories) == ["Food", "Travel"]
    assert out["category__category"].tolist()[:3] == ["Food", "Travel", "Food"]
    assert out["category__category"].isna().tolist() == [False, False, False, True, True]

    new = gen.transform(cat_frame(["Travel", "Sports", None]))
    assert list(new["category__category"].cat.categories) == ["Food", "Travel"]
    assert new["category__category"].cat.codes.tolist() == [1, -1, -1]


def test_count_encoding_and_user_share():
    X = cat_frame(["A", "A", "B", "A", None], users=["u", "u", "u", "v", "v"])
    out = get_generator("category").fit_transform(X)
    np.testing.assert_array_equal(out["category__category_count"], [3, 3, 1, 3, np.nan])
    np.testing.assert_allclose(out["category__category_user_share"], [2 / 3, 2 / 3, 1 / 3, 1 / 2, np.nan])


def test_a_fitted_value_keeps_its_count_and_an_unseen_one_is_counted_on_the_fitted_scale():
    gen = get_generator("category").fit(cat_frame(["A", "B"]))
    out = gen.transform(cat_frame(["A", "A", "A", "C"]))
    # A keeps its fitted count (1); C, unseen, is counted over the 4 rows, then put on the 2 fitted rows' scale.
    np.testing.assert_array_equal(out["category__category_count"], [1.0, 1.0, 1.0, 0.5])


def test_empty_levels_are_skipped_and_present_ones_encoded():
    X = cat_frame(["A", "B"], location=["US", None])
    out = get_generator("category").fit_transform(X)
    assert "category__location" in out and "category__language" not in out and "category__concept" not in out
    assert out["category__location"].isna().tolist() == [False, True]


def test_columns_and_min_count_params():
    X = cat_frame(["A", "A", "B"])
    out = get_generator("category", {"columns": ["category"], "min_count": 2}).fit_transform(X.drop(columns="concept"))
    assert list(out["category__category"].cat.categories) == ["A"]
    assert out["category__category"].isna().tolist() == [False, False, True]
    assert get_generator("category", {"columns": ["category"]}).requires == ("user_id", "category")
    with pytest.raises(ValueError, match="min_count >= 1"):
        get_generator("category", {"min_count": 0}).fit(X)


def test_raw_categories_keep_high_cardinality_ids_and_time_parts():
    t = pd.to_datetime(["2023-01-02 10:30", "2023-01-03 23:59", "2023-01-08 10:00", "2023-01-09 00:10"], utc=True)
    frame = pd.DataFrame({"user_id": ["a", "b", "a", "c"], "location": ["US", None, "US", "GB"],
                          "language": ["en", "en", "fr", "en"], "post_time": t})
    gen = get_generator("raw_categories")
    out = gen.fit_transform(frame)
    assert all(isinstance(out[c].dtype, pd.CategoricalDtype) for c in out.columns)
    assert list(out["raw_categories__user_id"].astype(str)) == ["a", "b", "a", "c"]
    assert list(out["raw_categories__hour"].astype(str)) == ["10", "23", "10", "0"]
    assert list(out["raw_categories__weekday"].astype(str)) == ["0", "1", "6", "0"]
    assert out["raw_categories__location"].isna().tolist() == [False, True, False, False]
    new = gen.transform(frame.assign(user_id=["z", "a", "z", "b"]))  # unseen ids become missing, seen ones keep codes
    assert new["raw_categories__user_id"].isna().tolist() == [True, False, True, False]
    with pytest.raises(ValueError, match="time_parts"):
        get_generator("raw_categories", {"time_parts": ["minute"]}).fit(frame)
