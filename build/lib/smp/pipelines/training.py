"""The training stage of `smp run`: optional Optuna tuning of the level-1 learners, the level-1 learners through
`cross_fit`, stacking over any number of levels, all wrapped in optional pseudo-label rounds.

    tuning (once, real rows only) -> [ level 1 -> level 2 (+ fold blend) -> level 3 ... ] x pseudo rounds

`train` returns everything the run folder and `FittedRun` need; `write_training_files` adds `tuning/` (best
params, trials CSV, plot) and `pseudo.json` (+ plot) to the run folder.
"""

from __future__ import annotations

import json
import logging
from functools import partial
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from smp.ensembles import GREATER_IS_BETTER, CVResult, FoldFeatures, PseudoRows, cross_fit, get_model, stack_levels
from smp.ensembles.pseudo import PseudoRound, pseudo_rounds, pseudo_rows

from .config import RunConfig

log = logging.getLogger("smp")


@dataclass
class Ensemble:
    level1: dict[str, CVResult]
    levels: list[dict[str, CVResult]]  # level 2, 3, ...
    final: str
    pseudo: PseudoRows | None = None

    @property
    def results(self) -> dict[str, CVResult]:
        out = dict(self.level1)
        for lv in self.levels:
            out.update(lv)
        return out


@dataclass
class Trained:
    ensemble: Ensemble
    tuning: dict[str, Any] = field(default_factory=dict)  # name -> TuneResult
    pseudo_history: list[PseudoRound] = field(default_factory=list)
    level_passthrough: list[bool] = field(default_factory=list)


def seeded(key: str, params: dict, seed: int):
    """The model with the run seed unless its params set one (each library names it differently)."""
    model = get_model(key, params)
    for name in ("seed", "random_seed", "random_state"):
        if name in model.params and name not in params:
            model.params[name] = seed
    return model


def tune_level1(cfg: RunConfig, X: pd.DataFrame, y: np.ndarray, folds, fold_features: FoldFeatures, *,
                progress: bool = False) -> dict:
    """Tune the configured level-1 learners; returns name -> TuneResult (best params reused when a finished
    study for the same data, folds and base params exists, unless `retune`)."""
    from smp.ensembles.tuning import SPACES, Heartbeat, default_storage, tune

    tc = cfg.tuning
    heartbeat = Heartbeat(tc.heartbeat_interval, tc.grace_period, tc.max_retry)
    names = tc.models or [m.name for m in cfg.models if m.key in SPACES]
    storage = tc.storage or default_storage(cfg.output.cache_dir)
    out = {}
    for m in cfg.models:
        if m.name not in names:
            continue
        base = seeded(m.key, m.params, cfg.seed).params
        out[m.name] = tune(m.key, X, y, folds, name=m.name, base_params=base, fold_features=fold_features,
                           metric=tc.metric, n_trials=tc.n_trials, timeout=tc.timeout or None, storage=storage,
                           study_prefix=tc.study_prefix or cfg.name, seed=cfg.seed, workers=tc.workers,
                           retune=tc.retune, startup_trials=tc.startup_trials, warmup_folds=tc.warmup_folds,
                           heartbeat=heartbeat, progress=progress)
        r = out[m.name]
        log.info("tuned %-10s best %s %.4f (trial %d of %d%s) %s", m.name, tc.metric, r.best_value, r.best_trial,
                 r.n_finished, ", reused" if r.reused else "", r.best_params)
    return out


def fit_ensemble(cfg: RunConfig, X_train, y, X_test, folds, fold_features, *, params: dict[str, dict],
                 pseudo: PseudoRows | None = None, progress: bool = True, engine=None) -> Ensemble:
    from .run import choose_final

    level1: dict[str, CVResult] = {}
    for m in cfg.models:
        tm = time.perf_counter()
        level1[m.name] = cross_fit(seeded(m.key, params.get(m.name, m.params), cfg.seed), X_train, y, folds=folds,
                                   X_test=X_test, fold_features=fold_features, pseudo=pseudo, progress=progress,
                                   desc=m.name, engine=engine)
        level1[m.name].info["seconds"] = time.perf_counter() - tm
        log.info("%-12s CV SRC %.4f  MAE %.4f  (%.1fs)", m.name, level1[m.name].scores["src"],
                 level1[m.name].scores["mae"], level1[m.name].info["seconds"])
    specs = []
    if cfg.stack.learners or cfg.stack.fold_blend:
        specs.append(({m.name: seeded(m.key, m.params, cfg.seed) for m in cfg.stack.learners}, cfg.stack.passthrough))
        for lv in cfg.stack.levels:
            specs.append(({m.name: seeded(m.key, m.params, cfg.seed) for m in lv.learners}, lv.passthrough))
    levels = stack_levels(level1, y, folds, specs, X=X_train, X_test=X_test, fold_blend_level2=cfg.stack.fold_blend,
                          progress=progress) if specs else []
    for lv in levels:
        for name, r in lv.items():
            log.info("%-12s CV SRC %.4f  MAE %.4f", name, r.scores["src"], r.scores["mae"])
    ens = Ensemble(level1, levels, "", pseudo)
    ens.final = choose_final(ens.results, cfg.stack.final, cfg.metric)
    return ens


