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
