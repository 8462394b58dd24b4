"""SVD user and location vectors."""

from __future__ import annotations

import numpy as np
import pandas as pd

from smp.features import get_generator


def svd_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": ["a", "a", "b", "c", "d", "e"],
            "tags": [["sea", "sun"], ["sun"], ["sea", "sun"], ["city", "car"], ["car", "city", "night"], []],
            "category": ["Travel", "Travel", "Travel", "Auto", "Auto", None],
            "latitude": [10.2, 10.5, np.nan, 40.1, 40.9, np.nan],
            "longitude": [20.2, 20.7, np.nan, 5.1, 5.5, np.nan],
            "location": [None, None, "FR", None, "FR", None],
        }
    )


def test_user_vectors_are_shared_by_a_users_posts_and_by_identical_users():
    out = get_generator("user_svd", {"n_components": 2, "min_df": 1}).fit_transform(svd_frame())
    assert list(out.columns) == ["user_svd__0", "user_svd__1"] and (out.dtypes == np.float32).all()
    np.testing.assert_array_equal(out.iloc[0], out.iloc[1])  # both posts of user a
    # c (city, car) and d (city, car, night) are closer to each other than to a (sea, sun).
    v = out.to_numpy()
    assert np.linalg.norm(v[3] - v[4]) < np.linalg.norm(v[3] - v[0])
    assert (v[5] == 0).all()  # a user without tags sits at the origin


def test_user_vectors_follow_new_posts_at_transform():
    gen = get_generator("user_svd", {"n_components": 2, "min_df": 1}).fit(svd_frame())
    new = pd.DataFrame({"user_id": ["e", "z"], "tags": [["city", "car"], ["unknown"]]}, index=[100, 101])
    grown = pd.concat([svd_frame()[["user_id", "tags"]], new])
    out = gen.transform(grown)
    np.testing.assert_allclose(out.loc[100], out.loc[3])  # e now posts like c
    assert (out.loc[101] == 0).all()  # only tags outside the fitted vocabulary


def test_user_svd_category_tokens():
    gen = get_generator("user_svd", {"n_components": 2, "min_df": 1, "category_columns": ["category"]})
    assert gen.requires == ("user_id", "tags", "category")
    gen.fit(svd_frame())
    assert "\x00category=Travel" in set(gen.vocab_)


def test_user_svd_min_df_counts_users():
    gen = get_generator("user_svd", {"n_components": 2}).fit(svd_frame())  # min_df=2 users
    assert sorted(gen.vocab_) == ["car", "city", "sea", "sun"]


def test_location_vectors_use_location_string_then_grid_cell():
    out = get_generator("location_svd", {"n_components": 2, "min_df": 1}).fit_transform(svd_frame())
    v = out.to_numpy()
    np.testing.assert_array_equal(v[0], v[1])  # same 1-degree cell
    np.testing.assert_array_equal(v[2], v[4])  # both "FR" (the string wins over d's coordinates)
    assert not np.array_equal(v[3], v[4])
    assert np.isnan(v[5]).all()  # no location at all
    assert not np.isnan(v[:5]).any()


def test_location_svd_without_any_location_gives_nan():
    X = svd_frame().assign(latitude=np.nan, longitude=np.nan, location=None)
    gen = get_generator("location_svd", {"n_components": 3})
    out = gen.fit_transform(X)
    assert out.shape == (6, 3) and out.isna().all().all()
    assert not gen.transform(svd_frame()).iloc[:5].isna().any().any()  # located posts later: zero vectors
