"""Permutation importance on out-of-fold rows, per feature and per group."""

from __future__ import annotations

import numpy as np
import pandas as pd

from smp.ensembles import FoldFeatures, cross_fit, get_model, make_folds
from smp.ensembles.permutation import permutation_importance, summarise_permutation


def test_permutation_ranks_signal_over_noise_and_groups():
    rng = np.random.default_rng(0)
    n = 600
    X = pd.DataFrame({"strong": rng.normal(size=n), "weak": rng.normal(size=n), "noise": rng.normal(size=n)})
    y = 2 * X["strong"] + 0.5 * X["weak"] + rng.normal(0, 0.3, n)
    folds = make_folds(X, scheme="kfold", n_splits=3, seed=0)
    results = {
        "lgbm": cross_fit(get_model("lgbm", {"n_estimators": 60, "num_leaves": 7}), X, y, folds=folds, progress=False),
        "ridge": cross_fit(get_model("ridge"), X, y, folds=folds, progress=False),
    }
    groups = {"strong": "a", "weak": "b", "noise": "b"}
    long = permutation_importance(results, X, y, folds, groups=groups, per_feature=True, repeats=2, max_rows=150,
                                  progress=False)
    assert set(long["model"]) == {"lgbm", "ridge"}
    assert set(long.loc[long["kind"] == "group", "name"]) == {"a", "b"}
    s = summarise_permutation(long)
    feat = s[s["kind"] == "feature"].set_index("name")["perm_src_drop"]
    assert list(feat.index) == ["strong", "weak", "noise"]  # sorted by drop
    assert feat["strong"] > 0.3 and feat["weak"] > 0.01 and abs(feat["noise"]) < 0.02
    grp = s[s["kind"] == "group"].set_index("name")["perm_src_drop"]
    assert grp["a"] > grp["b"] > 0
    again = permutation_importance(results, X, y, folds, groups=groups, per_feature=True, repeats=2, max_rows=150,
                                   progress=False)
    pd.testing.assert_frame_equal(long, again)  # seeded


def test_permutation_covers_label_features_of_each_fold():
    from smp.features import get_generator
    from tests._data import make_postframe

    frame = make_postframe(n_posts=300, n_users=30, seed=2)
    train = frame[frame["split"] == "train"].reset_index(drop=True)
    y = train["label"].to_numpy()
    X = pd.DataFrame({"noise": np.random.default_rng(0).normal(size=len(train))})
    folds = make_folds(train, scheme="kfold", n_splits=3, seed=0)
    ff = FoldFeatures([get_generator("user_target")], train, y)
    res = {"ridge": cross_fit(get_model("ridge"), X, y, folds=folds, fold_features=ff, progress=False)}
    s = summarise_permutation(permutation_importance(res, X, y, folds, fold_features=ff, per_feature=True,
                                                     groups={"user_target__mean": "target"}, progress=False))
    feat = s[s["kind"] == "feature"].set_index("name")["perm_src_drop"]
    assert "user_target__mean" in feat.index and feat["user_target__mean"] > 0.1
    assert s[s["kind"] == "group"].set_index("name").loc["target", "perm_src_drop"] > 0.1


def test_batched_prediction_equals_one_call_per_unit(monkeypatch):
    import smp.ensembles.permutation as imp

    rng = np.random.default_rng(1)
    X = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300),
                      "c": pd.Categorical(rng.choice(["x", "y", "z"], 300))})
    y = X["a"] + (X["c"] == "x") + rng.normal(0, 0.2, 300)
    folds = make_folds(X, scheme="kfold", n_splits=3, seed=0)
    res = {"lgbm": cross_fit(get_model("lgbm", {"n_estimators": 30, "num_leaves": 7}), X, y, folds=folds,
                             progress=False)}
    batched = permutation_importance(res, X, y, folds, groups={"c": "cat"}, per_feature=True, progress=False)
    monkeypatch.setattr(imp, "BATCH_ROWS", 1)  # one predict call per permuted unit
    single = permutation_importance(res, X, y, folds, groups={"c": "cat"}, per_feature=True, progress=False)
    pd.testing.assert_frame_equal(batched, single)
    assert batched.set_index(["kind", "name"]).loc[("feature", "c"), "src_drop"] > 0.05


def test_groups_only_by_default_reusing_the_fold_predictions():
    """The default permutes groups only, and scores the unpermuted rows with the fold's out-of-fold predictions."""
    rng = np.random.default_rng(3)
    X = pd.DataFrame({f"x{i}": rng.normal(size=400) for i in range(6)})
    y = X["x0"] + 0.5 * X["x1"] + rng.normal(0, 0.3, 400)
    folds = make_folds(X, scheme="kfold", n_splits=4, seed=0)
    res = {"lgbm": cross_fit(get_model("lgbm", {"n_estimators": 40, "num_leaves": 7}), X, y, folds=folds,
                             progress=False)}
    groups = {"x0": "a", "x1": "a", "x2": "b", "x3": "b", "x4": "b", "x5": "b"}
    calls = []
    for m in res["lgbm"].models:
        m.predict = (lambda f: lambda Z: calls.append(len(Z)) or f(Z))(m.predict)
    long = permutation_importance(res, X, y, folds, groups=groups, progress=False)
    assert set(long["kind"]) == {"group"} and set(long["name"]) == {"a", "b"}
    assert calls == [2 * 100] * 4  # one call per fold: both permuted groups, no re-prediction of the original rows
    full = permutation_importance(res, X, y, folds, groups=groups, per_feature=True, progress=False)
    pd.testing.assert_frame_equal(full[full["kind"] == "group"].reset_index(drop=True), long)
    capped = permutation_importance(res, X, y, folds, groups=groups, max_rows=30, progress=False)
    assert calls[-4:] == [2 * 30] * 4
    a = summarise_permutation(capped).set_index("name")["perm_src_drop"]
    assert a["a"] > 0.3 and abs(a["b"]) < 0.1
