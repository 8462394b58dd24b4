"""End to end with the full training recipe: `smp tune`, then a run with tuning (reusing that study), an MLP learner, per-fold blend, three stack levels and a pseudo-label
round in one small `smp run`, then `smp predict` reproduces the final test predictions from the run folder."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import tomli_w

from smp.pipelines.cli import main
from smp.pipelines.config import config_from_dict
from smp.pipelines.datasets.synthetic import generate_smpd_image
from smp.pipelines.runner import run


@pytest.mark.slow  # about 25 s on an idle machine: tuning, an MLP and a pseudo round refit every model
def test_full_engine_run_and_predict(tmp_path):
    data = tmp_path / "smpd"
    generate_smpd_image(data, n_posts=500, n_users=60, seed=5, image_size=0, progress=False)
    raw = {
        "name": "engine",
        "seed": 2,
        "data": {"format": "smpd_image", "path": str(data)},
        "cv": {"scheme": "kfold", "n_splits": 3},
        "features": ["user_profile", "user_posts", "time", "category", "text_stats", "user_target"],
        "models": [{"key": "lgbm", "params": {"n_estimators": 40, "num_leaves": 7}},
                   {"key": "mlp", "params": {"max_epochs": 4, "patience": 2, "hidden": [16]}},
                   {"key": "ridge", "name": "r"}],
        "stack": {"learners": ["blend", "ridge"], "fold_blend": True, "levels": [{"learners": ["ridge"]}]},
        "tuning": {"enabled": True, "models": ["r"], "n_trials": 2, "storage": f"sqlite:///{tmp_path / 't.db'}"},
        "pseudo": {"enabled": True, "rounds": 1, "alpha": 0.0, "weight": 0.5, "min_gain": -1.0},
        "output": {"runs_dir": str(tmp_path / "runs"), "submissions_dir": str(tmp_path / "subs"),
                   "cache_dir": str(tmp_path / "cache"), "post_id_prefix": "post"},
    }
    # `smp tune` first: the study it leaves in the storage is reused by the run (same data, folds and params).
    cfg_file = tmp_path / "engine.toml"
    cfg_file.write_text(tomli_w.dumps(raw))
    assert main(["-q", "tune", "--config", str(cfg_file), "--model", "r", "--trials", "2"]) == 0
    (tune_dir,) = (tmp_path / "runs").iterdir()
    assert tune_dir.name.endswith("engine-tune")
    first = json.loads((tune_dir / "tuning" / "r.json").read_text())
    assert not first["reused"] and first["n_finished_trials"] == 2
    assert main(["-q", "tune", "--config", str(cfg_file), "--model", "lgbm_typo"]) == 2  # a clear error, no traceback

    d = run(config_from_dict(raw), progress=False)
    metrics = json.loads((d / "metrics.json").read_text())
    assert {"lgbm", "mlp", "r", "blend_2", "ridge_2", "fold_blend_2", "ridge_3"} == set(metrics["models"])
    tuned = json.loads((d / "tuning" / "r.json").read_text())
    assert tuned["n_finished_trials"] == 2 and set(tuned["best_params"]) == {"alpha"}
    assert tuned["reused"] and tuned["best_params"] == first["best_params"] and tuned["study_name"] == first["study_name"]
    assert (d / "tuning" / "r_trials.csv").is_file() and (d / "plots" / "tuning_r.png").is_file()
    rounds = json.loads((d / "pseudo.json").read_text())
    assert [r["round"] for r in rounds] == [0, 1] and rounds[1]["n_selected"] > 0  # min_gain -1: round 1 is kept
    assert (d / "plots" / "pseudo_rounds.png").is_file()
    w = pd.read_csv(d / "fold_blend_2_weights.csv", index_col="fold")
    assert w.shape == (3, 3) and np.allclose(w.sum(axis=1), 1.0)
    out = tmp_path / "preds.csv"
    assert main(["-q", "predict", "--run", str(d), "--data", str(data), "--out", str(out)]) == 0
    got = pd.read_csv(out, dtype={"post_id": str})
    want = pd.read_parquet(d / "test_pred.parquet")
    np.testing.assert_allclose(got["popularity_score"], want["final"], rtol=1e-6, atol=1e-6)
