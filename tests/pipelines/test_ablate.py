"""`smp ablate`: the variant plan, an interrupted ablation resumed through the CLI, the tables, plots and the
importance files of the full run."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import tomli_w

import smp.pipelines.ablation as ablate_mod
from smp.pipelines.ablation import ablate, plan_variants
from smp.pipelines.smoke import smoke_config
from smp.pipelines.cli import main
from smp.pipelines.config import config_from_dict, load_config
from smp.pipelines.datasets.synthetic import generate_smpd_image

FEATURES = ["user_profile", "user_posts", "time", "text_stats", "user_target"]


def raw_config(tmp_path, data_dir, **over) -> dict:
    raw = {
        "name": "abl",
        "seed": 0,
        "data": {"format": "smpd_image", "path": str(data_dir)},
        "cv": {"scheme": "group", "n_splits": 3},
        "features": FEATURES,
        "models": [{"key": "lgbm", "params": {"n_estimators": 30, "num_leaves": 7}}, {"key": "ridge"}],
        "stack": {"learners": ["blend"]},
        "outliers": {"enabled": True, "columns": ["user_profile__log_follower_count"]},
        "importance": {"max_rows": 100, "per_feature": True},
        "output": {"runs_dir": str(tmp_path / "runs"), "submissions_dir": str(tmp_path / "subs"),
                   "cache_dir": str(tmp_path / "cache")},
    }
    raw.update(over)
    return raw


def test_smoke_config_puts_the_given_text_model_in_every_text_embedding(tmp_path):
    cfg = load_config("default").evolve(output={"runs_dir": str(tmp_path / "runs"), "cache_dir": str(tmp_path / "c")})
    plain = smoke_config(cfg, n_posts=60, n_users=10)
    swapped = smoke_config(cfg, n_posts=60, n_users=10, text_model="/models/tiny")
    assert [s.name for s in swapped.features] == [s.name for s in plain.features]
    changed = {a.name: b.params for a, b in zip(plain.features, swapped.features) if a.params != b.params}
    assert changed == {
        "static_embedding": {"n_components": 16, "model": "/models/tiny"},
        "crossmodal": {"image_resolution": 32, "title_tags": False, "text_encoder": "static_embedding",
                       "text_model": "/models/tiny"},
        "clusters": {"blocks": ["static_embedding", "image_encoder"], "levels": [8, 32], "dims": 16,
                     "block_params": {"image_encoder": {"resolution": 32},
                                      "static_embedding": {"model": "/models/tiny"}}},
    }
    assert not [s for s in plain.features if {"model", "text_model"} & set(s.params)]  # None keeps the recipe's


def test_plan_variants_groups_components_and_generic_sections(tmp_path):
    # Sections with an `enabled` flag are found generically: enabled -> a variant, disabled -> none.
    cfg = config_from_dict(raw_config(tmp_path, tmp_path, pseudo={"enabled": True, "rounds": 2},
                                      tuning={"enabled": False}))
    plan = {v.name: v for v in plan_variants(cfg)}
    assert list(plan) == ["full", "no_user", "no_temporal", "no_text", "no_target", "no_ensemble", "single_split",
                          "no_pseudo_labels", "no_outlier_filter", "stop_on_validation"]
    assert plan["stop_on_validation"].cfg.training.early_stopping == "validation"
    assert [s.name for s in plan["no_user"].cfg.features] == ["time", "text_stats", "user_target"]
    assert plan["no_user"].cfg.outliers.columns == []  # its filter column went with the user generators
    assert plan["no_text"].cfg.outliers.columns == ["user_profile__log_follower_count"]
    assert plan["no_ensemble"].cfg.stack.learners == [] and len(plan["no_ensemble"].cfg.models) == 2
    assert plan["single_split"].cfg.cv.scheme == "group_holdout"
    assert plan["no_pseudo_labels"].cfg.pseudo.enabled is False and cfg.pseudo.enabled is True
    assert plan["no_outlier_filter"].cfg.outliers.enabled is False and cfg.outliers.enabled is True
    assert all(not v.cfg.output.submission for v in plan.values())
    assert plan["full"].cfg.importance.permutation and not plan["no_text"].cfg.importance.permutation
    assert [v.name for v in plan_variants(cfg, only=["no_text"])] == ["full", "no_text"]
    with pytest.raises(ValueError, match="unknown ablation variant 'no_emotion'"):
        plan_variants(cfg, only=["no_emotion"])
    single = config_from_dict(raw_config(tmp_path, tmp_path, features=["time"], models=["ridge"],
                                         stack={"learners": []}, outliers={}))
    assert [v.name for v in plan_variants(single)] == ["full", "single_split"]


def test_interrupted_ablation_resumes_via_cli(tmp_path, monkeypatch):
    data_dir = tmp_path / "smpd"
    generate_smpd_image(data_dir, n_posts=500, n_users=60, seed=1, image_size=0, progress=False)
    raw = raw_config(tmp_path, data_dir)
    config = tmp_path / "abl.toml"
    config.write_bytes(tomli_w.dumps(raw).encode())
    out = tmp_path / "ablation"
    only = ["no_user", "single_split"]

    ran = []
    real = ablate_mod.run_variant

    def interrupt_second(variant, vdir, progress=False, plan=None, seeds=None):
        if len(ran) == 1:
            (vdir / "run").mkdir(parents=True)  # a half-written variant, as a kill leaves it
            raise KeyboardInterrupt
        ran.append(variant.name)
        return real(variant, vdir, progress, plan, seeds)

    monkeypatch.setattr(ablate_mod, "run_variant", interrupt_second)
    with pytest.raises(KeyboardInterrupt):
        ablate(config_from_dict(raw), out=out, jobs=1, progress=False, only=only)
    partial = tmp_path / ".ablation.partial"
    assert not out.exists() and (partial / "variants" / "full" / "metrics.json").is_file()
    assert ran == ["full"]

    monkeypatch.setattr(ablate_mod, "run_variant",
                        lambda v, d, p=False, f=None, s=None: (ran.append(v.name), real(v, d, p, f, s))[1])
    assert main(["-q", "ablate", "--config", str(config), "--out", str(out), "--jobs", "1",
                 "--only", ",".join(only)]) == 0
    assert ran == ["full", "no_user", "single_split"]  # full was not rerun
    assert not partial.exists()

    table = pd.read_csv(out / "ablation.csv")
    assert list(table["variant"]) == ["full"] + only
    full = table.set_index("variant").loc["full"]
    assert full["delta_src"] == 0 and full["src"] > 0.2 and full["rows"] == 400 and full["folds"] == 3
    t = table.set_index("variant")
    assert t.loc["no_user", "delta_src"] < 0  # the user features carry the synthetic signal
    assert t.loc["single_split", "folds"] == 1 and t.loc["single_split", "rows"] < 400
    assert np.isfinite(t.loc["no_user", "delta_src_fold_std"]) and np.isnan(t.loc["single_split", "delta_src_fold_std"])
    md = (out / "ablation.md").read_text()
    assert "| variant | description | final | SRC | MAE | MAPE % | delta SRC |" in md and "single_split" in md
    assert (out / "plots" / "ablation.png").stat().st_size > 1000
    info = json.loads((out / "ablation.json").read_text())
    assert info["variants_reused"] == ["full"] and len(info["variants_run"]) == 2

    # The full run's folder carries the importance tables; the filter kept every validation row.
    run = out / "variants" / "full" / "run"
    imp = pd.read_csv(run / "importance.csv")
    assert {"feature", "group", "importance", "perm_src_drop", "perm_mae_rise"} <= set(imp.columns)
    assert "user_target__mean" in set(imp["feature"])
    groups = pd.read_csv(run / "importance_groups.csv")
    assert set(groups["group"]) == {"user", "temporal", "text", "target"}
    assert groups.iloc[0]["group"] == "user"  # sorted by the permutation drop
    assert "## Top 20 features" in (run / "importance.md").read_text()
    assert len(pd.read_csv(run / "importance_top.csv")) == 20
    assert (run / "plots" / "importance_permutation.png").is_file() and (run / "plots" / "importance_groups.png").is_file()
    assert pd.read_parquet(run / "oof.parquet")["final"].notna().all()
    assert not (out / "variants" / "no_user" / "run" / "importance_permutation.csv").exists()

    # A finished ablation is never overwritten.
    assert main(["-q", "ablate", "--config", str(config), "--out", str(out)]) == 2


def test_resume_refuses_another_config(tmp_path):
    raw = raw_config(tmp_path, tmp_path)
    partial = tmp_path / ".a.partial"
    (partial / "variants").mkdir(parents=True)
    (partial / "config.resolved.toml").write_text("name = 'other'\n")
    with pytest.raises(ValueError, match="different config"):
        ablate(config_from_dict(raw), out=tmp_path / "a", progress=False)


@pytest.mark.slow
def test_parallel_variants_match_sequential(tmp_path):
    """`jobs=2` runs variants in worker processes; same config and seed, same table as one at a time."""
    data_dir = tmp_path / "smpd"
    generate_smpd_image(data_dir, n_posts=400, n_users=50, seed=2, image_size=0, progress=False)
    raw = raw_config(tmp_path, data_dir, importance={"permutation": False})
    cols = ["variant", "final", "src", "mae", "mape", "rows"]
    seq = pd.read_csv(ablate(config_from_dict(raw), out=tmp_path / "a1", jobs=1, progress=False,
                             only=["no_text", "no_ensemble"]) / "ablation.csv")
    par = pd.read_csv(ablate(config_from_dict(raw), out=tmp_path / "a2", jobs=2, progress=False,
                             only=["no_text", "no_ensemble"]) / "ablation.csv")
    pd.testing.assert_frame_equal(seq[cols], par[cols])
