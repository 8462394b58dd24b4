"""Larger runs, excluded from the default test run (`make test-slow`)."""

from __future__ import annotations

import json

import pytest

from smp.pipelines.config import load_config
from smp.pipelines.runner import run

pytestmark = pytest.mark.slow


def test_default_config_end_to_end(tmp_path):
    """The main job exactly as `make run` runs it (20,000 synthetic posts, LightGBM + CatBoost, 5 folds)."""
    cfg = load_config("default").evolve(output={"runs_dir": str(tmp_path / "runs"),
                                                "submissions_dir": str(tmp_path / "subs"),
                                                "cache_dir": str(tmp_path / "cache")})
    d = run(cfg, progress=False)
    metrics = json.loads((d / "metrics.json").read_text())
    assert metrics["models"][metrics["final"]]["overall"]["src"] > 0.8
    assert len(json.loads((d / "submission.json").read_text())["result"]) == 4000
