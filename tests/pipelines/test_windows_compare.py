"""Forward windows, bootstrap intervals, `smp compare` and the noise-aware final choice."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import smp
from smp.ensembles import CVResult
from smp.ensembles.intervals import Resamples, verdict
from smp.pipelines.api import combine
from smp.pipelines.cli import main
from smp.pipelines.comparison import compare_frames
from smp.pipelines.forward import ForwardPlan
from smp.pipelines.training import choose_final
from smp.pipelines.windows import forward_windows
from tests._data import NEWS_MAPPING, make_news_table

FAST = [{"key": "lgbm", "params": {"n_estimators": 60, "num_leaves": 7, "early_stopping_rounds": 0}}]


def _frame(n=400, test=40):
    t = make_news_table(n_posts=n)
    return combine(smp.posts(t.iloc[:n - test], mapping=NEWS_MAPPING),
                   smp.posts(t.iloc[n - test:].drop(columns=["points", "label"]), mapping=NEWS_MAPPING))


# ------------------------------------------------------------------------------------------------ windows
@pytest.mark.parametrize("sliding", [False, True])
def test_no_window_trains_on_its_own_posts_or_on_later_ones(sliding):
    frame = _frame()
    windows = forward_windows(frame, 4, 0.4, sliding=sliding)
    labelled = frame[frame["split"] == "train"]
    assert [w.index for w in windows] == [1, 2, 3, 4]
    held = [set(w.held["post_id"]) for w in windows]
    assert sum(map(len, held)) == round(0.4 * len(labelled)) and len(set().union(*held)) == sum(map(len, held))
    order = labelled.sort_values(["post_time", "post_id"], kind="mergesort")["post_id"].tolist()
    pos = {p: i for i, p in enumerate(order)}
    for w in windows:
        train = w.fit[w.fit["split"] == "train"]
        assert not set(train["post_id"]) & set(w.held["post_id"])
        # every training post comes before every held-back post in time order (ties broken by post_id)
        assert max(pos[p] for p in train["post_id"]) < min(pos[p] for p in w.held["post_id"])
        assert train["post_time"].max() <= w.held["post_time"].min()
        assert w.fit["split"].eq("test").sum() == 40  # unlabelled posts stay visible in every window
        assert w.held["label"].notna().all()
    sizes = [int(w.fit["split"].eq("train").sum()) for w in windows]
    assert len(set(sizes)) == 1 if sliding else sizes == sorted(sizes) and sizes[0] < sizes[-1]


def test_windows_too_small_to_score_say_so():
    with pytest.raises(ValueError, match="too few to score"):
        forward_windows(_frame(n=200), 8, 0.2)
    with pytest.raises(ValueError, match="windows must be an integer"):
        forward_windows(_frame(), 0)


# ------------------------------------------------------------------------------------------------ intervals
def test_interval_of_equal_systems_contains_zero_and_a_better_one_is_found():
    rng = np.random.default_rng(0)
    ys = [rng.normal(size=300) for _ in range(3)]
    a = [y + rng.normal(scale=1.0, size=len(y)) for y in ys]
    same = [y + rng.normal(scale=1.0, size=len(y)) for y in ys]  # as good as a, other noise
    better = [y + rng.normal(scale=0.6, size=len(y)) for y in ys]
    draws = Resamples.draw([len(y) for y in ys], n_boot=400, seed=0)
    for m in ("src", "mae", "mse"):
        assert not draws.difference(ys, a, same, m).excludes_zero(), m
        d = draws.difference(ys, a, better, m)
        assert d.excludes_zero() and (d.value > 0) == (m == "src"), m
    d = draws.difference(ys, a, better, "mae")
    assert verdict("mae", d, "A", "B").startswith("B is better on MAE by ")
    assert "not distinguishable from 0" in verdict("src", draws.difference(ys, a, same, "src"))
    iv = draws.score(ys, a, "src")
    assert iv.low < iv.value < iv.high
    # the point estimate is the mean over windows of the scores on all posts
    from scipy.stats import spearmanr

    assert iv.value == pytest.approx(np.mean([spearmanr(y, p).statistic for y, p in zip(ys, a)]))


# ------------------------------------------------------------------------------------------------ compare
def _cfg(frame, tmp_path, features):
    return smp.Predictor(None, models=FAST, features=features, cv={"scheme": "kfold", "n_splits": 3},
                         output={"cache_dir": str(tmp_path)}).resolve_config(frame)


def test_two_identical_configs_differ_by_nothing_distinguishable(tmp_path):
    frame = _frame()
    cfg = _cfg(frame, tmp_path, ["user_posts", "time", "text_stats"])
    plan = ForwardPlan.of(2, 0.3, n_boot=300)
    report, res_a, res_b = compare_frames(cfg, cfg, frame, plan=plan, seeds=[0])
    for m in ("src", "mae", "mse"):  # MAPE is undefined here: some labels are 0
        iv = report["pooled_difference"][m]
        assert iv["low"] <= 0 <= iv["high"], (m, iv)
    assert all("not distinguishable from 0" in v for v in report["verdicts"][:3])
    assert report["verdicts"][3] == "the MAPE difference cannot be computed"
    assert len(report["per_window_difference"]) == 2
    assert res_a.report["pooled"]["final"]["src"] == res_b.report["pooled"]["final"]["src"]  # same config, same seed


def test_a_planted_informative_feature_is_declared_better(tmp_path):
    t = make_news_table(n_posts=500, seed=3)
    rng = np.random.default_rng(1)
    t["signal"] = t["label"] + rng.normal(scale=0.3, size=len(t))  # a pre-publication column that carries the label
    frame = combine(smp.posts(t, mapping={**NEWS_MAPPING, "meta_columns": ["signal"]}))
    base = ["time", "text_stats"]
    a = _cfg(frame, tmp_path, base)
    b = _cfg(frame, tmp_path, [*base, "post_meta"])
    report, _, _ = compare_frames(a, b, frame, plan=ForwardPlan.of(2, 0.4, n_boot=300), seeds=[0],
                                  names=("without", "with"))
    assert report["verdicts"][0].startswith("with is better on SRC")
    assert report["verdicts"][1].startswith("with is better on MAE")


def _table_config(tmp_path) -> dict:
    """A config (as TOML parses) over a 300-post news table written to `tmp_path`."""
    make_news_table(n_posts=300).to_csv(tmp_path / "posts.csv", index=False)
    return {"name": "news", "data": {"format": "table", "table": {"train": str(tmp_path / "posts.csv"),
                                                                   "mapping": NEWS_MAPPING}},
            "cv": {"scheme": "kfold", "n_splits": 3}, "features": ["user_posts", "time"], "models": FAST,
            "output": {"runs_dir": str(tmp_path / "runs"), "cache_dir": str(tmp_path / "cache")}}


def test_cli_evaluate_windows_and_compare_write_reports(tmp_path):
    import tomli_w

    raw = _table_config(tmp_path)
    (tmp_path / "a.toml").write_text(tomli_w.dumps(raw))
    (tmp_path / "b.toml").write_text(tomli_w.dumps({**raw, "features": ["user_posts", "time", "text_stats"]}))
    assert main(["-q", "evaluate", "--config", str(tmp_path / "a.toml"), "--windows", "2", "--span", "0.3",
                 "--out", str(tmp_path / "fwd")]) == 0
    res = json.loads((tmp_path / "fwd" / "forward.json").read_text(), parse_constant=lambda c: pytest.fail(c))
    assert [w["window"] for w in res["windows"]] == [1, 2] and sum(w["held_back"] for w in res["windows"]) == 90
    assert {"value", "low", "high"} == set(res["pooled"]["final"]["mae"])
    pred = pd.read_parquet(tmp_path / "fwd" / "forward_pred.parquet")
    assert set(pred["window"]) == {1, 2} and (tmp_path / "fwd" / "plots" / "forward.png").is_file()
    assert main(["-q", "compare", str(tmp_path / "a.toml"), str(tmp_path / "b.toml"), "--windows", "2",
                 "--span", "0.3", "--out", str(tmp_path / "cmp")]) == 0
    rep = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert len(rep["verdicts"]) == 4 and "Verdict" in (tmp_path / "cmp" / "compare.md").read_text()
    assert (tmp_path / "cmp" / "a" / "forward.json").is_file()
    assert (tmp_path / "cmp" / "plots" / "compare.png").is_file()
    assert main(["-q", "evaluate", "--config", str(tmp_path / "a.toml"), "--windows", "2", "--seeds", "0,0"]) == 2
    assert main(["-q", "compare", f"{tmp_path / 'a.toml'}:no_nothing", str(tmp_path / "b.toml")]) == 2


# ------------------------------------------------------------------------------------------------ final choice
def _result(fold_src: list[float]) -> CVResult:
    folds = [{"src": s, "mae": 1.0 - s} for s in fold_src]
    return CVResult(oof=np.zeros(3), test_pred=None, fold_scores=folds,
                    scores={"src": float(np.mean(fold_src)), "mae": 1.0 - float(np.mean(fold_src))}, models=[],
                    importances=pd.DataFrame())


def test_a_single_model_is_final_only_beyond_fold_noise():
    stack = _result([0.70, 0.74, 0.72, 0.75, 0.71])
    near = _result([0.73, 0.73, 0.71, 0.76, 0.70])  # CV 0.726 over the stack's 0.724: a lead inside fold noise
    results = {"lgbm": near, "blend_2": stack}
    final, why = choose_final(results, "best", "src", {"blend_2"})
    assert final == "blend_2" and "within fold noise" in why["rule"]
    clear = _result([s + 0.03 for s in [0.70, 0.74, 0.72, 0.75, 0.71]])  # ahead on every fold by 0.03
    final, why = choose_final({"lgbm": clear, "blend_2": stack}, "best", "src", {"blend_2"})
    assert final == "lgbm" and why["mean_fold_gain"] > why["noise_bound"]
    final, why = choose_final({"lgbm": clear, "blend_2": stack}, "best", "mae", {"blend_2"})
    assert final == "lgbm"  # lower MAE on every fold
    assert choose_final(results, "best", "src")[0] == "lgbm"  # no stack: the best CV
    assert choose_final(results, "blend_2", "src")[1]["rule"] == "named"


def test_metrics_json_says_why_the_final_model_was_chosen(tmp_path):
    frame = _frame(n=300)
    p = smp.Predictor(None, models=[*FAST, {"key": "ridge"}], cv={"scheme": "kfold", "n_splits": 3},
                      output={"cache_dir": str(tmp_path / "c")}).fit(frame)
    p.save(tmp_path / "run")
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["final_reason"]["final"] == metrics["final"].removesuffix("_cal")
    assert "rule" in metrics["final_reason"]


# ------------------------------------------------------------------------------------------------ no users
def test_a_posts_table_without_users_works_and_leaves_per_user_features_out(tmp_path, caplog):
    t = make_news_table(n_posts=300).drop(columns=["author"])
    mapping = {k: v for k, v in NEWS_MAPPING.items() if k != "user_id"}
    with caplog.at_level("WARNING", logger="smp"):
        posts = smp.posts(t, mapping)
    assert "no users" in caplog.text and posts["user_id"].tolist() == posts["post_id"].tolist()
    explicit = smp.posts(t, {**mapping, "user_id": None})
    assert explicit["user_id"].tolist() == posts["user_id"].tolist()
    p = smp.Predictor(None, models=FAST, output={"cache_dir": str(tmp_path)}).fit(posts)
    names = {f.name for f in p.cfg_.features}
    assert not names & {"user_posts", "user_post_interval", "user_target", "user_svd", "user_profile"}
    assert p.predict(smp.posts(make_news_table(n_posts=320).iloc[300:].drop(columns=["author", "label"]),
                               mapping)).notna().all()
    with pytest.raises(smp.DataError, match="writer"):  # a named user column that is missing stays an error
        smp.posts(t, {**mapping, "user_id": "writer"})


def test_forward_ablation_gives_each_variant_a_paired_verdict(tmp_path):
    from smp.pipelines.ablation import ablate

    folder = ablate(smp.pipelines.config.config_from_dict(_table_config(tmp_path)), out=tmp_path / "abl", jobs=1, progress=False,
                    only=["no_user"], plan=ForwardPlan.of(2, 0.3, n_boot=200), seeds=[0])
    verdicts = json.loads((folder / "verdicts.json").read_text())
    assert [v["variant"] for v in verdicts] == ["no_user"] and len(verdicts[0]["verdicts"]) == 4
    table = pd.read_csv(folder / "ablation.csv")
    assert table.set_index("variant").loc["no_user", "verdict"].startswith(("full is better", "no_user is better",
                                                                            "the SRC difference"))
    assert "paired" in (folder / "ablation.md").read_text()
