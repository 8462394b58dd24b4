"""Hand-checked weekly / monthly hot tags and global tag statistics."""

from __future__ import annotations

import numpy as np
import pandas as pd

from smp.features import get_generator


def tag_frame() -> pd.DataFrame:
    mon = pd.Timestamp("2020-06-01", tz="UTC")  # a Monday
    return pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u2", "u3", "u3"],
            "post_time": [mon, mon + pd.Timedelta(days=2), mon + pd.Timedelta(days=6), mon + pd.Timedelta(days=7), mon],
            # Week 1 (rows 0, 1, 2, 4): a in 3 posts, b in 2, c in 1. Week 2 (row 3): b, d.
            "tags": [["a", "b"], ["#A", "a"], ["b", "c"], ["b", "d"], ["a"]],
        }
    )


def test_weekly_hot_tags_and_frequencies():
    out = get_generator("hot_tags", {"top_k": 1}).fit_transform(tag_frame())
    p = "hot_tags__"
    assert out[f"{p}week_hot"].tolist() == [1, 1, 0, 1, 1]  # top-1 of week 1 is a; of week 2, b (ties: b < d)
    assert out[f"{p}week_freq_sum"].tolist() == [5, 3, 3, 2, 3]  # "#A" and "a" are one tag, counted once
    assert out[f"{p}week_freq_max"].tolist() == [3, 3, 2, 1, 3]
    # All five posts fall in June: b appears in 3 posts, so it ties a at the top and loses the tie to a.
    assert out[f"{p}month_hot"].tolist() == [1, 1, 0, 0, 1]
    assert out[f"{p}month_freq_sum"].tolist() == [6, 3, 4, 4, 3]


def test_global_tag_statistics_and_personal_tags():
    X = tag_frame().assign(tags=[["a", "b"], ["#A", "a"], ["b", "c"], ["b", "d"], []])
    out = get_generator("hot_tags").fit_transform(X)
    p = "hot_tags__"
    np.testing.assert_array_equal(out[f"{p}tag_freq_mean"], [2.5, 2, 2, 2, np.nan])
    np.testing.assert_array_equal(out[f"{p}tag_freq_max"], [3, 2, 3, 3, np.nan])
    np.testing.assert_array_equal(out[f"{p}tag_freq_min"], [2, 2, 1, 1, np.nan])
    # a: u1 only; b: u1, u2, u3; c: u2 only; d: u3 only.
    assert out[f"{p}single_user_tags"].tolist() == [1, 1, 1, 1, 0]
    assert out[f"{p}multi_user_tags"].tolist() == [1, 0, 1, 1, 0]
    np.testing.assert_array_equal(out[f"{p}tag_users_mean"], [2, 1, 2, 2, np.nan])
    assert out.loc[4, f"{p}week_hot"] == 0 and out.loc[4, f"{p}week_freq_sum"] == 0


def test_default_top_k_marks_every_tag_of_a_small_week_hot():
    out = get_generator("hot_tags").fit_transform(tag_frame())
    assert out["hot_tags__week_hot"].tolist() == [2, 1, 2, 2, 1]
