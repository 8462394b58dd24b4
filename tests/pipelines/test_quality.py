"""Training end to end: metric-driven training on a generic table, the MAE guard against the median, and the leak
check with every label-using step of the recipe switched on (CV and forward SRC near zero)."""

from __future__ import annotations

import numpy as np
import pytest

import smp
from smp.pipelines.api import combine
from smp.pipelines.prepare import permuted
from tests._data import NEWS_MAPPING, make_heavy_tailed_table

FAST = [{"key": "lgbm", "params": {"n_estimators": 300, "num_leaves": 7, "learning_rate": 0.05,
                                   "early_stopping_rounds": 30}},
        {"key": "ridge"}]


def _frame(n=800, seed=0):
    return combine(smp.posts(make_heavy_tailed_table(n_posts=n, seed=seed), mapping=NEWS_MAPPING))


def test_mae_metric_never_loses_to_the_training_median_on_a_heavy_tailed_label(tmp_path):
    frame = _frame()
    cfg = smp.Predictor(None, metric="mae", models=FAST, cv={"scheme": "kfold", "n_splits": 4},
                        output={"cache_dir": str(tmp_path)}).resolve_config(frame)
    res = smp.evaluate_frame(cfg, frame, holdout_frac=0.25, seeds=[0])
    run = res.report["windows"][0]["runs"][0]
    assert run["final"].endswith("_cal")  # the median guard is on for an MAE metric
    preds = res.predictions
    y = preds["label"].to_numpy()
    fit_labels = frame.loc[frame["split"] == "train"].sort_values("post_time")["label"].iloc[:600]
    median_mae = float(np.mean(np.abs(y - np.median(fit_labels))))
    assert run["models"]["final"]["forward"]["mae"] <= median_mae
    # and out of fold: the calibrated CV MAE is no worse than the median's on the training posts
    assert run["models"]["final"]["cv"]["mae"] <= float(np.mean(np.abs(fit_labels - np.median(fit_labels)))) + 1e-9
    # a squared-error run of the same recipe without the guard predicts near the mean and loses to the median
    plain = cfg.evolve(metric="src", calibration={"median_guard": "off"})
    res2 = smp.evaluate_frame(plain, frame, holdout_frac=0.25, seeds=[0])
    assert res2.report["windows"][0]["runs"][0]["models"]["final"]["forward"]["mae"] > run["models"]["final"]["forward"]["mae"]


def test_permuted_labels_stay_near_zero_with_every_label_using_step_on(tmp_path):
    """Label encodings (user, typed meta categories), a model's label trend, calibration with a time trend, recency
    weights, selection inside folds, refit after inner early stopping, ExtraTrees, k-NN and the stack learning from
    the latest posts (`time_tail`): with permuted labels both the CV and the forward SRC must be noise."""
    table = make_heavy_tailed_table(n_posts=1500, seed=2)
    table["site"] = np.random.default_rng(2).choice(["news", "blog", "forum"], len(table))
    frame = combine(smp.posts(table, mapping={**NEWS_MAPPING, "meta_columns": ["url", "site"]}))
    # The trend on LightGBM's label, ExtraTrees and k-NN beside it, typed meta columns and their in-fold means
    models = [{**FAST[0], "params": {**FAST[0]["params"], "trend": {"column": "time__days_since_start"}}}, FAST[1],
              {"key": "extratrees", "params": {"n_estimators": 60}}, {"key": "knn"}]
    cfg = smp.Predictor(
        None, metric="src", models=models, cv={"scheme": "group", "n_splits": 4},
        training={"early_stopping": "refit", "sample_weight": "recency", "recency_half_life_days": 120},
        calibration={"method": "isotonic", "trend": True, "median_guard": "off"},  # the guard would flatten noise
        selection={"method": "cumulative", "share": 0.9}, stack={"time_tail": 0.25},
        output={"cache_dir": str(tmp_path)},
    ).resolve_config(frame)
    assert {"user_target"} <= {f.name for f in cfg.features}
    params = {f.name: f.params for f in cfg.features}
    assert params["post_meta"]["typed"] and "meta_site" in params["category_target"]["columns"]
    srcs = []
    for seed in (11, 12):
        res = smp.evaluate_frame(cfg, permuted(frame, seed), holdout_frac=0.2, seeds=[0])
        final = res.report["windows"][0]["runs"][0]["models"]["final"]
        srcs.append((final["cv"]["src"], final["forward"]["src"]))
    # The final's CV is over the latest 300 training posts (the stack learns from them): null SRC spread ~0.06, as on
    # the 300 forward rows. Means over two permutations (spread ~0.04).
    cv, fwd = np.mean(srcs, axis=0)
    assert abs(cv) < 0.06 and abs(fwd) < 0.12, srcs


@pytest.mark.parametrize("metric", ["mape", "smp"])
def test_every_metric_runs_end_to_end_and_is_reported(metric, tmp_path):
    frame = _frame(n=400)
    frame.loc[frame["split"] == "train", "label"] += 1.0  # MAPE needs labels away from 0
    p = smp.Predictor(None, metric=metric, models=FAST, cv={"scheme": "kfold", "n_splits": 3},
                      output={"cache_dir": str(tmp_path)}).fit(frame)
    board = p.leaderboard()
    assert board["final"].sum() == 1 and p.cfg_.metric == metric
    lgbm = p.trained_.ensemble.level1["lgbm"].models[0]
    assert lgbm.params["objective"] == ("mape" if metric == "mape" else "huber")
