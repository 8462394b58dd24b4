"""One lever at a time on the suite's tables: smp's system there (the bundled `smpd_video` on SMP-Video, the
automatic preset on popbench) against the same config with the lever, by `smp compare`'s paired report on the
suite's forward windows (the latest 40% of labelled posts in 4 blocks, each scored by a fit on every post before).

    .venv/bin/python benchmarks/bench_levers.py OUT_DIR LEVER DATASETS [SEEDS]
    .venv/bin/python benchmarks/bench_levers.py /tmp/lev trend udemy,ted 0,1,2

Prints each table's verdicts (B = with the lever, minus A = without) and writes OUT_DIR/<lever>-<table>.json (the
paired report). The levers are `LEVERS`; `a+b` applies both (e.g. `sentence+typed+diverse`).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Callable

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

import smp  # noqa: E402
from bench_suite import DATASETS  # noqa: E402
from smp.pipelines.api import combine  # noqa: E402
from smp.pipelines.comparison import compare_frames  # noqa: E402
from smp.pipelines.config import RunConfig  # noqa: E402
from smp.pipelines.forward import ForwardPlan, Recipe  # noqa: E402
from smp.pipelines.presets import recency_half_life  # noqa: E402

TREES = ("lgbm", "catboost")
LEVEL1 = ("lgbm", "catboost", "extratrees", "knn", "ridge")


Lever = Callable[[RunConfig, pd.DataFrame], RunConfig]


def with_feature(name: str, **params) -> Lever:
    def lever(cfg: RunConfig, frame: pd.DataFrame) -> RunConfig:
        features = [{"name": f.name, "params": dict(f.params)} for f in cfg.features]
        return cfg.evolve(features=features + [{"name": name, "params": params}])
    return lever


def with_feature_params(name: str, **params) -> Lever:
    def lever(cfg: RunConfig, frame: pd.DataFrame) -> RunConfig:
        return cfg.evolve(features=[{"name": f.name, "params": {**dict(f.params), **params} if f.name == name
                                     else dict(f.params)} for f in cfg.features])
    return lever


def with_model_params(keys: tuple[str, ...], **params) -> Lever:
    def lever(cfg: RunConfig, frame: pd.DataFrame) -> RunConfig:
        models = [{"key": m.key, "params": {**dict(m.params), **params} if m.key in keys else dict(m.params)}
                  for m in cfg.models]
        return cfg.evolve(models=models)
    return lever


def with_models(*models: dict) -> Lever:
    def lever(cfg: RunConfig, frame: pd.DataFrame) -> RunConfig:
        return cfg.evolve(models=[{"key": m.key, "params": dict(m.params)} for m in cfg.models] + list(models))
    return lever


def typed_meta(cfg: RunConfig, frame: pd.DataFrame) -> RunConfig:
    """post_meta reads dates, URLs and free text by type; string category columns also get in-fold label means."""
    from smp.features.meta import column_type

    cats = [c for c in frame.columns if str(c).startswith("meta_") and column_type(frame[c], typed=True) == "category"]
    features = []
    for f in cfg.features:
        params = dict(f.params)
        if f.name == "post_meta":
            params["typed"] = True
        features.append({"name": f.name, "params": params})
    if cats:
        features.append({"name": "category_target", "params": {"columns": cats}})
    return cfg.evolve(features=features)


def words(cfg: RunConfig, frame: pd.DataFrame) -> RunConfig:
    """Binary indicators of the frequent words and word pairs of every text column the table has."""
    from smp.pipelines.presets import TEXT_COLUMNS, has_data

    features = [{"name": f.name, "params": dict(f.params)} for f in cfg.features]
    return cfg.evolve(features=features + [{"name": "words", "params": {"column": c}} for c in TEXT_COLUMNS
                                           if has_data(frame, c)])


def with_recency(scale: float = 1.0) -> Lever:
    """Newer training posts weigh more: weight 0.5 ** (age / half-life), the half-life `scale` times the preset's (a
    quarter of the time the labelled posts span, so the oldest weigh about 1/16), at least a day."""
    def lever(cfg: RunConfig, frame: pd.DataFrame) -> RunConfig:
        half_life = max(recency_half_life(frame[frame["split"].eq("train")]) * scale, 1.0)
        return cfg.evolve(training={"sample_weight": "recency", "recency_half_life_days": half_life})
    return lever


def without_models(*keys: str) -> Lever:
    def lever(cfg: RunConfig, frame: pd.DataFrame) -> RunConfig:
        return cfg.evolve(models=[{"key": m.key, "params": dict(m.params)} for m in cfg.models if m.key not in keys])
    return lever


def without_features(*names: str) -> Lever:
    def lever(cfg: RunConfig, frame: pd.DataFrame) -> RunConfig:
        return cfg.evolve(features=[{"name": f.name, "params": dict(f.params)} for f in cfg.features
                                    if f.name not in names])
    return lever


def first_preset(cfg: RunConfig, frame: pd.DataFrame) -> RunConfig:
    """The automatic preset as it was before the levers it now holds: no sentences, untyped meta columns, no
    in-fold means of meta columns, LightGBM and CatBoost only. Comparing the preset with this lever gives B - A =
    (before) - (now)."""
    features = []
    for f in cfg.features:
        params = dict(f.params)
        if f.name == "sentence":
            continue
        if f.name == "post_meta":
            params.pop("typed", None)
        if f.name == "category_target":
            params["columns"] = [c for c in params.get("columns", []) if not str(c).startswith("meta_")]
            if not params["columns"]:
                continue
        features.append({"name": f.name, "params": params})
    models = [{"key": m.key, "params": dict(m.params)} for m in cfg.models if m.key in TREES]
    return cfg.evolve(features=features, models=models)


LEVERS: dict[str, Lever] = {
    "user_history": with_feature("user_history"),
    "trend": with_model_params(TREES, trend={"column": "time__days_since_start"}),
    "trend_recent": with_model_params(TREES, trend={"column": "time__days_since_start", "share": 0.5}),
    "trend_all": with_model_params(LEVEL1, trend={"column": "time__days_since_start"}),
    "trend_all_recent": with_model_params(LEVEL1, trend={"column": "time__days_since_start", "share": 0.3}),
    "diverse": with_models({"key": "extratrees", "params": {}}, {"key": "knn", "params": {}}),
    "mae": lambda cfg, frame: cfg.evolve(metric="mae"),
    "greedy": lambda cfg, frame: cfg.evolve(stack={"learners": [*[m.key for m in cfg.stack.learners], "greedy_blend"]}),
    "typed": typed_meta,
    "meta_min2": with_feature_params("post_meta", min_count=2),
    "recency": with_recency(),
    "time_tail": lambda cfg, frame: cfg.evolve(stack={"time_tail": 0.2}),
    "time_cv": lambda cfg, frame: cfg.evolve(cv={"scheme": "time"}),
    "no_extratrees": without_models("extratrees"),
    "no_knn": without_models("knn"),
    "recency_eighth": with_recency(0.5),  # twice as steep: an eighth of the labelled span
    "mlp": with_models({"key": "mlp", "params": {}}),
    "realmlp": with_models({"key": "realmlp", "params": {}}),
    # SMP-Video's raw high-cardinality categories (user id, music title) stay out, as they do for its LightGBM
    "realmlp_video": with_models({"key": "realmlp", "params": {"exclude": ["raw_categories__"]}}),
    "xgboost": with_models({"key": "xgboost", "params": {}}),
    "no_realmlp": without_models("realmlp"),  # the preset without its network (B - A = (without) - (with))
    "refit": lambda cfg, frame: cfg.evolve(training={"early_stopping": "refit"}),
    "no_category_target": without_features("category_target"),
    "folds8": lambda cfg, frame: cfg.evolve(cv={"n_splits": 8}),
    "sentence": with_feature("sentence"),
    "words": words,
    "first_preset": first_preset,
}


def lever_of(name: str) -> Lever:
    """A lever by name; `a+b+c` applies a, then b, then c."""
    parts = name.split("+")
    unknown = [p for p in parts if p not in LEVERS]
    if unknown:
        raise SystemExit(f"unknown lever(s) {unknown}; known: {sorted(LEVERS)} (join with +)")

    def lever(cfg: RunConfig, frame: pd.DataFrame) -> RunConfig:
        for p in parts:
            cfg = LEVERS[p](cfg, frame)
        return cfg
    return lever


def systems(name: str, lever: str, frame: pd.DataFrame) -> tuple[Recipe, Recipe, tuple[str, str]]:
    """(A, B, their names) for `smp compare`: on SMP-Video the bundled config without and with the lever; on
    popbench the automatic preset, chosen on each window's own training posts as the suite chooses it (A is the
    suite's smp, so both share fitted folds through the fold cache), without and with the lever applied to it."""
    apply = lever_of(lever)
    ds = DATASETS[name]
    if ds.config:
        base = smp.load_config(ds.config)
        return base, apply(base, frame).evolve(name=f"{base.name}+{lever}"), (base.name, f"{base.name}+{lever}")

    def with_lever(fit: pd.DataFrame, seed: int) -> RunConfig:
        base = smp.Predictor(None, seed=seed).resolve_config(combine(fit))  # the frame `fit` resolves on
        return apply(base, fit).evolve(name=f"{base.name}+{lever}")
    return None, with_lever, ("auto", f"auto+{lever}")


def main(out: str, lever: str, names: str, seeds: str = "0") -> int:
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    seed_list = [int(s) for s in seeds.split(",")]
    for name in names.split(","):
        target = folder / f"{lever}-{name}.json"
        if target.exists():
            raise SystemExit(f"{target} exists: choose another OUT_DIR")
        t = time.perf_counter()
        frame = DATASETS[name].frame()
        a, b, names_ab = systems(name, lever, frame)
        report, _, _ = compare_frames(a, b, frame, plan=ForwardPlan.of(4), seeds=seed_list, names=names_ab)
        target.write_text(json.dumps(report, indent=1, default=str) + "\n")
        print(name, f"{time.perf_counter() - t:.0f}s", *report["verdicts"], sep="\n  ", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
