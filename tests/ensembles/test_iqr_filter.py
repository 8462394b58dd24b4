"""Single-split fold schemes and the IQR outlier filter on fold training parts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from smp.ensembles import cross_fit, fold_ids, get_model, inner_scheme, make_folds
from smp.ensembles.iqr_filter import filter_folds, iqr_keep

from .test_cv import _frame  # users, times and one feature: the folds test frame


@pytest.mark.parametrize("scheme, base", [("holdout", "kfold"), ("group_holdout", "group"), ("time_holdout", "time")])
def test_single_split_is_one_fold_of_its_scheme(scheme, base):
    f = _frame()
    folds = make_folds(f, scheme=scheme, n_splits=4, seed=3)
    assert len(folds) == 1
    tr, va = folds[0]
    assert not set(tr) & set(va) and len(va) < len(f) / 2
    want = make_folds(f, scheme=base, n_splits=4, seed=3)[-1]
    assert (tr == want[0]).all() and (va == want[1]).all()
    assert (make_folds(f, scheme=scheme, n_splits=4, seed=4)[0][1] != va).any() or scheme == "time_holdout"
    assert inner_scheme(scheme) == base and inner_scheme(base) == base
    if scheme == "group_holdout":
        assert not set(f["user_id"].iloc[tr]) & set(f["user_id"].iloc[va])
    if scheme == "time_holdout":  # the latest posts are validated
        assert f["post_time"].iloc[va].min() >= f["post_time"].iloc[tr].max()


def test_single_split_keeps_nan_oof_outside_validation():
    f = _frame()
    y = 2 * f["x"].to_numpy() + np.random.default_rng(1).normal(0, 0.1, len(f))
    folds = make_folds(f, scheme="holdout", n_splits=4, seed=0)
    res = cross_fit(get_model("ridge"), f[["x"]], y, folds=folds, progress=False)
    ids = fold_ids(folds, len(f))
    assert np.isnan(res.oof[ids < 0]).all() and np.isfinite(res.oof[ids == 0]).all()
    assert res.scores["n"] == (ids == 0).sum() and res.scores["src"] > 0.9


def test_iqr_keep():
    v = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 100, -80, np.nan], dtype=float)
    keep = iqr_keep(v, 1.5)
    assert not keep[10] and not keep[11] and keep[:10].all() and keep[12]  # NaN is not extreme
    assert iqr_keep(v, 100).all()
    with pytest.raises(ValueError, match="k > 0"):
        iqr_keep(v, 0)


def test_filter_drops_training_rows_only_with_per_fold_fences():
    rng = np.random.default_rng(0)
    n = 400
    y = rng.normal(0, 1, n)
    y[:8] = 50.0  # label outliers
    data = pd.DataFrame({"f": rng.normal(0, 1, n), "cat": pd.Categorical(["a"] * n)})
    data.loc[10:13, "f"] = -40.0  # feature outliers
    folds = make_folds(pd.DataFrame(index=range(n)), scheme="kfold", n_splits=4, seed=0)
    out, report = filter_folds(folds, y, data, k=1.5, columns=["f"])
    for (tr, va), (tr2, va2), dropped in zip(folds, out, report.dropped):
        assert (va2 == va).all()  # validation untouched: every row still predicted out of fold
        assert set(tr2) <= set(tr) and len(tr) - len(tr2) == dropped
        assert not set(tr2) & set(range(14)) - {8, 9}  # the planted outliers left every training part
        # fences from the training part alone
        keep = iqr_keep(y[tr]) & iqr_keep(data["f"].to_numpy()[tr])
        assert (tr2 == tr[keep]).all()
    assert sum(r["label"] for r in report.by_rule) >= 8 * 3 and sum(r["f"] for r in report.by_rule) >= 4 * 3
    label_only, _ = filter_folds(folds, y, k=1.5)
    assert all(set(range(8)).isdisjoint(tr) for tr, _ in label_only)
    assert all(not set(range(10, 14)).isdisjoint(tr) for tr, _ in label_only)
    with pytest.raises(KeyError, match="'nope'.*available"):
        filter_folds(folds, y, data, columns=["nope"])
    with pytest.raises(TypeError, match="'cat' must be numeric"):
        filter_folds(folds, y, data, columns=["cat"])


def test_stacking_on_a_single_split_is_refused():
    from smp.ensembles import stack

    f = _frame()
    y = f["x"].to_numpy()
    folds = make_folds(f, scheme="holdout", n_splits=4, seed=0)
    res = {"ridge": cross_fit(get_model("ridge"), f[["x"]], y, folds=folds, progress=False)}
    with pytest.raises(ValueError, match="single train/validation split"):
        stack(res, y, folds, {"blend": get_model("blend")}, progress=False)
