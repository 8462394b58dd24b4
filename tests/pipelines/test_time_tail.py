"""`[stack] time_tail`: the stack learners and the choice of the final model read the latest posts as predicted by
level-1 models fitted on the earlier posts, while new posts are still predicted by the K-fold models, untouched."""

from __future__ import annotations

import json

import numpy as np
import pytest

import smp
from tests._data import NEWS_MAPPING, make_news_table

FAST = [{"key": "lgbm", "params": {"n_estimators": 60, "num_leaves": 7, "early_stopping_rounds": 0}},
        {"key": "extratrees", "params": {"n_estimators": 40}}, {"key": "ridge"}]


@pytest.fixture(scope="module")
def fits(tmp_path_factory):
    t = make_news_table()
    train = smp.posts(t.iloc[:500].reset_index(drop=True), mapping=NEWS_MAPPING)
    test = smp.posts(t.iloc[500:].drop(columns=["points", "label"]).reset_index(drop=True), mapping=NEWS_MAPPING)
    cache = tmp_path_factory.mktemp("cache")
    out = {}
    for tail in (0.0, 0.25):
        out[tail] = smp.Predictor(metric="src", models=FAST, cv={"scheme": "kfold", "n_splits": 4},
                                  stack={"time_tail": tail}, output={"cache_dir": str(cache)}).fit(train, test=test)
    return out, test


def test_the_stack_learns_from_the_latest_posts_predicted_by_earlier_fits(fits):
    out, _ = fits
    p = out[0.25]
    ens, prep = p.trained_.ensemble, p.prepared_
    assert "user_target" in {f.name for f in p.cfg_.features}  # label features are fitted for the latest fit too
    times = prep.train["post_time"].to_numpy()
    late = times >= np.sort(times)[len(times) - 125]
    assert late.sum() == 125
    assert set(ens.latest) == {"lgbm", "extratrees", "ridge"}
    for r in ens.latest.values():
        assert np.isfinite(r.oof[late]).all() and np.isnan(r.oof[~late]).all()
        assert r.scores["n"] == 125 and len(r.fold_scores) == 4
    for name in ("blend_2", "ridge_2"):
        assert np.isfinite(ens.results[name].oof[late]).all() and np.isnan(ens.results[name].oof[~late]).all()
    for name in ("lgbm", "extratrees", "ridge"):  # the K-fold results themselves are unchanged
        np.testing.assert_array_equal(ens.level1[name].oof, out[0.0].trained_.ensemble.level1[name].oof)
    assert "latest 125 labelled posts" in ens.final_reason["judged_on"]
    board = p.leaderboard().set_index("model")
    assert board.loc["blend_2", "rows"] == 125 and board.loc["lgbm", "rows"] == 500


def test_new_posts_are_predicted_by_the_k_fold_models_with_their_own_label_features(fits):
    """The latest-posts fit has label features of its own: the fold models' fitted encoders must stay theirs."""
    out, test = fits
    for name in ("lgbm", "extratrees", "ridge"):
        np.testing.assert_array_equal(out[0.25].predict(test, model=name), out[0.0].predict(test, model=name))
    final = out[0.25].predict(test)
    assert np.isfinite(final).all() and len(final) == len(test)


def test_the_run_folder_records_the_latest_posts_scores(fits, tmp_path):
    run = fits[0][0.25].save(tmp_path / "run")
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["latest_posts"]) == {"lgbm", "extratrees", "ridge"}
    assert metrics["latest_posts"]["lgbm"]["n"] == 125 and "judged_on" in metrics["final_reason"]