def train(cfg: RunConfig, X_train, y, X_test, folds, fold_features, *, progress: bool = True,
          timings: dict | None = None, engine=None) -> Trained:
    timings = {} if timings is None else timings
    t = time.perf_counter()
    tuned = tune_level1(cfg, X_train, y, folds, fold_features, progress=progress) if cfg.tuning.enabled else {}
    params = {m.name: {**m.params, **tuned[m.name].best_params} if m.name in tuned else m.params for m in cfg.models}
    timings["tuning"] = time.perf_counter() - t
    t = time.perf_counter()
    level_pt = [cfg.stack.passthrough] + [lv.passthrough for lv in cfg.stack.levels]

    def fit(rows):
        ens = fit_ensemble(cfg, X_train, y, X_test, folds, fold_features, params=params, pseudo=rows,
                           progress=progress, engine=engine)
        return ens.results[ens.final].scores[cfg.metric], ens

    if not cfg.pseudo.enabled or X_test is None or len(X_test) == 0:
        _, ens = fit(None)
        timings["training"] = time.perf_counter() - t
        return Trained(ens, tuned, [], level_pt)
    pc = cfg.pseudo

    def select(ens: Ensemble):
        return pseudo_rows(ens.level1, ens.results[ens.final].test_pred, alpha=pc.alpha, weight=pc.weight,
                           source=pc.source)

    ens, history = pseudo_rounds(fit, select, rounds=pc.rounds, greater_is_better=GREATER_IS_BETTER[cfg.metric],
                                 min_gain=pc.min_gain, log=log.info)
    timings["training"] = time.perf_counter() - t
    return Trained(ens, tuned, history, level_pt)


