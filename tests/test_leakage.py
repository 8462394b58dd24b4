"""Leak check: with permuted labels, cross-validated Spearman must stay near zero, label encodings included.

A positive control (a deliberately leaky static feature) shows the check can fail. The label-using generators
that read static feature columns (neighbour labels, cluster-id encodings, per-modality model predictions) get the
posts plus those columns, as the engine hands them over.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from smp.ensembles import FoldFeatures, cross_fit, get_model, make_folds
from smp.features import FeatureSpec, build_features, get_generator
from tests._data import add_feature_columns, make_postframe

STATIC = ["user_profile", "user_posts", "user_post_interval", "time", "category", "hot_tags", "text_stats"]


def _cv_src(frame: pd.DataFrame, y: np.ndarray, scheme: str, extra: pd.DataFrame | None = None,
            trend: dict | None = None) -> float:
    fs = build_features(frame, [FeatureSpec(n) for n in STATIC], progress=False)
    X = fs.static if extra is None else pd.concat([fs.static, extra], axis=1)
    targets = [get_generator("user_target"), get_generator("category_target")]
    folds = make_folds(frame, scheme=scheme, n_splits=5, seed=0)
    ff = FoldFeatures(targets, frame, y, inner_folds=lambda part: make_folds(part, scheme=scheme, n_splits=5))
    model = get_model("lgbm", {"n_estimators": 150, "early_stopping_rounds": 0, "num_leaves": 15, "trend": trend or {}})
    return cross_fit(model, X, y, folds=folds, fold_features=ff, progress=False).scores["src"]


@pytest.fixture(scope="module")
def train_frame():
    frame = make_postframe(n_posts=3000, n_users=600, seed=7, test_frac=0.0)
    return frame[frame["split"].eq("train")].reset_index(drop=True)


@pytest.mark.parametrize("scheme", ["kfold", "group"])
@pytest.mark.parametrize("trend", [None, {"column": "time__days_since_start"}])
def test_permuted_labels_give_src_near_zero(train_frame, scheme, trend):
    y = np.random.default_rng(0).permutation(train_frame["label"].to_numpy())
    assert abs(_cv_src(train_frame, y, scheme, trend=trend)) < 0.06


def test_true_labels_are_learned(train_frame):
    assert _cv_src(train_frame, train_frame["label"].to_numpy(), "kfold") > 0.5


def test_check_catches_a_leaky_feature(train_frame):
    """A user mean label computed over all rows (the row's own label included) is what the engine prevents."""
    y = np.random.default_rng(0).permutation(train_frame["label"].to_numpy())
    leaky = pd.DataFrame({"leak__user_mean": pd.Series(y).groupby(train_frame["user_id"]).transform("mean")})
    assert _cv_src(train_frame, y, "kfold", extra=leaky) > 0.2


# Label-using generators on static feature columns: the embedding block and the `user_profile` generator's block
# (and both), the cluster ids of the embedding, and a text-only and a user-only model.
FEATURE_TARGETS = [
    ("neighbour_labels", {"spaces": {"text": ["sentence__"], "user": ["user_profile__"],
                                     "both": ["sentence__", "user_profile__"]}, "k": [5, 20]}),
    ("cluster_target", {}),
    ("oof_model", {"params": {"n_estimators": 60}}),
]


def _cv_src_feature_targets(frame: pd.DataFrame, y: np.ndarray, scheme: str, extra: pd.DataFrame | None = None) -> float:
    fs = build_features(frame, [FeatureSpec(n) for n in STATIC], progress=False)
    blocks = frame.filter(regex=r"^(sentence|clusters)__")
    X = pd.concat([fs.static, blocks] + ([] if extra is None else [extra]), axis=1)
    wide = pd.concat([frame, fs.static], axis=1)  # posts + every static feature column
    targets = [get_generator(n, p) for n, p in FEATURE_TARGETS]
    folds = make_folds(frame, scheme=scheme, n_splits=5, seed=0)
    ff = FoldFeatures(targets, wide, y, inner_folds=lambda part: make_folds(part, scheme=scheme, n_splits=5))
    # One thread: on a shared machine a multi-threaded booster spends most of its time waiting for cores.
    model = get_model("lgbm", {"n_estimators": 150, "early_stopping_rounds": 0, "num_leaves": 15, "num_threads": 1})
    return cross_fit(model, X, y, folds=folds, fold_features=ff, progress=False).scores["src"]


@pytest.fixture(scope="module")
def feature_frame(train_frame):
    return add_feature_columns(train_frame.iloc[:2000])


@pytest.mark.parametrize("scheme", ["kfold", "group"])
def test_permuted_labels_give_src_near_zero_with_feature_targets(feature_frame, scheme):
    y = np.random.default_rng(0).permutation(feature_frame["label"].to_numpy())
    assert abs(_cv_src_feature_targets(feature_frame, y, scheme)) < 0.06


def test_feature_targets_learn_true_labels(feature_frame):
    assert _cv_src_feature_targets(feature_frame, feature_frame["label"].to_numpy(), "group") > 0.4


def test_check_catches_neighbour_labels_that_retrieve_the_row_itself(feature_frame):
    """Neighbour labels of every row from a fit on all rows (each row finds itself first) are caught."""
    y = np.random.default_rng(0).permutation(feature_frame["label"].to_numpy())
    gen = get_generator("neighbour_labels", {"spaces": {"text": ["sentence__"]}, "k": [1, 5]})
    leaky = gen.fit(feature_frame, y).transform(feature_frame).add_prefix("leak__")
    assert _cv_src_feature_targets(feature_frame, y, "kfold", extra=leaky) > 0.2


def test_fold_features_fit_feature_targets_on_each_training_part_only():
    """Through the engine's FoldFeatures: validation and test rows get a fit on the fold's training part alone."""
    frame = add_feature_columns(make_postframe(n_posts=300, n_users=60, seed=3, test_frac=0.0))
    fs = build_features(frame, [FeatureSpec("user_profile")], progress=False)
    wide = pd.concat([frame, fs.static], axis=1)
    train, test = wide.iloc[:240].reset_index(drop=True), wide.iloc[240:].reset_index(drop=True)
    y = train["label"].to_numpy()
    params = dict(FEATURE_TARGETS)
    targets = [get_generator(n, {**params[n], "params": {"n_estimators": 20}} if n == "oof_model" else params[n])
               for n, _ in FEATURE_TARGETS]
    folds = make_folds(train, scheme="group", n_splits=3, seed=0)
    ff = FoldFeatures(targets, train, y, test, inner_folds=lambda part: make_folds(part, scheme="group", n_splits=3))
    tr, va = folds[0]
    x_tr, x_va, x_te = ff.for_fold(0, tr, va)
    part = train.iloc[tr]
    inner = make_folds(part.reset_index(drop=True), scheme="group", n_splits=3)
    expect_tr = pd.concat([g.clone().fit_transform(part, y[tr], folds=inner).reset_index(drop=True) for g in targets],
                          axis=1)
    pd.testing.assert_frame_equal(x_tr, expect_tr)
    fitted = [g.clone().fit(part, y[tr]) for g in targets]
    for got, rows in ((x_va, train.iloc[va]), (x_te, test)):
        expect = pd.concat([g.transform(rows).reset_index(drop=True) for g in fitted], axis=1)
        pd.testing.assert_frame_equal(got, expect)
    assert {c.split("__")[0] for c in x_tr.columns} == {"neighbour_labels", "cluster_target", "oof_model"}
    # Changing the label of a validation row changes none of that fold's features.
    y2 = y.copy()
    y2[va] += 100.0
    again = FoldFeatures(targets, train, y2, test, inner_folds=lambda p: make_folds(p, scheme="group", n_splits=3))
    for a, b in zip(again.for_fold(0, tr, va), (x_tr, x_va, x_te)):
        pd.testing.assert_frame_equal(a, b)
