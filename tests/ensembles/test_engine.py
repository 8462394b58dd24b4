"""Executors: results in input order; Ray and joblib fold fits give exactly the plain loop's predictions."""

from __future__ import annotations

import shutil
import tempfile
import time

import numpy as np
import pandas as pd
import pytest

from smp.ensembles import FoldFeatures, LocalEngine, RayEngine, cross_fit, get_engine, get_model, make_folds, make_engine
from smp.features import get_generator
from tests._data import make_postframe


def _square(x):
    return x * x


def _slow_first(x):
    import time

    time.sleep(0.3 if x == 0 else 0.0)  # the first item finishes last
    return x


@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray cluster (2 CPUs, own temp dir, no dashboard) shared by this module's tests."""
    ray = pytest.importorskip("ray")
    tmp = tempfile.mkdtemp(prefix="smpray")
    ray.init(num_cpus=2, include_dashboard=False, _temp_dir=tmp, log_to_driver=False)
    yield ray
    ray.shutdown()
    shutil.rmtree(tmp, ignore_errors=True)


def _sleep(seconds):
    import time

    time.sleep(seconds)
    return seconds


def test_ray_engine_times_out_instead_of_hanging(ray_cluster):
    """A task that cannot finish (here: too slow; on a cluster: no live node can take it) fails the map with a
    clear error once `timeout` passes without a result."""
    t = time.perf_counter()
    with pytest.raises(TimeoutError, match=r"no task finished within \[ray\] timeout = 2s \(1 of 1 tasks of _sleep"):
        RayEngine(timeout=2).map(_sleep, [60])
    assert time.perf_counter() - t < 30  # well before the task itself would have ended
    results, where = RayEngine().map_located(_square, [2, 3])
    assert results == [4, 9] and all(w["node_id"] and w["pid"] for w in where)  # Ray reports its node


def test_local_engine_keeps_input_order():
    items = list(range(6))
    assert LocalEngine().map(_square, items) == [x * x for x in items]
    assert LocalEngine(n_jobs=2).map(_slow_first, items) == items


@pytest.mark.parametrize("name, options, match", [
    ("spark", {}, "engine must be one of"),
    ("local", {"n_jobs": 0}, "n_jobs"),
    ("ray", {"task_cpus": 0}, "task_cpus"),
])
def test_engine_errors(name, options, match):
    with pytest.raises(ValueError, match=match):
        make_engine(name, **options)


def test_get_engine_reads_config_sections():
    from smp.pipelines.config import config_from_dict

    cfg = config_from_dict({"models": ["ridge"], "engine": "ray",
                            "ray": {"address": "auto", "num_cpus": 3, "task_cpus": 2}})
    e = get_engine(cfg)
    assert isinstance(e, RayEngine) and e.address == "auto" and e.num_cpus == 3 and e.task_cpus == 2.0
    assert isinstance(get_engine(None), LocalEngine)
    cfg = config_from_dict({"models": ["ridge"], "local": {"n_jobs": 2}})
    assert get_engine(cfg).n_jobs == 2


def _cv_inputs():
    frame = make_postframe(n_posts=500, n_users=50, seed=4)
    train, test = frame[frame.split == "train"].reset_index(drop=True), frame[frame.split == "test"].reset_index(drop=True)
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=len(train)), "n_tags": train.tags.map(len).astype(float)})
    X_test = pd.DataFrame({"a": rng.normal(size=len(test)), "n_tags": test.tags.map(len).astype(float)})
    folds = make_folds(train, scheme="kfold", n_splits=4, seed=0)
    ff = FoldFeatures([get_generator("user_target")], train, train.label, test)
    return X, train.label.to_numpy(), X_test, folds, ff


MODELS = [("lgbm", {"n_estimators": 40, "num_leaves": 7}), ("catboost", {"iterations": 40, "depth": 3}), ("ridge", {})]


def _all_fits(engine):
    X, y, X_test, folds, ff = _cv_inputs()
    return {key: cross_fit(get_model(key, params), X, y, folds=folds, X_test=X_test, fold_features=ff,
                           progress=False, engine=engine) for key, params in MODELS}


def test_joblib_fold_fits_equal_the_plain_loop():
    ref, par = _all_fits(None), _all_fits(LocalEngine(n_jobs=2))
    for key in ref:
        np.testing.assert_array_equal(ref[key].oof, par[key].oof)
        np.testing.assert_array_equal(ref[key].test_pred, par[key].test_pred)


def test_ray_fold_fits_equal_the_plain_loop(ray_cluster):
    ref = _all_fits(None)
    engine = RayEngine()  # joins the module's cluster (already initialised), so close() leaves it running
    got = _all_fits(engine)
    engine.close()
    assert ray_cluster.is_initialized()
    for key in ref:
        np.testing.assert_array_equal(ref[key].oof, got[key].oof)
        np.testing.assert_array_equal(ref[key].test_pred, got[key].test_pred)
        assert [s["src"] for s in ref[key].fold_scores] == [s["src"] for s in got[key].fold_scores]
    assert RayEngine().map(_slow_first, list(range(5))) == list(range(5))
