"""`import smp`: posts from a DataFrame, Predictor fit / leaderboard / predict / importance / save / load, and the
CLI as a thin layer over it (bit-identical predictions for the same config)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import smp
from smp.pipelines.cli import main
from tests._data import NEWS_MAPPING, make_news_table

FAST = [{"key": "lgbm", "params": {"n_estimators": 60, "num_leaves": 7, "early_stopping_rounds": 0}},
        {"key": "ridge"}]


@pytest.fixture(scope="module")
def news():
    t = make_news_table()
    return t.iloc[:500].reset_index(drop=True), t.iloc[500:].drop(columns=["points", "label"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def fitted(news, tmp_path_factory):
    train_df, test_df = news
    cache = tmp_path_factory.mktemp("cache")
    train, test = smp.posts(train_df, mapping=NEWS_MAPPING), smp.posts(test_df, mapping=NEWS_MAPPING)
    p = smp.Predictor(metric="src", models=FAST, cv={"scheme": "kfold", "n_splits": 3},
                      output={"cache_dir": str(cache)}).fit(train, test=test)
    return p, train, test


def test_posts_maps_a_dataframe_and_tells_train_from_new_posts(news):
    train_df, test_df = news
    train, test = smp.posts(train_df, mapping=NEWS_MAPPING), smp.posts(test_df, mapping=NEWS_MAPPING)
    assert train["split"].eq("train").all() and test["split"].eq("test").all()
    assert test["label"].isna().all() and np.isfinite(train["label"]).all()
    assert str(train["post_time"].dtype) == "datetime64[ns, UTC]" and train["title"].str.len().gt(0).all()
    with pytest.raises(smp.DataError, match="author"):
        smp.posts(train_df.drop(columns="author"), mapping=NEWS_MAPPING)


def test_auto_preset_uses_only_the_columns_the_table_has(fitted):
    p, _, _ = fitted
    names = [f.name for f in p.cfg_.features]
    assert "time" in names and "tfidf_svd" in names and "user_posts" in names and "user_target" in names
    # the table has no tags, category, geo, images or user profile: none of their generators
    for absent in ("hot_tags", "user_svd", "geo", "category", "category_target", "image_stats", "user_profile"):
        assert absent not in names
    assert p.cfg_.data.format == "frame" and p.cfg_.metric == "src"
    # newer posts weigh more: the half-life a quarter of the labelled span
    t = p.train_posts_.loc[p.train_posts_["split"].eq("train"), "post_time"]
    span_days = (t.max() - t.min()).total_seconds() / 86400
    assert p.cfg_.training.sample_weight == "recency"
    assert p.cfg_.training.recency_half_life_days == pytest.approx(max(span_days / 4, 1.0))
    assert p.cfg_.training.early_stopping == "refit"
    # the preset's own learners (the fixture overrides them): no ExtraTrees, which extrapolates time worst;
    # RealMLP beside the boosters up to 5,000 labelled posts, the sizes it was measured on
    own = smp.Predictor(None).resolve_config(p.train_posts_)
    assert [m.key for m in own.models] == ["lgbm", "catboost", "realmlp"]
    large = smp.posts(make_news_table(n_posts=5001), mapping=NEWS_MAPPING)
    assert [m.key for m in smp.Predictor(None).resolve_config(large).models] == ["lgbm", "catboost"]


def test_leaderboard_predict_and_importance(fitted):
    p, _, test = fitted
    board = p.leaderboard()
    assert list(board.columns[:9]) == ["model", "level", "src", "mae", "mse", "mape", "smp", "bias", "src_fold_std"]
    results, y = p.state.trained.ensemble.results, p.state.prepared.y
    for _, row in board.iterrows():  # the mean out-of-fold residual of each model, beside its scores
        oof = results[row["model"]].oof
        assert row["bias"] == pytest.approx(np.nanmean(oof - y), abs=1e-9)
    assert {"lgbm", "ridge", "blend_2", "ridge_2"} <= set(board["model"]) and board["final"].sum() == 1
    assert board["src"].iloc[0] == board["src"].max() > 0.3  # sorted best first; the words and authors carry signal
    pred = p.predict(test)
    assert isinstance(pred, pd.Series) and list(pred.index) == list(test["post_id"]) and pred.index.name == "post_id"
    assert np.isfinite(pred).all()
    ridge = p.predict(test, model="ridge")
    assert not np.allclose(ridge, p.predict(test, model="lgbm"))
    with pytest.raises(KeyError, match="models of this predictor"):
        p.predict(test, model="xgboost")
    gain = p.feature_importance()
    assert {"feature", "generator", "group", "importance"} <= set(gain.columns) and gain["importance"].sum() > 0
    perm = p.feature_importance("permutation")
    assert "perm_src_drop" in perm.columns and perm["perm_src_drop"].iloc[0] == perm["perm_src_drop"].max()
    groups = p.feature_importance("groups")
    assert {"user", "text", "temporal"} <= set(groups["group"])


def test_save_load_round_trip_is_bit_identical(fitted, tmp_path):
    p, _, test = fitted
    d = p.save(tmp_path / "run")
    assert (d / "metrics.json").is_file() and (d / "submission.json").is_file() and not (tmp_path / "run.tmp").exists()
    q = smp.Predictor.load(d)
    for model in (None, "lgbm", "ridge_2"):
        np.testing.assert_array_equal(q.predict(test, model=model).to_numpy(), p.predict(test, model=model).to_numpy())
    pd.testing.assert_frame_equal(
        q.leaderboard()[["model", "src", "mae"]], p.leaderboard()[["model", "src", "mae"]], check_dtype=False)
    with pytest.raises(FileExistsError):
        p.save(d)  # a run folder is never overwritten
    # Saved with the default groups-only permutation importance: the per-group table holds it, per feature is
    # refused with a message that says so.
    assert q.feature_importance("groups")["perm_src_drop"].notna().any()
    with pytest.raises(ValueError, match="per_feature = false"):
        q.feature_importance("permutation")


def test_overrides_apply_on_top_of_a_bundled_config():
    p = smp.Predictor("smpd_video", models=["ridge"], cv="kfold", seed=3, metric="mae", tuning={"n_trials": 2})
    cfg = p.resolve_config()
    assert [m.key for m in cfg.models] == ["ridge"] and cfg.cv.scheme == "kfold" and cfg.seed == 3
    assert cfg.metric == "mae" and cfg.tuning.n_trials == 2 and cfg.data.format == "smpd_video"
    with pytest.raises(smp.ConfigError, match="unknown model"):
        smp.Predictor("default", models=["xgbost"]).resolve_config()


def test_cli_run_is_the_predictor_bit_for_bit(news, tmp_path):
    """`smp run` on a table config and `Predictor(config).fit` on the same posts give identical predictions."""
    train_df, test_df = news
    train_df.to_csv(tmp_path / "train.csv", index=False)
    test_df.to_csv(tmp_path / "test.csv", index=False)
    raw = {
        "name": "news", "seed": 1,
        "data": {"format": "table", "table": {"train": str(tmp_path / "train.csv"), "test": str(tmp_path / "test.csv"),
                                              "mapping": NEWS_MAPPING}},
        "cv": {"scheme": "group", "n_splits": 3},
        "features": ["user_posts", "time", "text_stats", {"name": "tfidf_svd", "params": {"n_components": 4}},
                     "user_target"],
        "models": FAST, "importance": {"permutation": False},
        # No fold cache: the Predictor must refit every fold, not load the CLI run's.
        "output": {"runs_dir": str(tmp_path / "runs"), "submissions_dir": str(tmp_path / "subs"),
                   "cache_dir": str(tmp_path / "cache"), "fold_cache": False},
    }
    import tomli_w

    (tmp_path / "news.toml").write_text(tomli_w.dumps(raw))
    assert main(["-q", "run", "--config", str(tmp_path / "news.toml"), "--out", str(tmp_path / "cli")]) == 0
    cli = pd.read_parquet(tmp_path / "cli" / "test_pred.parquet")
    p = smp.Predictor(raw).fit(smp.posts(train_df, mapping=NEWS_MAPPING), test=smp.posts(test_df, mapping=NEWS_MAPPING))
    test = smp.posts(test_df, mapping=NEWS_MAPPING)
    np.testing.assert_array_equal(p.predict(test).to_numpy(), cli["final"].to_numpy())
    np.testing.assert_array_equal(p.predict(test, model="lgbm").to_numpy(), cli["lgbm"].to_numpy())
    metrics = json.loads((tmp_path / "cli" / "metrics.json").read_text())
    board = p.leaderboard().set_index("model")
    for name, m in metrics["models"].items():
        assert board.loc[name, "src"] == m["overall"]["src"]
