"""Counts over the frame keep the fitted frame's scale when new posts are folded in (`at_fitted_size`).

Predicting new posts recounts over training plus new posts. Before, every count rose with the size of the batch
(a tenth more posts: every category count a tenth higher), so trees met values they were never trained on: on the
udemy table that lifted the preset's forward bias in the last window from +0.84 to +1.82 for LightGBM.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from smp.features import get_generator
from tests._data import make_postframe

COUNTS = {
    "category": ["category__category_count", "category__subcategory_count"],
    "geo": ["geo__cell_count"],
    "user_posts": ["user_posts__post_count"],
    "hot_tags": ["hot_tags__tag_freq_mean", "hot_tags__tag_freq_max", "hot_tags__tag_freq_min"],
}


def doubled(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame followed by a copy of itself under new post ids: every count doubles, every share stays."""
    copy = frame.assign(post_id=frame["post_id"].astype(str) + "_copy")
    return pd.concat([frame, copy], ignore_index=True)


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_counts_over_a_larger_frame_stay_on_the_fitted_scale(name):
    frame = make_postframe(200, 20)
    gen = get_generator(name).fit(frame)
    fitted = gen.transform(frame)
    grown = gen.transform(doubled(frame)).iloc[: len(frame)].reset_index(drop=True)
    for col in COUNTS[name]:
        assert fitted[col].notna().any()
        np.testing.assert_allclose(grown[col].to_numpy(float), fitted[col].to_numpy(float), err_msg=col)


def test_the_fitted_frame_gets_the_counts_themselves():
    frame = make_postframe(200, 20)
    out = get_generator("category").fit_transform(frame)
    expected = frame["category"].map(frame["category"].value_counts()).to_numpy(float)
    np.testing.assert_array_equal(out["category__category_count"].to_numpy(float), expected)


def test_a_generator_fitted_before_the_fitted_size_was_kept_counts_as_it_did():
    frame = make_postframe(200, 20)
    gen = get_generator("category").fit(frame)
    del gen.fit_rows_, gen.fitted_counts_  # a fitted state pickled by an earlier version
    grown = gen.transform(doubled(frame))
    expected = 2 * frame["category"].map(frame["category"].value_counts()).to_numpy(float)
    np.testing.assert_array_equal(grown["category__category_count"].to_numpy(float)[: len(frame)], expected)


def test_new_posts_never_move_the_count_of_a_value_the_fitted_frame_held():
    # Two values within a few posts of each other: a batch of new posts of one of them used to swap their order, so
    # trees split between the two counts sent the new posts down the other value's branch (udemy, window 4).
    frame = make_postframe(200, 20).assign(category=["a"] * 101 + ["b"] * 99)
    gen = get_generator("category").fit(frame)
    new = make_postframe(40, 5, seed=3).assign(category=["b"] * 30 + ["c"] * 10,
                                                post_id=[f"new{i}" for i in range(40)])
    out = gen.transform(pd.concat([frame, new], ignore_index=True)).iloc[len(frame):]
    counts = out["category__category_count"].to_numpy(float)
    np.testing.assert_array_equal(counts[:30], 99.0)
    # a value the fitted frame never held: counted over the frame given, on the fitted frame's scale
    np.testing.assert_allclose(counts[30:], 10 * 200 / 240)
    assert out["category__category"].iloc[30:].isna().all()
