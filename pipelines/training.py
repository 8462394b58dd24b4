"""The training stage every verb shares, after `prepare`: optional Optuna tuning of the level-1 learners, the
level-1 learners through `cross_fit`, stacking over any number of levels, all wrapped in optional pseudo-label rounds.

    tuning (once, real rows only) -> [ level 1 -> level 2 (+ fold blend) -> level 3 ... ] x pseudo rounds

`train(prepared)` returns everything the run folder needs and `fitted_run` turns it into the `FittedRun` that
predicts new posts; `write_training_files` adds `tuning/` (best params, trials CSV, plot) and `pseudo.json`
(+ plot) to the run folder.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from smp.ensembles import (GREATER_IS_BETTER, CVResult, PseudoRows, StackModel, cross_fit, latest_fold, make_model,
                           score_all, scored_on_folds, stack_levels)
from smp.ensembles.foldcache import FoldCache
from smp.ensembles.pseudo import PseudoRound, pseudo_rounds, pseudo_rows

from .config import RunConfig
from .fitted import FittedRun
from .prepare import Prepared

log = logging.getLogger("smp")


@dataclass(frozen=True)
class Ensemble:
    """The fitted results of one training pass: level 1, the stack levels, the optional calibration of the final
    model, and which result is final (chosen when the ensemble is built, `choose_final`)."""

    level1: dict[str, CVResult]
    levels: list[dict[str, CVResult]]  # level 2, 3, ...
    final: str
    pseudo: PseudoRows | None = None
    calibrated: dict[str, CVResult] = field(default_factory=dict)  # `<final>_cal` when [calibration] is on
    stack_seconds: float = 0.0  # wall time of the stack levels (level 2 and up) of this fit
    final_reason: dict = field(default_factory=dict)  # why `final` was chosen (`choose_final`)
    # `[stack] time_tail`: level-1 learners fitted on the earlier posts, their predictions of the latest posts
    latest: dict[str, CVResult] = field(default_factory=dict)

    @property
    def results(self) -> dict[str, CVResult]:
        out = dict(self.level1)
        for lv in self.levels:
            out.update(lv)
        out.update(self.calibrated)
        return out


@dataclass(frozen=True)
class Trained:
    """What `train` returns: the ensemble, the tuning results, the pseudo-label rounds and the timings."""

    ensemble: Ensemble
    tuning: dict[str, Any] = field(default_factory=dict)  # name -> TuneResult
    pseudo_history: list[PseudoRound] = field(default_factory=list)
    level_passthrough: list[bool] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def tune_level1(prep: Prepared, *, progress: bool = False) -> dict:
    """Tune the configured level-1 learners; returns name -> TuneResult (best params reused when a finished
    study for the same data, folds and base params exists, unless `retune`)."""
    from smp.ensembles.tuning import Heartbeat, default_storage, search_spaces, tune

    cfg = prep.cfg
    tc = cfg.tuning
    metric = tc.metric or cfg.metric
    heartbeat = Heartbeat(tc.heartbeat_interval, tc.grace_period, tc.max_retry)
    names = tc.models or [m.name for m in cfg.models if m.key in search_spaces()]
    storage = tc.storage or default_storage(cfg.output.cache_dir)
    out = {}
    for m in cfg.models:
        if m.name not in names:
            continue
        base = level1_model(cfg, m.key, m.name, m.params).params
        out[m.name] = tune(m.key, prep.X_train, prep.y, prep.folds, name=m.name, base_params=base,
                           fold_features=prep.fold_features, metric=metric, n_trials=tc.n_trials,
                           timeout=tc.timeout or None, storage=storage, study_prefix=tc.study_prefix or cfg.name,
                           seed=cfg.seed, workers=tc.workers, retune=tc.retune, startup_trials=tc.startup_trials,
                           warmup_folds=tc.warmup_folds, heartbeat=heartbeat, stopping=prep.stopping,
                           sample_weight=prep.weights, progress=progress)
        r = out[m.name]
        log.info("tuned %-10s best %s %.4f (trial %d of %d%s) %s", m.name, metric, r.best_value, r.best_trial,
                 r.n_finished, ", reused" if r.reused else "", r.best_params)
    return out


TREE_MODELS = ("lgbm", "catboost")


def level1_model(cfg: RunConfig, key: str, name: str, params: dict):
    """A level-1 learner as the run fits it: the run seed, the run metric's objective, `[selection]` when it applies."""
    sel = cfg.selection
    if sel.method != "none" and (name in sel.models or (not sel.models and key in TREE_MODELS)):
        params = {"select": {"method": sel.method, "share": sel.share, "quantile": sel.quantile}, **params}
    return make_model(key, params, seed=cfg.seed, metric=cfg.metric, threads=fold_threads(cfg))


