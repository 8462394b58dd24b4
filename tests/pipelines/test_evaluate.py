"""`smp evaluate` / `smp.evaluate_frame`: the forward split (earliest posts train, latest score) and its report."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import tomli_w

import smp
from smp.pipelines.cli import main
from smp.pipelines.forward import forward_split
from tests._data import NEWS_MAPPING, make_news_table

FAST = [{"key": "lgbm", "params": {"n_estimators": 40, "num_leaves": 7, "early_stopping_rounds": 0}}, {"key": "ridge"}]


def _frame():
    t = make_news_table(n_posts=400)
    train = smp.posts(t.iloc[:350], mapping=NEWS_MAPPING)
    test = smp.posts(t.iloc[350:].drop(columns=["points", "label"]), mapping=NEWS_MAPPING)
    from smp.pipelines.api import combine

    return combine(train, test)


def test_forward_split_holds_back_the_latest_labelled_posts():
    frame = _frame()
    fit, held = forward_split(frame, 0.2)
    labelled = fit[fit["split"] == "train"]
    assert len(held) == 70 and len(labelled) == 280 and fit["split"].eq("test").sum() == 50
    assert labelled["post_time"].max() <= held["post_time"].min()  # every held-back post is later
    assert not set(held["post_id"]) & set(fit["post_id"])
    for bad in (0.0, 1.0, 0.999):
        with pytest.raises(ValueError, match="holdout_frac"):
            forward_split(frame, bad)


def test_forward_scores_beside_cv_for_each_seed(tmp_path):
    cfg = smp.Predictor(None, models=FAST, cv={"scheme": "kfold", "n_splits": 3},
                        output={"cache_dir": str(tmp_path)}).resolve_config(_frame())
    res = smp.evaluate_frame(cfg, _frame(), holdout_frac=0.2, seeds=[0, 1])
    (window,) = res.report["windows"]
    assert [r["seed"] for r in window["runs"]] == [0, 1] and res.report["seeds"] == [0, 1]
    for r in window["runs"]:
        final = r["models"]["final"]
        assert set(final) == {"cv", "forward", "bias", "gap_src", "gap_mae"}
        assert np.isfinite(final["forward"]["src"]) and final["gap_src"] == pytest.approx(
            final["cv"]["src"] - final["forward"]["src"])
        assert {"lgbm", "ridge", "final"} <= set(r["models"])
    preds = res.predictions
    assert len(preds) == 2 * 70 and set(preds["seed"]) == {0, 1} and preds["final"].notna().all()


def test_cli_evaluate_writes_a_strict_json_report(tmp_path):
    t = make_news_table(n_posts=300)
    t.to_csv(tmp_path / "posts.csv", index=False)
    raw = {"name": "news", "data": {"format": "table", "table": {"train": str(tmp_path / "posts.csv"),
                                                                  "mapping": NEWS_MAPPING}},
           "cv": {"scheme": "time", "n_splits": 3}, "features": ["user_posts", "time", "text_stats"], "models": FAST,
           "output": {"runs_dir": str(tmp_path / "runs"), "cache_dir": str(tmp_path / "cache")}}
    (tmp_path / "c.toml").write_text(tomli_w.dumps(raw))
    assert main(["-q", "evaluate", "--config", str(tmp_path / "c.toml"), "--holdout-frac", "0.25",
                 "--out", str(tmp_path / "fwd")]) == 0
    res = json.loads((tmp_path / "fwd" / "forward.json").read_text(), parse_constant=lambda c: pytest.fail(c))
    assert res["windows"][0]["held_back"] == 75 and res["plan"]["span"] == 0.25
    assert "forward SRC" in (tmp_path / "fwd" / "forward.md").read_text()
    assert (tmp_path / "fwd" / "plots" / "forward.png").is_file()
    pred = pd.read_parquet(tmp_path / "fwd" / "forward_pred.parquet")
    assert pred["post_time"].min() >= pd.Timestamp(res["windows"][0]["held_from"])


def test_a_recipe_function_is_resolved_on_each_window_own_posts(tmp_path):
    """A recipe given as a function sees each window's training posts (and the seed) and predicts what the config
    it returns predicts; the lever tool resolves the preset per window this way, as the suite does."""
    frame = _frame()
    cfg = smp.Predictor(None, models=FAST, cv={"scheme": "kfold", "n_splits": 3},
                        output={"cache_dir": str(tmp_path)}).resolve_config(frame)
    seen = []

    def recipe(fit: pd.DataFrame, seed: int):
        seen.append((int(fit["split"].eq("train").sum()), seed))
        return cfg.evolve(name="from_function")

    plan = smp.pipelines.forward.ForwardPlan.of(2, 0.4)
    by_function = smp.evaluate_frame(recipe, frame, plan=plan, seeds=[3])
    fixed = smp.evaluate_frame(cfg, frame, plan=plan, seeds=[3])
    assert seen == [(210, 3), (280, 3)]  # 350 labelled posts; the latest 40% in two blocks of 70, each fitted on before
    assert by_function.report["config"] == "from_function" and by_function.report["metric"] == cfg.metric
    pd.testing.assert_series_equal(by_function.predictions["final"], fixed.predictions["final"])
