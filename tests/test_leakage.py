"""Leak check: with permuted labels, cross-validated Spearman must stay near zero, label encodings included.

A positive control (a deliberately leaky static feature) shows the check can fail.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from smp.ensembles import FoldFeatures, cross_fit, get_model, make_folds
from smp.features import FeatureSpec, build_features, get_generator
from tests._data import make_postframe

STATIC = ["user_profile", "user_posts", "user_post_interval", "time", "category", "hot_tags", "text_stats"]


def _cv_src(frame: pd.DataFrame, y: np.ndarray, scheme: str, extra: pd.DataFrame | None = None) -> float:
    fs = build_features(frame, [FeatureSpec(n) for n in STATIC], progress=False)
    X = fs.static if extra is None else pd.concat([fs.static, extra], axis=1)
    targets = [get_generator("user_target"), get_generator("category_target")]
    folds = make_folds(frame, scheme=scheme, n_splits=5, seed=0)
    ff = FoldFeatures(targets, frame, y, inner_folds=lambda part: make_folds(part, scheme=scheme, n_splits=5))
    model = get_model("lgbm", {"n_estimators": 150, "early_stopping_rounds": 0, "num_leaves": 15})
    return cross_fit(model, X, y, folds=folds, fold_features=ff, progress=False).scores["src"]


@pytest.fixture(scope="module")
def train_frame():
    frame = make_postframe(n_posts=3000, n_users=600, seed=7, test_frac=0.0)
    return frame[frame["split"].eq("train")].reset_index(drop=True)


@pytest.mark.parametrize("scheme", ["kfold", "group"])
def test_permuted_labels_give_src_near_zero(train_frame, scheme):
    y = np.random.default_rng(0).permutation(train_frame["label"].to_numpy())
    assert abs(_cv_src(train_frame, y, scheme)) < 0.06


def test_true_labels_are_learned(train_frame):
    assert _cv_src(train_frame, train_frame["label"].to_numpy(), "kfold") > 0.5


def test_check_catches_a_leaky_feature(train_frame):
    """A user mean label computed over all rows (the row's own label included) is what the engine prevents."""
    y = np.random.default_rng(0).permutation(train_frame["label"].to_numpy())
    leaky = pd.DataFrame({"leak__user_mean": pd.Series(y).groupby(train_frame["user_id"]).transform("mean")})
    assert _cv_src(train_frame, y, "kfold", extra=leaky) > 0.2