def fold_threads(cfg: RunConfig) -> int | None:
    """Threads per fold fit when folds run in parallel on this machine (`engine = "local"`, `n_jobs != 1`): the
    cores split between the fold processes, so boosters do not oversubscribe them; None leaves the library's own
    default (one fit at a time uses every core). A model's own thread parameter wins over both."""
    n_jobs = cfg.local.n_jobs
    if cfg.engine != "local" or n_jobs == 1:
        return None
    cores = os.cpu_count() or 1
    return max(1, cores // (cores if n_jobs == -1 else n_jobs))


def choose_final(results: dict[str, CVResult], final: str, metric: str,
                 stacked: set[str] | frozenset[str] = frozenset()) -> tuple[str, dict]:
    """(the final model, why): the result `final` names, or with "best" the stack unless a single model beats it
    by more than the fold-to-fold noise.

    CV scores of near-tied models differ by noise, and the one that wins CV by 0.0001 is no better on later posts.
    So with "best", the best of the `stacked` results (level 2 and up: blends and stackers) is final unless the
    result with the best CV beats it on the folds, paired: its mean per-fold gain must exceed the one-sided 95%
    bound of a paired t-test over the folds. With no stack, the best CV result is final."""
    if final != "best":
        if final not in results:
            raise KeyError(f"stack.final {final!r} is not a result of this run; results: {sorted(results)}")
        return final, {"rule": "named", "final": final}
    sign = 1.0 if GREATER_IS_BETTER[metric] else -1.0
    scored = {k: r.scores[metric] for k, r in results.items() if np.isfinite(r.scores[metric])}
    if not scored:
        raise ValueError(f"no result has a finite CV {metric}")
    best = max(sorted(scored), key=lambda k: sign * scored[k])
    stack = [k for k in sorted(scored) if k in stacked]
    if not stack or best in stacked:
        return best, {"rule": "best CV" if not stack else "best CV (a stack result)", "final": best,
                      "cv": scored[best]}
    top = max(stack, key=lambda k: sign * scored[k])
    gain = sign * np.array([a[metric] - b[metric] for a, b in zip(results[best].fold_scores,
                                                                  results[top].fold_scores)], dtype=float)
    gain = gain[np.isfinite(gain)]
    why = {"best_single": best, "best_single_cv": scored[best], "stack": top, "stack_cv": scored[top],
           "fold_gains": gain.tolist()}
    if len(gain) < 2:
        return top, {**why, "rule": "stack (too few folds to tell the single model from noise)", "final": top}
    from scipy.stats import t as student

    bound = float(student.ppf(0.95, len(gain) - 1) * gain.std(ddof=1) / np.sqrt(len(gain)))
    why.update(mean_fold_gain=float(gain.mean()), noise_bound=bound)
    if gain.mean() > bound:
        return best, {**why, "rule": "single model beats the stack beyond fold noise", "final": best}
    return top, {**why, "rule": "stack: the single model's lead is within fold noise", "final": top}


def fold_cache(cfg: RunConfig) -> FoldCache | None:
    """The run's fold-result cache (`<cache_dir>/folds`), or None with `[output] fold_cache = false`."""
    return FoldCache(Path(cfg.output.cache_dir) / "folds") if cfg.output.fold_cache else None


def fit_ensemble(prep: Prepared, *, params: dict[str, dict], pseudo: PseudoRows | None = None,
                 progress: bool = True, engine=None, cache: FoldCache | None = None) -> Ensemble:
    cfg = prep.cfg
    level1: dict[str, CVResult] = {}
    for m in cfg.models:
        tm = time.perf_counter()
        res = cross_fit(level1_model(cfg, m.key, m.name, params.get(m.name, m.params)), prep.X_train, prep.y,
                        folds=prep.folds, X_test=prep.X_test, fold_features=prep.fold_features,
                        sample_weight=prep.weights, pseudo=pseudo, progress=progress, desc=m.name, engine=engine,
                        stopping=prep.stopping, cache=cache)
        level1[m.name] = replace(res, seconds=time.perf_counter() - tm)
        cached = sum(bool(p.get("from_cache")) for p in res.placements)
        log.info("%-12s CV SRC %.4f  MAE %.4f  (%.1fs%s)", m.name, res.scores["src"], res.scores["mae"],
                 level1[m.name].seconds,
                 f", {cached}/{len(prep.folds)} folds from the fold cache" if cached else "")
    specs = []
    if cfg.stack.learners or cfg.stack.fold_blend:
        specs.append(({m.name: make_model(m.key, m.params, seed=cfg.seed, metric=cfg.metric)
                       for m in cfg.stack.learners}, cfg.stack.passthrough))
        for lv in cfg.stack.levels:
            specs.append(({m.name: make_model(m.key, m.params, seed=cfg.seed, metric=cfg.metric)
                           for m in lv.learners}, lv.passthrough))
    tail = latest_posts_fit(prep, params, progress=progress, engine=engine, cache=cache) if cfg.stack.time_tail else {}
    # With a time tail the stack learns from (and the final is judged on) the latest posts as predicted by models
    # fitted on the earlier ones; predictions still come from the K-fold models.
    stack_inputs = {k: replace(r, oof=tail[k].oof) for k, r in level1.items()} if tail else level1
    ts = time.perf_counter()
    levels = stack_levels(stack_inputs, prep.y, prep.folds, specs, X=prep.X_train, X_test=prep.X_test,
                          fold_blend_level2=cfg.stack.fold_blend, blend=make_model("blend", metric=cfg.metric),
                          sample_weight=prep.weights, progress=progress) if specs else []
    for lv in levels:
        for name, r in lv.items():
            log.info("%-12s CV SRC %.4f  MAE %.4f", name, r.scores["src"], r.scores["mae"])
    stacked = {name for lv in levels for name in lv}
    # `latest_posts_fit` already scored each learner on the stack's rows and folds
    final, why = choose_final({**(tail or level1), **{k: v for lv in levels for k, v in lv.items()}}, cfg.stack.final,
                              cfg.metric, stacked)
    if tail:
        n_late = int(np.isfinite(next(iter(tail.values())).oof).sum())
        why = {**why, "judged_on": f"the latest {n_late} labelled posts ([stack] time_tail = {cfg.stack.time_tail}), "
                                   "predicted by level-1 models fitted on the earlier posts"}
    log.info("final: %s (%s%s)", final, why["rule"], "; judged on the latest posts" if tail else "")
    return Ensemble(level1, levels, final, pseudo, stack_seconds=time.perf_counter() - ts, final_reason=why,
                    latest=tail)


def latest_posts_fit(prep: Prepared, params: dict[str, dict], *, progress: bool = True, engine=None,
                     cache: FoldCache | None = None) -> dict[str, CVResult]:
    """`[stack] time_tail`: each level-1 learner fitted once more on the earlier labelled posts (its label features
    fitted on them too), predicting the latest `time_tail` share by time; NaN on the earlier rows. These are the
    errors later posts meet (a tree that cannot extrapolate the time trend shows it here, not in K-fold CV)."""
    cfg = prep.cfg
    fold = latest_fold(prep.train, cfg.stack.time_tail)
    features = prep.fold_features.apart() if prep.fold_features is not None else None
    out = {}
    for m in cfg.models:
        res = cross_fit(level1_model(cfg, m.key, m.name, params.get(m.name, m.params)), prep.X_train, prep.y,
                        folds=[fold], fold_features=features, sample_weight=prep.weights, progress=progress,
                        desc=f"{m.name} (latest posts)", engine=engine, stopping=prep.stopping, cache=cache)
        out[m.name] = scored_on_folds(res, prep.y, prep.folds)
        log.info("%-12s latest %d posts: SRC %.4f  MAE %.4f  bias %+.4f", m.name, len(fold[1]),
                 out[m.name].scores["src"], out[m.name].scores["mae"], out[m.name].scores.get("bias", float("nan")))
    return out


ABSOLUTE_METRICS = ("mae", "mape", "smp")  # absolute-error metrics: LAD calibration lines, median guard on "auto"


def median_guard_on(cfg: RunConfig) -> bool:
    """`[calibration] median_guard`: on, off, or auto (on for an absolute-error metric)."""
    mg = cfg.calibration.median_guard
    return mg == "on" or (mg == "auto" and cfg.metric in ABSOLUTE_METRICS)


def calibrates(cfg: RunConfig) -> bool:
    """Whether `[calibration]` changes the final prediction at all (a map, a trend or the median guard)."""
    cc = cfg.calibration
    return cc.method != "none" or cc.trend or median_guard_on(cfg)


def calibrate(prep: Prepared, ens: Ensemble) -> Ensemble:
    """`[calibration]` on the final model's out-of-fold predictions: the calibrated result joins the ensemble as
    `<final>_cal` (its CV from cross-fitted calibrators) and becomes final; off: the ensemble unchanged."""
    from smp.ensembles.calibration import Calibrator, cross_fit_calibration

    cfg = prep.cfg
    if not calibrates(cfg):
        return ens
    cc = cfg.calibration
    base_name = ens.final
    base = ens.results[base_name]
    template = Calibrator(cc.method, cc.trend, median_guard_on(cfg), absolute=cfg.metric in ABSOLUTE_METRICS,
                          relative=cfg.metric == "mape")
    times = prep.train["post_time"]
    oof = cross_fit_calibration(template, base.oof, prep.y, times, prep.folds)
    ok = np.isfinite(base.oof)
    cal = replace(template, params_={})
    cal.fit(base.oof[ok], prep.y[ok], times[ok])
    test_pred = None if base.test_pred is None else cal(base.test_pred, prep.test)
    res = CVResult(oof=oof, test_pred=test_pred, fold_scores=[score_all(prep.y[va], oof[va]) for _, va in prep.folds],
                   scores=score_all(prep.y, oof), models=[], importances=pd.DataFrame(), kind="calibration",
                   inputs=(base_name,), calibrator=cal)
    name = f"{base_name}_cal"
    log.info("%-12s CV SRC %.4f  MAE %.4f  (calibrated %s: %s)", name, res.scores["src"], res.scores["mae"],
             base_name, cal.describe())
    return Ensemble(ens.level1, ens.levels, name, ens.pseudo, calibrated={name: res}, stack_seconds=ens.stack_seconds,
                    latest=ens.latest,
                    final_reason={**ens.final_reason, "calibrated": name})


def train(prep: Prepared, *, progress: bool = True, engine=None) -> Trained:
    """Tuning (when enabled), level 1 and the stack levels, inside pseudo-label rounds (when enabled)."""
    cfg = prep.cfg
    timings: dict[str, float] = {}
    t = time.perf_counter()
    tuned = tune_level1(prep, progress=progress) if cfg.tuning.enabled else {}
    params = {m.name: {**m.params, **tuned[m.name].best_params} if m.name in tuned else m.params for m in cfg.models}
    timings["tuning"] = time.perf_counter() - t
    t = time.perf_counter()
    level_pt = [cfg.stack.passthrough] + [lv.passthrough for lv in cfg.stack.levels]

    cache = fold_cache(cfg)

    def fit(rows):
        ens = fit_ensemble(prep, params=params, pseudo=rows, progress=progress, engine=engine, cache=cache)
        return ens.results[ens.final].scores[cfg.metric], ens

    if not cfg.pseudo.enabled or len(prep.X_test) == 0:
        _, ens = fit(None)
        timings["training"] = time.perf_counter() - t
        return Trained(_calibrated(prep, ens, timings), tuned, [], level_pt, timings)
    pc = cfg.pseudo

    def select(ens: Ensemble):
        return pseudo_rows(ens.level1, ens.results[ens.final].test_pred, alpha=pc.alpha, weight=pc.weight,
                           source=pc.source)

    ens, history = pseudo_rounds(fit, select, rounds=pc.rounds, greater_is_better=GREATER_IS_BETTER[cfg.metric],
                                 min_gain=pc.min_gain, log=log.info)
    timings["training"] = time.perf_counter() - t
    return Trained(_calibrated(prep, ens, timings), tuned, history, level_pt, timings)


def _calibrated(prep: Prepared, ens: Ensemble, timings: dict[str, float]) -> Ensemble:
    """`calibrate`, with the stack levels' and the calibration's seconds added to `timings`."""
    t = time.perf_counter()
    out = calibrate(prep, ens)
    timings["stack"] = ens.stack_seconds
    timings["calibration"] = time.perf_counter() - t
    return out


def fitted_run(prep: Prepared, trained: Trained) -> FittedRun:
    """The part of a trained run that predicts new posts (pickled into the run folder)."""
    ens = trained.ensemble
    cal = next(iter(ens.calibrated.values()), None)
    return FittedRun(
        static_generators=prep.fs.static_generators,
        static_columns=list(prep.fs.static.columns),
        target_generators=dict(prep.fold_features.fitted),
        level1={k: r.models for k, r in ens.level1.items()},
        stack_levels=[{k: StackModel.of(r) for k, r in lv.items()} for lv in ens.levels],
        final=cal.base if cal else ens.final,
        final_name=ens.final,
        target_inputs=list(prep.target_inputs),
        postprocess={"calibration": cal.calibrator} if cal else {},
    )


def best_so_far(values: np.ndarray, metric: str) -> np.ndarray:
    """The best value up to each trial, in `metric`'s direction (the tuning plot's line)."""
    acc = np.maximum.accumulate if GREATER_IS_BETTER[metric] else np.minimum.accumulate
    return acc(np.asarray(values, dtype=float))


def write_training_files(d: Path, trained: Trained) -> None:
    """`tuning/` (see `write_tuning_files`); `pseudo.json` + plot; `fold_blend_2_weights.csv` (per-fold blend
    weights)."""
    from .report import new_figure

    for lv in trained.ensemble.levels:
        for name, r in lv.items():
            if r.kind == "fold_blend":  # the eq. 8-9 weights, one row per fold
                r.weights.to_csv(d / f"{name}_weights.csv", index_label="fold")
    write_tuning_files(d, trained.tuning)
    if trained.pseudo_history:
        rows = [{"round": h.round, "n_selected": h.n_selected, "cv": h.score, "accepted": h.accepted, **h.info}
                for h in trained.pseudo_history]
        (d / "pseudo.json").write_text(json.dumps(rows, indent=2, default=str) + "\n")
        fig, ax = new_figure(figsize=(5, 3.5))
        ax.plot([r["round"] for r in rows], [r["cv"] for r in rows], marker="o")
        for r in rows:
            ax.annotate(f"{r['n_selected']} rows", (r["round"], r["cv"]), fontsize=8)
        ax.set_xlabel("pseudo-label round")
        ax.set_ylabel("CV of the final model")
        fig.tight_layout()
        (d / "plots").mkdir(exist_ok=True)
        fig.savefig(d / "plots" / "pseudo_rounds.png", dpi=100)


def write_tuning_files(d: Path, tuning: dict[str, Any]) -> None:
    """Per tuned learner: `tuning/<name>.json` (best params, study), `tuning/<name>_trials.csv` and
    `plots/tuning_<name>.png` (each trial's CV score and the best so far, in the metric's direction)."""
    from .report import new_figure

    if tuning:
        (d / "tuning").mkdir(exist_ok=True)
        (d / "plots").mkdir(exist_ok=True)
    for name, r in tuning.items():
        info = {"model": r.key, "study_name": r.study_name, "storage": r.storage, "metric": r.metric,
                "best_value": r.best_value, "best_trial": r.best_trial, "best_params": r.best_params,
                "n_finished_trials": r.n_finished, "finished_per_worker": r.per_worker, "reused": r.reused,
                "seconds": r.seconds}
        (d / "tuning" / f"{name}.json").write_text(json.dumps(info, indent=2, default=str) + "\n")
        r.trials.to_csv(d / "tuning" / f"{name}_trials.csv", index=False)
        done = r.trials[r.trials["state"].astype(str).str.endswith("COMPLETE")]
        fig, ax = new_figure(figsize=(6, 3.5))
        if len(done):
            vals = done["value"].to_numpy(dtype=float)
            best = best_so_far(vals, r.metric)
            ax.scatter(done["number"], vals, s=12, label="trial")
            ax.plot(done["number"], best, color="C1", label="best so far")
            ax.legend()
        ax.set_xlabel("trial")
        ax.set_ylabel(f"CV {r.metric}")
        ax.set_title(f"tuning {name} ({r.n_finished} finished trials)")
        fig.tight_layout()
        fig.savefig(d / "plots" / f"tuning_{name}.png", dpi=100)