def write_training_files(d: Path, trained: Trained) -> None:
    """`tuning/<name>.json` + `tuning/<name>_trials.csv` + `plots/tuning_<name>.png`; `pseudo.json` + plot;
    `fold_blend_2_weights.csv` (per-fold blend weights)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for lv in trained.ensemble.levels:
        for name, r in lv.items():
            if r.info.get("kind") == "fold_blend":  # the eq. 8-9 weights, one row per fold
                r.info["weights"].to_csv(d / f"{name}_weights.csv", index_label="fold")
    if trained.tuning:
        (d / "tuning").mkdir(exist_ok=True)
        (d / "plots").mkdir(exist_ok=True)
    for name, r in trained.tuning.items():
        info = {"model": r.key, "study_name": r.study_name, "storage": r.storage, "metric": r.metric,
                "best_value": r.best_value, "best_trial": r.best_trial, "best_params": r.best_params,
                "n_finished_trials": r.n_finished, "finished_per_worker": r.per_worker, "reused": r.reused,
                "seconds": r.seconds}
        (d / "tuning" / f"{name}.json").write_text(json.dumps(info, indent=2, default=str) + "\n")
        r.trials.to_csv(d / "tuning" / f"{name}_trials.csv", index=False)
        done = r.trials[r.trials["state"].astype(str).str.endswith("COMPLETE")]
        fig, ax = plt.subplots(figsize=(6, 3.5))
        if len(done):
            vals = done["value"].to_numpy(dtype=float)
            best = np.maximum.accumulate(vals) if r.metric != "mae" else np.minimum.accumulate(vals)
            ax.scatter(done["number"], vals, s=12, label="trial")
            ax.plot(done["number"], best, color="C1", label="best so far")
            ax.legend()
        ax.set_xlabel("trial")
        ax.set_ylabel(f"CV {r.metric}")
        ax.set_title(f"tuning {name} ({r.n_finished} finished trials)")
        fig.tight_layout()
        fig.savefig(d / "plots" / f"tuning_{name}.png", dpi=100)
        plt.close(fig)
    if trained.pseudo_history:
        rows = [{"round": h.round, "n_selected": h.n_selected, "cv": h.score, "accepted": h.accepted, **h.info}
                for h in trained.pseudo_history]
        (d / "pseudo.json").write_text(json.dumps(rows, indent=2, default=str) + "\n")
        fig, ax = plt.subplots(figsize=(5, 3.5))
        ax.plot([r["round"] for r in rows], [r["cv"] for r in rows], marker="o")
        for r in rows:
            ax.annotate(f"{r['n_selected']} rows", (r["round"], r["cv"]), fontsize=8)
        ax.set_xlabel("pseudo-label round")
        ax.set_ylabel("CV of the final model")
        fig.tight_layout()
        (d / "plots").mkdir(exist_ok=True)
        fig.savefig(d / "plots" / "pseudo_rounds.png", dpi=100)
        plt.close(fig)


def tune_run(cfg: RunConfig, *, out: str | Path | None = None, progress: bool = True) -> Path:
    """`smp tune`: the run's data, features and folds, then Optuna tuning of the chosen level-1 learners (with
    `[tuning].workers` processes sharing each study). Writes `tuning/` and plots into a new folder
    (default `runs/<timestamp>-<name>-tune/`, written under a temporary name and renamed at the end); the studies
    stay in the storage, so a later `smp run` with `[tuning] enabled = true` and the same data reuses them."""
    import os
    import shutil

    from smp.ensembles import make_folds
    from smp.features import FeatureCache, build_features

    from .data import data_root, load_frame
    from .run import new_run_dir

    from smp.ensembles.tuning import SPACES

    names = {m.name: m.key for m in cfg.models}
    unknown = [n for n in cfg.tuning.models if n not in names]
    if unknown:
        raise ValueError(f"cannot tune {unknown}: not [[models]] names of this config; names: {sorted(names)}")
    if not [n for n in (cfg.tuning.models or names) if names[n] in SPACES]:
        raise ValueError(f"nothing to tune: none of {cfg.tuning.models or sorted(names)} has a search space "
                         f"(models with one: {sorted(SPACES)})")
    cfg.name = cfg.name if cfg.name.endswith("-tune") else f"{cfg.name}-tune"
    final_dir = new_run_dir(cfg, out)
    tmp = final_dir.with_name(f".{final_dir.name}.tmp-{os.getpid()}")
    root = data_root(cfg.data, cfg.output, progress)
    frame = load_frame(cfg.data, cfg.output, root=root, progress=progress)
    is_train = frame["split"].eq("train").to_numpy()
    train_posts = frame[is_train].reset_index(drop=True)
    y = train_posts["label"].to_numpy(dtype=float)
    fs = build_features(frame, cfg.features, cache=FeatureCache(cfg.output.cache_dir), progress=progress)
    X_train = fs.static[is_train].reset_index(drop=True)
    fold_seed = cfg.seed if cfg.cv.seed is None else cfg.cv.seed
    folds = make_folds(train_posts, scheme=cfg.cv.scheme, n_splits=cfg.cv.n_splits, seed=fold_seed)
    fold_features = FoldFeatures(
        fs.target_generators, train_posts, y,
        inner_folds=partial(make_folds, scheme=cfg.cv.scheme, n_splits=cfg.cv.n_splits, seed=fold_seed))
    # The study prefix is the run's name without "-tune", so `smp run` of the same config finds the studies.
    cfg.tuning.study_prefix = cfg.tuning.study_prefix or cfg.name[: -len("-tune")]
    t = time.perf_counter()
    tuned = tune_level1(cfg, X_train, y, folds, fold_features, progress=progress)
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        (tmp / "config.resolved.toml").write_text(cfg.to_toml())
        write_training_files(tmp, Trained(Ensemble({}, [], ""), tuned))
        (tmp / "tuning" / "summary.json").write_text(json.dumps(
            {name: {"best_value": r.best_value, "metric": r.metric, "n_finished_trials": r.n_finished,
                    "reused": r.reused} for name, r in tuned.items()} | {"seconds": time.perf_counter() - t},
            indent=2) + "\n")
        if final_dir.exists():
            final_dir.rmdir()
        tmp.rename(final_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("tuning folder: %s", final_dir)
    return final_dir
