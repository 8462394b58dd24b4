"""The cross-fitting engine: folds, OOF bookkeeping, per-fold label features, stacking."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from smp.ensembles import (FoldFeatures, cross_fit, fold_ids, get_model, latest_fold, make_folds, restrict_folds,
                          scored_on_folds, stack)


def _frame(n=240, seed=0):
    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp("2020-01-01", tz="UTC")
    return pd.DataFrame({
        "user_id": [f"u{u}" for u in rng.integers(0, 30, n)],
        "post_time": t0 + pd.to_timedelta(rng.permutation(n) * 3600, unit="s"),
        "x": rng.normal(size=n),
    })


@pytest.mark.parametrize("scheme", ["kfold", "group", "time"])
def test_folds_are_disjoint_and_seeded(scheme):
    f = _frame()
    folds = make_folds(f, scheme=scheme, n_splits=4, seed=3)
    assert len(folds) == 4
    for tr, va in folds:
        assert not set(tr) & set(va)
    assert all((a[1] == b[1]).all() for a, b in zip(folds, make_folds(f, scheme=scheme, n_splits=4, seed=3)))


def test_kfold_and_group_validate_every_row_once():
    f = _frame()
    for scheme in ("kfold", "group"):
        ids = fold_ids(make_folds(f, scheme=scheme, n_splits=4), len(f))
        assert (ids >= 0).all()


def test_group_folds_keep_users_together():
    f = _frame()
    for tr, va in make_folds(f, scheme="group", n_splits=4):
        assert not set(f.user_id.iloc[tr]) & set(f.user_id.iloc[va])


def test_time_folds_validate_only_later_posts():
    f = _frame()
    folds = make_folds(f, scheme="time", n_splits=3)
    for tr, va in folds:
        assert f.post_time.iloc[tr].max() < f.post_time.iloc[va].min()
    ids = fold_ids(folds, len(f))
    assert (ids == -1).sum() == len(f) // 4  # the first chunk is never validated


def test_latest_fold_validates_the_latest_share_by_time():
    f = _frame().sample(frac=1.0, random_state=1).reset_index(drop=True)  # not in time order
    tr, va = latest_fold(f, 0.25)
    assert len(va) == round(0.25 * len(f)) and len(tr) + len(va) == len(f)
    assert f.post_time.iloc[tr].max() <= f.post_time.iloc[va].min()
    with pytest.raises(ValueError, match="0 < share < 1"):
        latest_fold(f, 1.0)
    with pytest.raises(KeyError, match="needs column 'when'"):
        latest_fold(f, 0.2, time_col="when")


@pytest.mark.parametrize("kwargs, match", [
    ({"scheme": "random"}, "scheme must be one of"),
    ({"n_splits": 1}, "n_splits"),
    ({"scheme": "group", "group_col": "nope"}, "group folds need column 'nope'"),
])
def test_fold_errors(kwargs, match):
    with pytest.raises((ValueError, KeyError), match=match):
        make_folds(_frame(), **kwargs)


def test_cross_fit_oof_nan_where_not_validated_and_test_mean():
    f = _frame()
    y = 3 * f["x"].to_numpy()
    folds = make_folds(f, scheme="time", n_splits=3)
    res = cross_fit(get_model("ridge"), f[["x"]], y, folds=folds, X_test=f[["x"]].iloc[:10], progress=False)
    never = fold_ids(folds, len(f)) == -1
    assert np.isnan(res.oof[never]).all() and np.isfinite(res.oof[~never]).all()
    assert len(res.models) == 3 and len({id(m) for m in res.models}) == 3
    np.testing.assert_allclose(res.test_pred, np.mean(res.fold_test_preds, axis=0))
    assert res.scores["n"] == (~never).sum() and res.scores["src"] > 0.99


class _MeanOfOthers:
    """A minimal label feature: the training-part label mean, recording which rows it was fitted on."""

    name = "probe"
    calls: list = []

    def clone(self):
        return _MeanOfOthers()

    def fit_transform(self, frame, y, folds=None):
        type(self).calls.append(set(frame.index))
        type(self).inner.append(folds)
        self.mean_ = float(y.mean())
        return pd.DataFrame({"probe__mean": np.full(len(frame), self.mean_)}, index=frame.index)

    def transform(self, frame):
        return pd.DataFrame({"probe__mean": np.full(len(frame), self.mean_)}, index=frame.index)


def test_fold_features_fitted_on_training_part_only_and_shared():
    f = _frame()
    y = f["x"].to_numpy()
    folds = make_folds(f, scheme="kfold", n_splits=4)
    _MeanOfOthers.calls, _MeanOfOthers.inner = [], []
    ff = FoldFeatures([_MeanOfOthers()], f, y, f.iloc[:5],
                      inner_folds=lambda part: make_folds(part, scheme="group", n_splits=3))
    for key in ("ridge", "lgbm"):
        cross_fit(get_model(key, {"n_estimators": 5} if key == "lgbm" else None), f[["x"]], y, folds=folds,
                  X_test=f[["x"]].iloc[:5], fold_features=ff, progress=False)
    assert len(_MeanOfOthers.calls) == 4  # memoised: one fit per fold, shared by both models
    for (tr, va), fitted_rows in zip(folds, _MeanOfOthers.calls):
        assert fitted_rows == set(tr) and not fitted_rows & set(va)
    assert sorted(ff.fitted) == [0, 1, 2, 3]
    for (tr, _), inner in zip(folds, _MeanOfOthers.inner):  # inner folds over the training part, grouped too
        part = f.iloc[tr].reset_index(drop=True)
        assert len(inner) == 3 and sum(len(va) for _, va in inner) == len(tr)
        for itr, iva in inner:
            assert not set(part.user_id.iloc[itr]) & set(part.user_id.iloc[iva])


def test_stack_names_levels_and_skips_unvalidated_rows():
    f = _frame()
    y = 2 * f["x"].to_numpy() + np.random.default_rng(0).normal(0, 0.1, len(f))
    folds = make_folds(f, scheme="time", n_splits=3)
    l1 = {k: cross_fit(get_model(k, {"n_estimators": 30} if k == "lgbm" else None), f[["x"]], y, folds=folds,
                       X_test=f[["x"]], progress=False) for k in ("ridge", "lgbm")}
    l2 = stack(l1, y, folds, {"blend": get_model("blend"), "ridge": get_model("ridge")}, progress=False)
    assert set(l2) == {"blend_2", "ridge_2"}
    never = fold_ids(folds, len(f)) == -1
    assert np.isnan(l2["ridge_2"].oof[never]).all()
    assert l2["ridge_2"].scores["src"] > 0.9 and l2["ridge_2"].test_pred.shape == (len(f),)


def test_a_stack_on_latest_posts_is_scored_fold_by_fold_beside_its_inputs():
    """`[stack] time_tail`: level-1 predictions of the latest posts only; the stack fits and is scored on those rows
    through the run's folds, and `scored_on_folds` scores a level-1 result on the same rows and folds."""
    f = _frame()
    y = 2 * f["x"].to_numpy() + np.random.default_rng(0).normal(0, 0.1, len(f))
    folds = make_folds(f, scheme="kfold", n_splits=4)
    tail = latest_fold(f, 0.25)
    late = np.zeros(len(f), dtype=bool)
    late[tail[1]] = True
    l1 = {k: cross_fit(get_model(k, {"n_estimators": 30} if k == "lgbm" else None), f[["x"]], y, folds=[tail],
                       progress=False) for k in ("ridge", "lgbm")}
    l2 = stack(l1, y, folds, {"blend": get_model("blend")}, progress=False)["blend_2"]
    assert np.isfinite(l2.oof[late]).all() and np.isnan(l2.oof[~late]).all()
    single = scored_on_folds(l1["ridge"], y, folds)
    assert single.scores["n"] == late.sum() and len(single.fold_scores) == len(l2.fold_scores) == 4
    assert [s["n"] for s in single.fold_scores] == [s["n"] for s in l2.fold_scores] == [late[va].sum() for _, va in folds]


def test_restrict_folds_renumbers_positions():
    folds = [(np.array([0, 1, 2]), np.array([3, 4])), (np.array([2, 3, 4]), np.array([0, 1]))]
    rows = np.array([False, True, True, True, True])
    assert [(list(a), list(b)) for a, b in restrict_folds(folds, rows)] == [([0, 1], [2, 3]), ([1, 2, 3], [0])]
