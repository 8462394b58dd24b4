"""Multi-level stacking and the per-fold blend (HyperFusion eq. 8-9)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from smp.ensembles import StackModel, cross_fit, fold_blend, get_model, make_folds, predict_stack, stack_levels


@pytest.fixture(scope="module")
def level1():
    rng = np.random.default_rng(0)
    n = 300
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "c": rng.normal(size=n)})
    y = X["a"].to_numpy() + 0.5 * X["b"].to_numpy() ** 2 + rng.normal(0, 0.3, n)
    X_test = X.iloc[:40].reset_index(drop=True) + 0.01
    folds = make_folds(X, scheme="kfold", n_splits=4)
    res = {k: cross_fit(get_model(k, p), X, y, folds=folds, X_test=X_test, progress=False)
           for k, p in [("ridge", {}), ("lgbm", {"n_estimators": 60, "num_leaves": 7})]}
    return X, y, X_test, folds, res


def test_fold_blend_weights_per_fold_and_test_prediction(level1):
    X, y, X_test, folds, res = level1
    fb = fold_blend(res, y, folds)
    w = fb.weights
    assert w.shape == (4, 2) and (w.to_numpy() >= 0).all()
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
    # eq. 8-9: fold k's weights on fold k's models, averaged over folds
    expect = np.mean([w.iloc[k]["ridge"] * res["ridge"].fold_test_preds[k] + w.iloc[k]["lgbm"] * res["lgbm"].fold_test_preds[k]
                      for k in range(4)], axis=0)
    np.testing.assert_allclose(fb.test_pred, expect)
    # honest OOF: fold k's weights are fitted without fold k's validation rows
    tr, va = folds[0]
    again = get_model("blend").fit(pd.DataFrame({n: r.oof for n, r in res.items()}).iloc[tr], y[tr])
    np.testing.assert_allclose(again.weights_.to_numpy(), w.iloc[0].to_numpy())
    assert np.isfinite(fb.oof).all() and fb.scores["src"] > 0.5


def test_three_levels_names_and_inputs(level1):
    X, y, X_test, folds, res = level1
    levels = stack_levels(res, y, folds, [({"blend": get_model("blend"), "ridge": get_model("ridge")}, False),
                                          ({"ridge": get_model("ridge")}, True)],
                          X=X, X_test=X_test, fold_blend_level2=True, progress=False)
    assert [sorted(lv) for lv in levels] == [["blend_2", "fold_blend_2", "ridge_2"], ["ridge_3"]]
    assert levels[0]["ridge_2"].inputs == ("ridge", "lgbm")
    # level 3 sees level-2 OOF predictions plus the original features (passthrough)
    assert levels[1]["ridge_3"].inputs == ("blend_2", "ridge_2", "fold_blend_2", "a", "b", "c")
    assert levels[1]["ridge_3"].test_pred.shape == (40,)
    with pytest.raises(ValueError, match="level 3 has no learners"):
        stack_levels(res, y, folds, [({"ridge": get_model("ridge")}, False), ({}, False)], progress=False)


def test_fold_blend_on_time_folds_uses_equal_weights_where_no_oof():
    rng = np.random.default_rng(1)
    n = 200
    X = pd.DataFrame({"a": rng.normal(size=n), "post_time": np.arange(n)})
    y = X["a"].to_numpy() + rng.normal(0, 0.1, n)
    folds = make_folds(X, scheme="time", n_splits=3)
    res = {k: cross_fit(get_model(k, p), X[["a"]], y, folds=folds, X_test=X[["a"]].iloc[:10], progress=False)
           for k, p in [("ridge", {}), ("lgbm", {"n_estimators": 30})]}
    fb = fold_blend(res, y, folds)
    np.testing.assert_allclose(fb.weights.iloc[0].to_numpy(), [0.5, 0.5])
    assert np.isnan(fb.oof[folds[0][0]]).all()  # the first chunk is never validated


def test_predicting_a_fitted_stack_gives_the_test_predictions_training_made(level1):
    """One prediction-time stacking: `predict_stack` on the test rows' level-1 fold predictions repeats every stack
    result's test prediction (a fitted run predicts new posts through it)."""
    X, y, X_test, folds, res = level1
    levels = stack_levels(res, y, folds, [({"blend": get_model("blend"), "ridge": get_model("ridge")}, True),
                                          ({"ridge": get_model("ridge")}, True)],
                          X=X, X_test=X_test, fold_blend_level2=True, progress=False)
    fitted = [{name: StackModel.of(r) for name, r in lv.items()} for lv in levels]
    assert fitted[0]["fold_blend_2"].kind == "fold_blend" and fitted[0]["ridge_2"].kind == "cross_fit"
    got = predict_stack({name: r.fold_test_preds for name, r in res.items()}, X_test, fitted)
    for lv in levels:
        for name, r in lv.items():
            np.testing.assert_array_equal(got.predictions[name], r.test_pred, err_msg=name)
    assert [list(A.columns[:3]) for A in got.level_inputs] == [["ridge", "lgbm", "a"], ["blend_2", "ridge_2", "fold_blend_2"]]
