"""The fold-result cache: a re-run loads every fold; any change to what a fit reads refits it; corrupt entries
are refitted; the local engine builds fold tasks only as workers take them."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from smp.ensembles import FoldCache, FoldFeatures, LocalEngine, cross_fit, get_model, make_folds


def _data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    f = pd.DataFrame({"user_id": [f"u{u}" for u in rng.integers(0, 40, n)], "a": rng.normal(size=n),
                      "b": rng.normal(size=n)})
    y = 2 * f["a"].to_numpy() + rng.normal(scale=0.5, size=n)
    return f, y


class _UserMean:
    """A label feature: the training part's label mean plus `shift` (a parameter that changes its output)."""

    name = "user_mean"

    def __init__(self, shift=0.0):
        self.shift = shift

    def clone(self):
        return _UserMean(self.shift)

    def fit_transform(self, frame, y, folds=None):
        self.mean_ = float(y.mean()) + self.shift
        return self.transform(frame)

    def transform(self, frame):
        return pd.DataFrame({"user_mean__m": np.full(len(frame), self.mean_)}, index=frame.index)


def _fit(cache, X, y, folds, *, model=None, shift=0.0, engine=None, X_test=None):
    f, _ = _data()
    ff = FoldFeatures([_UserMean(shift)], f, y, f.iloc[:20])
    model = model or get_model("lgbm", {"n_estimators": 30, "num_leaves": 7, "early_stopping_rounds": 5})
    return cross_fit(model, X, y, folds=folds, X_test=X[:20] if X_test is None else X_test, fold_features=ff,
                     progress=False, cache=cache, engine=engine)


def _from_cache(res):
    return [p["from_cache"] for p in res.placements]


def test_rerun_loads_every_fold_with_identical_predictions(tmp_path):
    f, y = _data()
    X, folds = f[["a", "b"]], make_folds(f, scheme="kfold", n_splits=4)
    first = _fit(FoldCache(tmp_path), X, y, folds)
    assert _from_cache(first) == [False] * 4 and len(list(tmp_path.glob("*.pkl"))) == 4
    cache = FoldCache(tmp_path)
    again = _fit(cache, X, y, folds)
    assert _from_cache(again) == [True] * 4 and cache.hits == 4 and cache.misses == 0
    np.testing.assert_array_equal(again.oof, first.oof)
    np.testing.assert_array_equal(again.test_pred, first.test_pred)
    np.testing.assert_array_equal(again.models[0].predict(X.assign(user_mean__m=0.0)),
                                  first.models[0].predict(X.assign(user_mean__m=0.0)))
    pd.testing.assert_frame_equal(again.importances, first.importances)


@pytest.mark.parametrize("change", ["param", "value", "label", "folds", "fold_feature", "test_rows", "code"])
def test_any_change_to_what_a_fit_reads_refits(tmp_path, change):
    f, y = _data()
    X, folds = f[["a", "b"]], make_folds(f, scheme="kfold", n_splits=4)
    _fit(FoldCache(tmp_path), X, y, folds)
    cache, kwargs = FoldCache(tmp_path), {}
    if change == "param":
        kwargs["model"] = get_model("lgbm", {"n_estimators": 31, "num_leaves": 7, "early_stopping_rounds": 5})
    elif change == "value":
        X = X.copy()
        X.iloc[7, 1] += 1e-9  # one feature value of one row
    elif change == "label":
        y = y.copy()
        y[3] += 1e-9
    elif change == "folds":
        folds = make_folds(f, scheme="kfold", n_splits=4, seed=1)
    elif change == "fold_feature":
        kwargs["shift"] = 1e-6
    elif change == "test_rows":
        kwargs["X_test"] = X[1:21]
    elif change == "code":
        cache.code = "an edited model wrapper"
    res = _fit(cache, X, y, folds, **kwargs)
    assert _from_cache(res) == [False] * 4 and cache.hits == 0


def test_one_changed_fold_refits_only_that_fold(tmp_path):
    f, y = _data()
    X, folds = f[["a", "b"]], make_folds(f, scheme="kfold", n_splits=4)
    _fit(FoldCache(tmp_path), X, y, folds)
    tr, va = folds[2]
    folds = folds[:2] + [(tr[1:], np.concatenate([va, tr[:1]]))] + folds[3:]  # one row moves to validation
    res = _fit(FoldCache(tmp_path), X, y, folds)
    assert _from_cache(res) == [True, True, False, True]


def test_corrupt_entry_is_refitted_and_replaced(tmp_path):
    f, y = _data()
    X, folds = f[["a", "b"]], make_folds(f, scheme="kfold", n_splits=4)
    first = _fit(FoldCache(tmp_path), X, y, folds)
    victim = sorted(tmp_path.glob("*.pkl"))[0]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="does not match its checksum"):
        res = _fit(FoldCache(tmp_path), X, y, folds)
    assert _from_cache(res).count(False) == 1
    np.testing.assert_array_equal(res.oof, first.oof)
    assert _from_cache(_fit(FoldCache(tmp_path), X, y, folds)) == [True] * 4  # replaced


def test_parallel_folds_fill_and_use_the_same_cache(tmp_path):
    f, y = _data()
    X, folds = f[["a", "b"]], make_folds(f, scheme="kfold", n_splits=4)
    loop = _fit(None, X, y, folds)
    par = _fit(FoldCache(tmp_path), X, y, folds, engine=LocalEngine(n_jobs=2))
    np.testing.assert_array_equal(par.oof, loop.oof)
    again = _fit(FoldCache(tmp_path), X, y, folds, engine=LocalEngine(n_jobs=2))
    assert _from_cache(again) == [True] * 4
    np.testing.assert_array_equal(again.oof, loop.oof)


def _nap(x):
    import time

    time.sleep(0.5)
    return x


def test_local_engine_takes_generator_items_only_when_a_worker_is_free():
    made = []

    def items():
        for i in range(4):
            made.append(time.perf_counter())
            yield i

    assert LocalEngine(n_jobs=2).map(_nap, items(), total=4) == [0, 1, 2, 3]
    # The third item is built only after a worker finished its first (0.5 s): never all four at once.
    assert made[2] - made[0] > 0.3
