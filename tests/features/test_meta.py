"""Passthrough of `meta_*` columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from smp.features import get_generator


def meta_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "post_id": ["p1", "p2", "p3"],
            "meta_duration": [1.5, np.inf, np.nan],
            "meta_flag": [True, False, True],
            "meta_format": ["mp4", "mov", None],
            "meta_emotions": [["happy"], [], ["sad"]],  # not a scalar column: skipped
        }
    )


def test_numeric_passthrough_and_string_codes():
    out = get_generator("post_meta").fit_transform(meta_frame())
    assert list(out.columns) == ["post_meta__duration", "post_meta__flag", "post_meta__format"]
    np.testing.assert_array_equal(out["post_meta__duration"], [1.5, np.nan, np.nan])
    assert out["post_meta__flag"].tolist() == [1.0, 0.0, 1.0]
    assert list(out["post_meta__format"].cat.categories) == ["mov", "mp4"]


def test_fitted_columns_and_categories_are_kept_at_transform():
    gen = get_generator("post_meta").fit(meta_frame())
    new = meta_frame().assign(meta_format=["avi", "mp4", "mp4"], meta_extra=1.0)
    out = gen.transform(new)
    assert "post_meta__extra" not in out
    assert out["post_meta__format"].cat.codes.tolist() == [-1, 1, 1]
    with pytest.raises(KeyError, match="meta_duration.*available columns"):
        gen.transform(meta_frame().drop(columns="meta_duration"))


def typed_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "post_id": [f"p{i}" for i in range(6)],
        "post_time": pd.to_datetime(["2020-01-10", "2020-02-01", "2020-03-01", "2020-04-01", "2020-05-01",
                                     "2020-06-01"], utc=True),
        "meta_filmed": ["2020-01-01", "2019-12-01", "2020-02-20", None, "2020-04-25", "2020-05-30T12:00:00Z"],
        "meta_url": ["https://www.example.com/data/a-b-c/", "https://example.com/ml/x", "http://other.org/",
                     "https://example.com/data/q", None, "https://example.com/data/r-s"],
        "meta_blurb": ["a long free text one", "another free text here", "third text with words", "four words in it",
                       "five words are here now", "six words in this one"],
        "meta_level": ["all", "beginner", "all", "all", "expert", "beginner"],
    })


def test_typed_columns_are_read_by_type():
    from smp.features.meta import column_type

    f = typed_frame()
    assert {c: column_type(f[c], typed=True) for c in f.columns if c.startswith("meta_")} == {
        "meta_filmed": "datetime", "meta_url": "url", "meta_blurb": "text", "meta_level": "category"}
    assert column_type(f["meta_url"], typed=False) == "category"
    out = get_generator("post_meta", {"typed": True}).fit_transform(f)
    np.testing.assert_allclose(out["post_meta__filmed_days_before_post"].iloc[:3], [9, 62, 10])
    assert np.isnan(out["post_meta__filmed_days_before_post"].iloc[3])
    assert out["post_meta__url_host"].astype(str).tolist()[:3] == ["example.com", "example.com", "other.org"]
    assert out["post_meta__url_section"].tolist()[:2] == ["data", "ml"] and out["post_meta__url_section"].isna()[2]
    np.testing.assert_array_equal(out["post_meta__url_depth"].iloc[:3], [2, 2, 0])
    assert np.isnan(out["post_meta__url_depth"].iloc[4])
    assert out["post_meta__blurb_words"].tolist() == [5, 4, 4, 4, 5, 5]
    assert list(out["post_meta__level"].cat.categories) == ["all", "beginner", "expert"]


def test_typed_without_post_time_says_so_and_untyped_does_not_need_it():
    f = typed_frame().drop(columns="post_time")
    get_generator("post_meta").fit_transform(f)
    with pytest.raises(Exception, match="post_time"):
        get_generator("post_meta", {"typed": True}).fit_transform(f)
