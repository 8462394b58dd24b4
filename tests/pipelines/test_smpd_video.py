"""The shipped smpd_video config on the real SMP 2025 video-track metadata (skipped where the data is absent)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from smp.pipelines.cli import main
from smp.pipelines.config import load_config
from smp.pipelines.runner import run

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "smpd-video"
pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason=f"{DATA} not present")


def test_bundled_config_runs_and_predicts_another_folder(tmp_path):
    base = load_config("smpd_video")
    lgbm = next(m for m in base.models if m.key == "lgbm")
    # MiniLM over 5,000 prompts costs half a minute on 2 cores; its path is tested in tests/features/test_embeddings.py.
    # The cheap text embeddings (glove, word2vec) stay, so predicting another folder covers them.
    cfg = base.evolve(
        data={"path": str(DATA)}, cv={"n_splits": 3},
        features=[f for f in base.features if f.name != "sentence"],
        models=[{"key": "lgbm", "params": {**lgbm.params, "n_estimators": 80, "learning_rate": 0.1}}],
        output={"runs_dir": str(tmp_path / "runs"), "submissions_dir": str(tmp_path / "subs"),
                "cache_dir": str(tmp_path / "cache")})
    d = run(cfg, progress=False)
    metrics = json.loads((d / "metrics.json").read_text())
    assert metrics["models"]["lgbm"]["overall"]["src"] > 0.5  # a real signal, honestly cross-validated
    assert metrics["models"]["lgbm"]["overall"]["n"] == 3200
    sub = json.loads((d / "submission.json").read_text())
    assert len(sub["result"]) == 2000 and sub["result"][0]["post_id"].startswith("POST")

    # Another folder in the same layout: the same training files, a test split of 300 posts.
    other = tmp_path / "other"
    shutil.copytree(DATA, other)
    for table in ("posts", "videos"):
        path = other / "test" / f"SMP-Video_anonymized_{table}_test.jsonl"
        path.write_text("".join(path.read_text().splitlines(keepends=True)[:300]))
    out = tmp_path / "pred.csv"
    assert main(["-q", "predict", "--run", str(d), "--data", str(other), "--out", str(out)]) == 0
    got = pd.read_csv(out)
    want = pd.read_parquet(d / "test_pred.parquet").set_index("post_id")["final"]
    assert len(got) == 300
    # 300 of the 2000 test posts: per-user aggregates over train + these posts shift slightly, labels do not.
    assert got.set_index("post_id")["popularity_score"].corr(want.loc[got["post_id"]]) > 0.95
