"""Per-post explanations: contributions plus base add up to each model's prediction (LightGBM and CatBoost
fold-averaged, the blends and the Ridge stack, the linear calibration); models without an exact path say so."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

import smp
from smp.ensembles import BASE, NotExplainable, get_model
from smp.ensembles.calibration import Calibrator
from tests._data import make_postframe

FEATURES = ["user_profile", "user_posts", "time", "category", "text_stats", "user_target"]
MODELS = [{"key": "lgbm", "params": {"n_estimators": 40, "num_leaves": 7, "early_stopping_rounds": 0}},
          {"key": "catboost", "params": {"iterations": 40, "depth": 4, "early_stopping_rounds": 0}},
          {"key": "ridge"}]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    frame = make_postframe(400, 40, seed=0)
    train = frame[frame["split"] == "train"].reset_index(drop=True)
    test = frame[frame["split"] == "test"].drop(columns="label").reset_index(drop=True)
    p = smp.Predictor(metric="src", features=FEATURES, models=MODELS, cv={"scheme": "kfold", "n_splits": 3},
                      stack={"learners": ["blend", "ridge"], "fold_blend": True},
                      calibration={"method": "linear", "trend": True},
                      output={"cache_dir": str(tmp_path_factory.mktemp("cache"))}).fit(train)
    return p, test


def test_every_model_s_contributions_add_up_to_its_prediction(fitted):
    p, test = fitted
    names = p.fitted_.models()
    assert {"lgbm", "catboost", "ridge", "blend_2", "ridge_2", "fold_blend_2", "final"} <= set(names)
    assert p.fitted_.final_name.endswith("_cal")  # the linear calibration with its time trend is in the chain
    features = list(p.fitted_.static_columns)
    for name in names:
        table = p.explain(test, model=name)
        pred = p.predict(test, model=name)
        assert list(table.index) == list(test["post_id"]) and table.index.name == "post_id"
        assert list(table.columns[:len(features)]) == features and table.columns[-1] == BASE
        np.testing.assert_allclose(table.sum(axis=1), pred, rtol=0, atol=1e-6, err_msg=name)
    # label-using columns are explained like any other column
    lgbm = p.explain(test, model="lgbm")
    target_cols = [c for c in lgbm.columns if c.startswith("user_target__")]
    assert target_cols and lgbm[target_cols].abs().to_numpy().sum() > 0


def test_fold_models_are_averaged_as_predict_averages_them(fitted):
    p, test = fitted
    X, extras, posts = p.fitted_.inputs(p.train_posts_, test.assign(split="test", label=np.nan))
    folds = [m.contributions(pd.concat([X, extras[k]], axis=1)) for k, m in enumerate(p.fitted_.level1["catboost"])]
    assert not np.allclose(folds[0][BASE], folds[1][BASE])  # each fold model has its own trees and base
    mean = sum(f.to_numpy() for f in folds) / len(folds)
    table = p.explain(test, model="catboost")
    np.testing.assert_allclose(table[folds[0].columns].to_numpy(), mean, atol=1e-12)


def test_the_stack_carries_level_one_contributions_by_its_weights(fitted):
    p, test = fitted
    blend = p.explain(test, model="blend_2")
    weights = np.mean([m.slopes() for m in p.fitted_.stack_levels[0]["blend_2"].models], axis=0)
    level1 = [p.explain(test, model=n) for n in p.fitted_.stack_levels[0]["blend_2"].inputs]
    expected = sum(w * t for w, t in zip(weights, level1))
    np.testing.assert_allclose(blend.to_numpy(), expected.to_numpy(), atol=1e-9)


def test_by_group_sums_the_features_of_each_group(fitted):
    p, test = fitted
    table, groups = p.explain(test), p.explain(test, by="group")
    names = p.feature_groups()
    assert list(groups.columns) == sorted({names[c] for c in table.columns.drop(BASE)}) + [BASE]
    assert {"user", "temporal", "target"} <= set(groups.columns)
    for g in groups.columns.drop(BASE):
        cols = [c for c in table.columns.drop(BASE) if names[c] == g]
        np.testing.assert_allclose(groups[g], table[cols].sum(axis=1), atol=1e-12)
    np.testing.assert_allclose(groups.sum(axis=1), p.predict(test), atol=1e-6)
    with pytest.raises(ValueError, match="by must be"):
        p.explain(test, by="generator")
    with pytest.raises(KeyError, match="models of this predictor"):
        p.explain(test, model="xgboost")


def test_a_loaded_predictor_explains_the_same(fitted, tmp_path):
    p, test = fitted
    q = smp.Predictor.load(p.save(tmp_path / "run"))
    for by in ("feature", "group"):
        pd.testing.assert_frame_equal(q.explain(test, by=by), p.explain(test, by=by), atol=1e-9, rtol=0)


def _isotonic(p):
    cal = Calibrator("isotonic").fit(np.arange(10.0), np.arange(10.0) ** 2, pd.Series(pd.Timestamp(0)).repeat(10))
    return dataclasses.replace(p.fitted_, postprocess={"calibration": cal})


def _neural_level1(p):
    return dataclasses.replace(p.fitted_, level1={**p.fitted_.level1, "ridge": [get_model("mlp")] * 3})


def _tree_stacker(p):
    level2 = {**p.fitted_.stack_levels[0]}
    level2["ridge_2"] = dataclasses.replace(level2["ridge_2"], models=(get_model("lgbm"),) * 3)
    return dataclasses.replace(p.fitted_, stack_levels=[level2])


@pytest.mark.parametrize("variant, model, match", [
    (_isotonic, "final", r"calibration \(isotonic\) is not a linear map"),
    (_neural_level1, "ridge", "level-1 model 'ridge' .*no exact additive explanation"),
    (_neural_level1, "ridge_2", "combines a model that cannot be explained"),
    (_tree_stacker, "ridge_2", "combines predictions non-linearly"),
])
def test_a_chain_without_an_exact_path_says_so(fitted, variant, model, match):
    p, test = fitted
    q = smp.Predictor(p.cfg_)
    q.state = dataclasses.replace(p.state, fitted=variant(p))
    with pytest.raises(NotExplainable, match=match) as e:
        q.explain(test, model=model)
    assert "models of this run that can: " in str(e.value) and "'lgbm'" in str(e.value)
    assert q.fitted_.why_not_explainable("lgbm") is None  # the rest of the run still explains


# ------------------------------------------------------------------------------------- `smp explain`, `smp run`
@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from smp.pipelines.config import config_from_dict
    from smp.pipelines.datasets.synthetic import generate_smpd_image
    from smp.pipelines.runner import run

    tmp = tmp_path_factory.mktemp("explain_run")
    generate_smpd_image(tmp / "data", n_posts=500, n_users=60, seed=2, image_size=0, progress=False)
    cfg = config_from_dict({
        "name": "tiny-explain", "data": {"format": "smpd_image", "path": str(tmp / "data")},
        "cv": {"scheme": "kfold", "n_splits": 3}, "features": ["user_profile", "time", "category", "user_target"],
        "models": MODELS[:1] + MODELS[2:], "stack": {"learners": ["blend", "ridge"]},
        "importance": {"permutation": False},
        "output": {"runs_dir": str(tmp / "runs"), "submissions_dir": str(tmp / "subs"),
                   "cache_dir": str(tmp / "cache"), "post_id_prefix": "post"}})
    return tmp, run(cfg, progress=False)


def test_smp_run_report_shows_the_group_summary(run_dir):
    _, d = run_dir
    report = (d / "report.md").read_text()
    assert "## Explanation: how far each feature group moves the test predictions" in report
    assert "![explanation by group](plots/explain_groups.png)" in report and (d / "plots/explain_groups.png").is_file()


def test_smp_explain_writes_contributions_and_plots(run_dir, capsys):
    from smp.pipelines.cli import main

    tmp, d = run_dir
    assert main(["-q", "predict", "--run", str(d), "--data", str(tmp / "data"), "--out", str(tmp / "pred.csv")]) == 0
    pred = pd.read_csv(tmp / "pred.csv", dtype={"post_id": str}).set_index("post_id")["popularity_score"]
    post = str(pred.index[3])
    out = tmp / "why"
    assert main(["-q", "explain", "--run", str(d), "--data", str(tmp / "data"), "--post", post, "--out", str(out)]) == 0
    table = pd.read_csv(out / "contributions.csv", dtype={"post_id": str}).set_index("post_id")
    groups = pd.read_csv(out / "contributions_groups.csv", dtype={"post_id": str}).set_index("post_id")
    assert table.columns[-1] == BASE and {"user", "temporal", "category", "target", BASE} == set(groups.columns)
    np.testing.assert_allclose(table.sum(axis=1), pred.loc[table.index], atol=1e-6)
    np.testing.assert_allclose(groups.sum(axis=1), pred.loc[groups.index], atol=1e-6)
    plots = sorted(p.name for p in (out / "plots").iterdir())
    assert [p for p in plots if p.startswith("waterfall_")] == [f"waterfall_1_{post}.png"]
    assert {"summary_groups.png", "summary_user.png", "summary_target.png"} <= set(plots)
    assert f"post `{post}`" in (out / "explain.md").read_text()
    assert not [p for p in tmp.iterdir() if p.name.startswith(".")]  # no staging folder left behind
    before = (out / "contributions.csv").read_bytes()
    for args, message in [(["--out", str(out)], "refusing to overwrite"),
                          (["--out", str(tmp / "why2"), "--post", "nope"], "'nope' is not a test post"),
                          (["--out", str(tmp / "why3"), "--model", "xgboost"], "unknown model 'xgboost'")]:
        assert main(["-q", "explain", "--run", str(d), "--data", str(tmp / "data"), *args]) == 2
        assert message in capsys.readouterr().err
    assert (out / "contributions.csv").read_bytes() == before and not (tmp / "why2").exists()
