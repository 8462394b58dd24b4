"""`benchmarks/bench_run.py` tells the run's stages apart from its log lines, for the peak memory per stage."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import SimpleNamespace

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_run.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_run", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_follow_log_moves_through_load_features_each_learner_and_the_rest(capfdbinary):
    bench = _bench()
    cfg = SimpleNamespace(cv=SimpleNamespace(n_splits=5), models=[SimpleNamespace(name="lgbm"),
                                                                  SimpleNamespace(name="catboost")])
    sampler = SimpleNamespace(stage=0, stages=bench.run_stages(cfg))
    assert sampler.stages == ["load", "features", "lgbm (5 folds)", "catboost (5 folds)",
                              "stack, importance, writing"]
    lines = [
        b"[smp] loaded 100 posts (80 train, 20 test, 9 users) in 0.1s\n",
        b"features: 40%|###  | 2/5 [00:01<00:01]\r",  # a progress bar: no newline, no stage change
        b"[smp] 12 static feature columns (0/5 generators from cache), 1 label-using generators in 1.0s\n",
        b"[smp] catboost     CV SRC 0.5  MAE 1.0  (1.0s)\n",  # not the learner running now: no change
        b"[smp] lgbm         CV SRC 0.5  MAE 1.0  (1.0s)\n",
        b"[smp] catboost     CV SRC 0.6  MAE 0.9  (2.0s)\n",
        b"[smp] blend_2      CV SRC 0.7  MAE 0.8\n",
    ]
    stages = []
    for k in range(1, len(lines) + 1):
        sampler.stage = 0
        read, write = os.pipe()
        with os.fdopen(write, "wb") as w:
            w.write(b"".join(lines[:k]))
        with os.fdopen(read, "rb") as r:
            bench.follow_log(r, sampler, ["lgbm", "catboost"])
        stages.append(sampler.stage)
    assert stages == [1, 1, 2, 2, 3, 4, 4]
    assert b"".join(lines) in capfdbinary.readouterr().err  # the log is passed through as it came


def test_cold_says_when_built_models_live_outside_the_cache_dir(tmp_path, monkeypatch, capsys):
    from smp.pipelines.config import load_config

    bench = _bench()
    cfg = load_config("default").evolve(output={"cache_dir": str(tmp_path / "cache")})
    (tmp_path / "cache" / "rows").mkdir(parents=True)
    monkeypatch.delenv("SMP_MODELS_DIR", raising=False)
    bench.clear_caches(cfg)
    out = capsys.readouterr().out
    assert "removed 1 entries" in out and "kept the built models" not in out
    assert not (tmp_path / "cache" / "rows").exists()
    monkeypatch.setenv("SMP_MODELS_DIR", str(tmp_path / "shared"))
    bench.clear_caches(cfg)
    assert f"kept the built models in {tmp_path / 'shared'}" in capsys.readouterr().out
