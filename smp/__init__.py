"""smp: feature engineering and K-fold stacking for social media popularity prediction.

    import smp
    train = smp.posts(df_train, mapping={"post_id": "id", "user_id": "author", "post_time": "created_at",
                                         "title": "title", "label": "points"})
    p = smp.Predictor(metric="src").fit(train, test=smp.posts(df_test, mapping=...))
    p.leaderboard(); p.predict(new_posts); p.feature_importance(); p.save("runs/mine")

The installed distribution holds one top-level package, `smp`; the source folders `features/`, `ensembles/` and
`pipelines/` install as `smp.features`, `smp.ensembles` and `smp.pipelines`. The public names below are imported
on first use, so `import smp` stays cheap (no torch, LightGBM or CatBoost until a model is fitted).
"""

from __future__ import annotations

import os
from importlib import import_module
from typing import Any

__version__ = "0.1.0"

# OpenMP threads that wait by sleeping, not spinning (unless the user chose): LightGBM's threads spin between
# parallel regions by default, and beside any other busy process (a second fold, a test run, another job) the
# spinning threads take the cores from the work. Measured on 2 cores at load ~6: a 2,500 x 290 LightGBM fit took
# 180 s spinning, 22 s passive, identical predictions. It must be set before the OpenMP runtime starts, so here,
# before anything of smp imports LightGBM, CatBoost or torch (`benchmarks/bench_omp_wait.py` repeats it).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# Public name -> module that defines it.
_API = {
    "posts": "smp.pipelines.api",
    "Predictor": "smp.pipelines.api",
    "load": "smp.pipelines.data",
    "ablate": "smp.pipelines.ablation",
    "evaluate": "smp.pipelines.forward",
    "evaluate_frame": "smp.pipelines.forward",
    "ForwardPlan": "smp.pipelines.forward",
    "compare": "smp.pipelines.comparison",
    "compare_frames": "smp.pipelines.comparison",
    "load_config": "smp.pipelines.config",
    "RunConfig": "smp.pipelines.config",
    "ConfigError": "smp.pipelines.config",
    "DataError": "smp.pipelines.datasets",
}

__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(import_module(_API[name]), name)
    raise AttributeError(f"module 'smp' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
