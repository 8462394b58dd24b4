"""Hand-checked values of the user feature family on tiny frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from smp.features import get_generator

T0 = pd.Timestamp("2020-01-01", tz="UTC")


def at_hours(user_hours: list[tuple[str, float]], index: list | None = None) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": [u for u, _ in user_hours],
            "post_time": [T0 + pd.Timedelta(hours=h) for _, h in user_hours],
        },
        index=index,
    )


def test_post_interval_gaps_ranks_and_batches():
    # Rows deliberately out of time order and interleaved across users.
    X = at_hours(
        [("a", 3), ("b", 5), ("a", 0), ("c", 10), ("c", 2), ("a", 1), ("c", 2)],
        index=list("pqrstuv"),
    )
    out = get_generator("user_post_interval").fit_transform(X)
    a = out.loc[["r", "u", "p"]]  # user a at 0h, 1h, 3h: gaps 1 and 2 hours
    assert a["user_post_interval__gap_min"].tolist() == [1, 1, 1]
    assert a["user_post_interval__gap_max"].tolist() == [2, 2, 2]
    assert a["user_post_interval__gap_mean"].iloc[0] == 1.5
    assert a["user_post_interval__gap_median"].iloc[0] == 1.5
    assert a["user_post_interval__gap_std"].iloc[0] == pytest.approx(0.5)
    np.testing.assert_array_equal(a["user_post_interval__gap_prev"], [np.nan, 1, 2])
    np.testing.assert_array_equal(a["user_post_interval__gap_next"], [1, 2, np.nan])
    assert a["user_post_interval__rank"].tolist() == [1, 2, 3]
    np.testing.assert_allclose(a["user_post_interval__rank_pct"], [1 / 3, 2 / 3, 1])
    np.testing.assert_allclose(a["user_post_interval__days_since_first"], [0, 1 / 24, 3 / 24])
    np.testing.assert_allclose(a["user_post_interval__days_until_last"], [3 / 24, 2 / 24, 0])
    np.testing.assert_allclose(a["user_post_interval__active_days"], 3 / 24)
    assert (a["user_post_interval__posts_per_week"] == 3).all()  # span under a week counts as one week

    b = out.loc["q"]  # a single post: no gaps
    assert np.isnan(b[[f"user_post_interval__{s}" for s in ("gap_min", "gap_std", "gap_prev")]]).all()
    assert b["user_post_interval__rank"] == 1 and b["user_post_interval__same_time_posts"] == 1

    c = out.loc[["t", "v", "s"]]  # user c: two posts at 2h (a batch), one at 10h
    assert c["user_post_interval__same_time_posts"].tolist() == [2, 2, 1]
    assert c["user_post_interval__rank"].tolist() == [1, 1, 3]
    np.testing.assert_array_equal(c["user_post_interval__gap_prev"], [np.nan, np.nan, 8])
    np.testing.assert_array_equal(c["user_post_interval__gap_next"], [8, 8, np.nan])
    assert c["user_post_interval__gap_min"].iloc[0] == 0  # the batch is a gap of 0 in the user's statistics
    assert c["user_post_interval__gap_max"].iloc[0] == 8


def test_post_interval_skew_and_first_vs_last_year():
    day = 24.0
    X = at_hours([("a", 0), ("a", 100 * day), ("a", 400 * day), ("a", 800 * day), ("b", 790 * day)])
    out = get_generator("user_post_interval").fit_transform(X)
    a = out.iloc[0]
    assert a["user_post_interval__first_year_posts"] == 2  # days 0 and 100
    assert a["user_post_interval__last_year_posts"] == 1  # within 365 days of the frame's end (day 800)
    assert a["user_post_interval__last_to_first_year_ratio"] == 0.5
    gaps = np.array([100, 300, 400]) * day
    skew = ((gaps - gaps.mean()) ** 3).mean() / gaps.std() ** 3
    assert a["user_post_interval__gap_skew"] == pytest.approx(skew)
    assert a["user_post_interval__posts_per_month"] == pytest.approx(4 / (800 / 30.4375))
    assert out.iloc[4]["user_post_interval__last_year_posts"] == 1


def test_post_interval_recomputes_over_the_transform_frame():
    X = at_hours([("a", 0), ("a", 1)])
    gen = get_generator("user_post_interval").fit(X)
    grown = pd.concat([X, at_hours([("a", 5)], index=[2])])
    out = gen.transform(grown)
    assert out["user_post_interval__gap_max"].tolist() == [4, 4, 4]
    assert out.loc[1, "user_post_interval__gap_next"] == 4


def profile_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "post_time": [T0, T0 + pd.Timedelta(days=10)],
            "user_id": ["a", "b"],
            "user_total_views": [100.0, 50.0],
            "user_photo_count": [10.0, 0.0],
            "user_total_faves": [5.0, 0.0],
            "user_follower_count": [9.0, np.inf],
            "user_following_count": [3.0, 0.0],
            "user_timezone_id": ["tz1", "tz2"],
            "user_photo_firstdate": [T0.timestamp() - 2 * 86400, 0.0],
        }
    )


def test_user_profile_logs_ratios_and_account_age():
    out = get_generator("user_profile").fit_transform(profile_frame())
    p = "user_profile__"
    assert out[f"{p}log_total_views"].tolist() == pytest.approx([np.log1p(100), np.log1p(50)])
    assert f"{p}log_id" not in out and f"{p}log_timezone_id" not in out  # ids and strings are skipped
    assert f"{p}log_photo_firstdate" not in out  # a date, turned into an age instead
    np.testing.assert_allclose(out[f"{p}views_per_photo"], [10, np.nan])  # no photos: NaN, never inf
    np.testing.assert_allclose(out[f"{p}faves_per_view"], [0.05, 0.0])
    np.testing.assert_allclose(out[f"{p}followers_per_following"], [3, np.nan])
    assert np.isnan(out.loc[1, f"{p}log_follower_count"])  # inf in the source becomes NaN
    np.testing.assert_allclose(out[f"{p}account_age_days"], [2, np.nan])  # firstdate 0 = unknown
    assert f"{p}likes_per_video" not in out  # needs columns this frame lacks
    assert not np.isinf(out.to_numpy()).any()


def test_user_profile_needs_its_fitted_columns_at_transform():
    gen = get_generator("user_profile").fit(profile_frame())
    with pytest.raises(KeyError, match="user_total_faves.*available columns"):
        gen.transform(profile_frame().drop(columns="user_total_faves"))
    # A profile column that appears only later does not add outputs.
    out = gen.transform(profile_frame().assign(user_digg_count=1.0))
    assert list(out.columns) == list(gen.transform(profile_frame()).columns)


def test_user_posts_aggregates():
    X = pd.DataFrame(
        {
            "user_id": ["a", "a", "b", "a"],
            "title": ["ab", "abcd", "", "abc"],
            "tags": [["x", "y"], ["y"], [], ["X", "z", "y"]],
            "category": ["Food", "Food", None, "Travel"],
            "subcategory": ["F1", "F2", None, "T1"],
            "concept": ["c1", "c1", "c2", ""],
            "latitude": [1.0, np.nan, 2.0, 3.0],
            "longitude": [1.0, np.nan, 2.0, 3.0],
        }
    )
    out = get_generator("user_posts").fit_transform(X)
    a = out.iloc[0]
    p = "user_posts__"
    assert a[f"{p}post_count"] == 3 and out.iloc[2][f"{p}post_count"] == 1
    assert a[f"{p}title_len_mean"] == 3 and a[f"{p}title_len_std"] == pytest.approx(np.std([2, 4, 3]))
    assert a[f"{p}tag_count_mean"] == 2 and a[f"{p}tag_count_max"] == 3
    assert a[f"{p}distinct_tags"] == 3  # x, y, z ("X" is "x")
    assert a[f"{p}distinct_category"] == 2 and a[f"{p}distinct_subcategory"] == 3
    assert a[f"{p}distinct_concept"] == 1  # "" is missing
    assert a[f"{p}geo_share"] == pytest.approx(2 / 3)
    assert a[f"{p}frame_share"] == 0.75
    b = out.iloc[2]
    assert b[f"{p}distinct_tags"] == 0 and b[f"{p}distinct_category"] == 0 and b[f"{p}tag_count_max"] == 0
