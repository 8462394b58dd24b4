"""The ablation (`smp ablate`): the full configuration and one variant without each feature group and each
training component.

Produces the table every SMP paper reports (HyperFusion Table 1, HVLA Table 1, PPCL Table 2): variant, SRC, MAE,
MAPE, the change against the full configuration and the standard deviation of SRC over folds.

Variants (see `plan_variants`):

- ``full``: the config as given;
- ``no_<group>``: every generator of that feature group removed (group = the generator's class attribute
  ``group``), one variant per group present in the config;
- ``no_ensemble``: the single best level-1 learner (by the config's metric), no blend or stack;
- ``single_split``: one seeded train/validation split of the config's fold scheme instead of K folds (scored on
  its validation part only; with no out-of-fold predictions on training rows there is nothing to stack, so it
  also keeps the best level-1 learner: compare it with ``no_ensemble`` for the effect of the split alone);
- ``no_pseudo_labels`` / ``no_outlier_filter`` / ``no_tuning``: the config section ``pseudo`` / ``outliers`` /
  ``tuning`` switched off, for each section that exists on the config and is enabled.

Each variant is a normal run (same feature cache, so features are computed once) into
``variants/<name>/run``; its summary ``variants/<name>/metrics.json`` is written atomically the moment it
finishes. The ablation folder is built under ``.<name>.partial`` and renamed into place at the end; running the
same command again with ``--out`` naming the interrupted ablation resumes it: finished variants are not rerun.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from smp.files import atomic_write, json_text, partial_name
from smp.ensembles import HOLDOUT_OF, MODELS
from smp.features import GENERATORS

from .config import RunConfig
from .runfolder import new_run_dir
from .training import calibrates

log = logging.getLogger("smp")


def _stops_inside(cfg: RunConfig) -> bool:
    """Early stopping inside the training part, and a level-1 learner that stops early at all."""
    return cfg.training.early_stopping in ("inner", "refit") and any(MODELS.get(m.key).early_stops for m in cfg.models)


# Training components with a switch: (variant, what the table says is removed, is it on in the config, the change
# that switches it off). A variant is planned for each one the config has on.
SWITCHES = (
    ("no_pseudo_labels", "w/o pseudo labels ([pseudo] off)", lambda c: c.pseudo.enabled, {"pseudo": {"enabled": False}}),
    ("no_outlier_filter", "w/o outlier filter ([outliers] off)", lambda c: c.outliers.enabled,
     {"outliers": {"enabled": False}}),
    ("no_tuning", "w/o tuning ([tuning] off)", lambda c: c.tuning.enabled, {"tuning": {"enabled": False}}),
    ("no_calibration", "w/o calibration (no map, trend or median guard)", calibrates,
     {"calibration": {"method": "none", "trend": False, "median_guard": "off"}}),
    ("no_selection", "w/o feature selection ([selection] method = none)", lambda c: c.selection.method != "none",
     {"selection": {"method": "none"}}),
    ("no_sample_weight", "w/o sample weights ([training] sample_weight = none)",
     lambda c: c.training.sample_weight != "none", {"training": {"sample_weight": "none"}}),
    ("stop_on_validation", "early stopping on the scored rows instead of inside the training part",
     _stops_inside, {"training": {"early_stopping": "validation"}}),
)


SINGLE_SPLIT = {base: single for single, base in HOLDOUT_OF.items()}
METRIC_COLUMNS = ("src", "mae", "mape")


@dataclass
class Variant:
    """One row of the ablation table: a folder-safe name, the text shown in the table, and its config."""

    name: str
    label: str
    kind: str  # "full" | "group" | "component"
    cfg: RunConfig


def feature_groups(cfg: RunConfig) -> list[str]:
    """The ablation groups of the config's generators, in config order."""
    groups: list[str] = []
    for spec in cfg.features:
        g = GENERATORS.get(spec.name).group
        if g not in groups:
            groups.append(g)
    return groups


def _variant_cfg(cfg: RunConfig, name: str, **changes) -> RunConfig:
    """A variant of `cfg`: a measurement, not a submission; only the full run reports permutation importance."""
    out = {"submission": False, **changes.pop("output", {})}
    importance = {} if name == "full" else {"permutation": False}
    return cfg.evolve(name=f"{cfg.name}-{name}", output=out, importance=importance, **changes)


def plan_variants(cfg: RunConfig, only: list[str] | None = None) -> list[Variant]:
    """The full config plus one variant without each feature group and each training component.

    `only` keeps just the named variants (the full one is always kept: every delta is against it).
    """
    out = [Variant("full", "full configuration", "full", _variant_cfg(cfg, "full"))]
    for g in feature_groups(cfg):
        kept = [s for s in cfg.features if GENERATORS.get(s.name).group != g]
        dropped = [s.name for s in cfg.features if GENERATORS.get(s.name).group == g]
        if not kept:
            log.info("ablation: no variant without %r (it is the only feature group)", g)
            continue
        out.append(Variant(f"no_{g}", f"w/o {g} features", "group",
                           _variant_cfg(cfg, f"no_{g}", features=kept, outliers=_filter_columns(cfg, dropped))))
    if len(cfg.models) > 1 or cfg.stack.learners:
        out.append(Variant("no_ensemble", "w/o ensemble (best single level-1 model)", "component",
                           _variant_cfg(cfg, "no_ensemble", stack=no_stack())))
    if cfg.cv.scheme in SINGLE_SPLIT:
        out.append(Variant("single_split", f"single split instead of {cfg.cv.n_splits}-fold {cfg.cv.scheme}",
                           "component", _variant_cfg(cfg, "single_split", cv={"scheme": SINGLE_SPLIT[cfg.cv.scheme]},
                                                     stack=no_stack())))
    for name, label, on, change in SWITCHES:
        if on(cfg):
            out.append(Variant(name, label, "component", _variant_cfg(cfg, name, **change)))
    if only is not None:
        known = [v.name for v in out]
        unknown = sorted(set(only) - set(known))
        if unknown:
            raise ValueError(f"unknown ablation variant {unknown[0]!r}; this config has: {known}")
        out = [v for v in out if v.name == "full" or v.name in only]
    return out


def no_stack() -> dict:
    """The `[stack]` change that leaves the best level-1 learner final: no blend, no stacker."""
    return {"learners": [], "final": "best", "fold_blend": False, "levels": []}


def _filter_columns(cfg: RunConfig, generators: list[str]) -> dict:
    """An outlier filter on a removed generator's column filters on the label (and other columns) only."""
    keep = [c for c in cfg.outliers.columns if not any(str(c).startswith(f"{g}__") for g in generators)]
    if len(keep) != len(cfg.outliers.columns):
        log.info("ablation without %s: outlier filter columns %s removed with their generators", generators,
                 sorted(set(cfg.outliers.columns) - set(keep)))
    return {"columns": keep}


# ------------------------------------------------------------------------------------------------ running
def run_variant(variant: Variant, vdir: Path, progress: bool = False, plan=None, seeds=None) -> dict:
    """Run one variant into `vdir/run` and write its summary `vdir/metrics.json` atomically (the resume marker).

    With `plan` (a `ForwardPlan`) the variant is scored by the forward evaluation instead (`vdir/forward`):
    trained on the earlier posts of each window, scored on its block; its CV score is kept beside."""
    from .runner import run

    if vdir.exists():  # an interrupted attempt: start the variant again from scratch
        shutil.rmtree(vdir)
    vdir.mkdir(parents=True)
    t = time.perf_counter()
    if plan is not None:
        from .forward import evaluate, forward_table, load_forward

        d = evaluate(variant.cfg, plan=plan, seeds=seeds, out=vdir / "forward", progress=progress)
        res = load_forward(d).report
        ft = forward_table(res)
        final = ft[ft["model"] == "final"]
        finals = sorted(set(final_name for w in res["windows"] for final_name in [r["final"] for r in w["runs"]]))
        summary = {
            "variant": variant.name, "label": variant.label, "kind": variant.kind, "final": ", ".join(finals),
            "overall": {**{k: v["value"] for k, v in res["pooled"]["final"].items()},
                        "n": sum(w["held_back"] for w in res["windows"])},
            "cv": {"src": float(final["cv_src"].mean()), "mae": float(final["cv_mae"].mean())}, "folds": [],
            "seconds": time.perf_counter() - t, "run": "forward",
        }
        atomic_write(vdir / "metrics.json", json_text(summary))
        return summary
    d = run(variant.cfg, out=vdir / "run", progress=progress)
    metrics = json.loads((d / "metrics.json").read_text())
    final = metrics["final"]
    summary = {
        "variant": variant.name, "label": variant.label, "kind": variant.kind, "final": final,
        "overall": metrics["models"][final]["overall"], "folds": metrics["models"][final]["folds"],
        "seconds": time.perf_counter() - t, "run": "run",
    }
    atomic_write(vdir / "metrics.json", json_text(summary))
    return summary


def forward_verdicts(work: Path, variants: list[Variant], plan) -> list[dict]:
    """Each variant against `full` on the same windows and seeds: the paired differences (variant - full) and
    their verdicts (`smp compare`'s report)."""
    from .paired import paired_report
    from .forward import load_forward

    full = load_forward(work / "variants" / "full" / "forward")
    out = []
    for v in variants:
        if v.name == "full":
            continue
        rep = paired_report(full, load_forward(work / "variants" / v.name / "forward"), plan, names=("full", v.name))
        out.append({"variant": v.name, "differences": rep["pooled_difference"], "verdicts": rep["verdicts"]})
    return out


def _absolute_paths(cfg: RunConfig) -> RunConfig:
    """Paths resolved against this working directory, so worker processes find the same data and cache."""
    data = {"path": str(Path(cfg.data.path).resolve())} if cfg.data.path else {}
    if cfg.data.table:
        data["table"] = {k: str(Path(v).resolve()) if k in ("train", "test") and v else v
                         for k, v in cfg.data.table.items()}
    return cfg.evolve(output={"cache_dir": str(Path(cfg.output.cache_dir).resolve())}, data=data)


def _warm_cache(cfg: RunConfig, progress: bool) -> None:
    """Compute every static generator once (into the shared cache) before variants start in parallel."""
    from .data import load_posts
    from .prepare import prepare

    prepare(cfg, load_posts(cfg, progress=progress)[0], progress=progress)


def ablate(cfg: RunConfig, *, out: str | Path | None = None, jobs: int = 0, progress: bool = True,
           only: list[str] | None = None, forward: float | None = None, plan=None,
           seeds: list[int] | None = None) -> Path:
    """Run the ablation of `cfg` and return the finished folder (ablation.csv, ablation.md, plots/ablation.png).

    `jobs` variants run at once in separate processes (0: half the cores, at least 1). Interrupted? Call again
    with `out` set to the same folder: finished variants are read back, the others run. `plan` (a `ForwardPlan`;
    `forward` is the one-window shorthand) scores every variant on forward windows and adds each variant's paired
    difference to `full` with its interval and verdict (`verdicts.json`).
    """
    from .forward import ForwardPlan

    t0 = time.perf_counter()
    cfg = _absolute_paths(cfg)
    if forward is not None and plan is None:
        plan = ForwardPlan.of(1, forward)
    # Built under `.<name>.partial` (kept when killed, so the same --out resumes it), renamed at the end.
    final_dir = new_run_dir(cfg, out, suffix="-ablation")
    work = partial_name(final_dir)
    resolved = cfg.to_toml() + (f"\n# forward evaluation: {plan}, seeds {seeds}\n" if plan else "")
    if work.exists():
        started = (work / "config.resolved.toml").read_text() if (work / "config.resolved.toml").is_file() else ""
        if started != resolved:
            raise ValueError(f"{work} holds an ablation of a different config; pass a new --out to start afresh")
        log.info("resuming the ablation in %s", work)
    else:
        (work / "variants").mkdir(parents=True)
        (work / "config.resolved.toml").write_text(resolved)
    variants = plan_variants(cfg, only)
    log.info("ablation of %s: %d variants into %s (if interrupted, rerun with --out %s to resume)", cfg.name,
             len(variants), work, final_dir)
    (work / "plan.json").write_text(json.dumps(
        [{"name": v.name, "label": v.label, "kind": v.kind} for v in variants], indent=2) + "\n")
    done = {v.name: json.loads((work / "variants" / v.name / "metrics.json").read_text())
            for v in variants if (work / "variants" / v.name / "metrics.json").is_file()}
    todo = [v for v in variants if v.name not in done]
    if done:
        log.info("ablation: %d finished variants reused (%s), %d to run", len(done), ", ".join(done), len(todo))
    jobs = jobs or max(1, (os.cpu_count() or 1) // 2)
    jobs = max(1, min(jobs, len(todo)))
    if todo and jobs > 1:
        _warm_cache(cfg, progress)
        from joblib import Parallel, delayed

        tasks = (delayed(run_variant)(v, work / "variants" / v.name, False, plan, seeds) for v in todo)
        for s in Parallel(n_jobs=jobs, backend="loky", return_as="generator_unordered")(tasks):
            done[s["variant"]] = s
            log.info("ablation: %-22s SRC %.4f  MAE %.4f  (%.0fs)", s["variant"], s["overall"]["src"],
                     s["overall"]["mae"], s["seconds"])
    else:
        for v in todo:
            s = run_variant(v, work / "variants" / v.name, progress, plan, seeds)
            done[v.name] = s
            log.info("ablation: %-22s SRC %.4f  MAE %.4f  (%.0fs)", v.name, s["overall"]["src"], s["overall"]["mae"],
                     s["seconds"])
    table = ablation_table([done[v.name] for v in variants])
    verdicts = forward_verdicts(work, variants, plan) if plan is not None else []
    if verdicts:
        (work / "verdicts.json").write_text(json_text(verdicts))
        by_name = {v["variant"]: v for v in verdicts}
        for m in ("src", "mae"):
            table[f"delta_{m}_interval"] = [_interval_cell(by_name.get(n), m) for n in table["variant"]]
        table["verdict"] = ["" if n not in by_name else "; ".join(by_name[n]["verdicts"][:2]) for n in table["variant"]]
    wall = time.perf_counter() - t0
    table.to_csv(work / "ablation.csv", index=False)
    (work / "plots").mkdir(exist_ok=True)
    plot_ablation(table, work / "plots" / "ablation.png", title=f"ablation: {cfg.name}")
    (work / "ablation.md").write_text(ablation_markdown(table, cfg, wall, ran=len(todo), jobs=jobs, plan=plan))
    (work / "ablation.json").write_text(json.dumps(
        {"config": cfg.name, "metric": cfg.metric, "wall_seconds": wall, "variants_run": [v.name for v in todo],
         "variants_reused": [n for n in done if n not in {v.name for v in todo}], "jobs": jobs},
        indent=2) + "\n")
    if final_dir.exists():  # `out` named an existing empty folder
        final_dir.rmdir()
    work.rename(final_dir)
    log.info("ablation folder: %s (%.0fs)", final_dir, wall)
    return final_dir


# ------------------------------------------------------------------------------------------------ reporting
def ablation_table(summaries: list[dict]) -> pd.DataFrame:
    """One row per variant: scores of its final model, deltas against `full`, SRC std over folds."""
    rows = []
    for s in summaries:
        fold_src = [f["src"] for f in s["folds"]]
        rows.append({"variant": s["variant"], "description": s["label"], "final": s["final"],
                     **{m: _num(s["overall"].get(m)) for m in METRIC_COLUMNS},
                     **({"cv_src": _num(s["cv"].get("src")), "cv_mae": _num(s["cv"].get("mae"))} if "cv" in s else {}),
                     "src_fold_std": float(np.nanstd(fold_src)) if len(fold_src) else float("nan"),
                     "folds": len(fold_src), "rows": int(s["overall"].get("n", 0)), "seconds": float(s["seconds"])})
    t = pd.DataFrame(rows)
    full = t.loc[t["variant"] == "full"].iloc[0]
    for m in METRIC_COLUMNS:
        t.insert(t.columns.get_loc("src_fold_std"), f"delta_{m}", t[m] - full[m])
    # Variants share the full run's folds, so fold k of a variant and of the full run are paired: the spread of
    # the per-fold SRC differences says whether a delta is larger than fold noise (NaN for the single split).
    full_folds = np.array([f["src"] for f in next(s for s in summaries if s["variant"] == "full")["folds"]], float)
    paired = []
    for s in summaries:
        f = np.array([x["src"] for x in s["folds"]], float)
        paired.append(float(np.nanstd(f - full_folds)) if len(f) == len(full_folds) > 1 else float("nan"))
    t["delta_src_fold_std"] = paired
    return t


def _interval_cell(v: dict | None, metric: str) -> str:
    if v is None:
        return ""
    d = v["differences"][metric]
    return f"{d['value']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}]"


def _num(v) -> float:
    return float("nan") if v is None else float(v)


def ablation_markdown(table: pd.DataFrame, cfg: RunConfig, wall: float, *, ran: int, jobs: int, plan=None) -> str:
    from .report import markdown_table

    show = table.copy()
    show["MAPE %"] = 100 * show["mape"]
    show["delta MAPE %"] = 100 * show["delta_mape"]
    cols = ["variant", "description", "final", "src", "mae", "MAPE %", "delta_src", "delta_mae", "delta MAPE %"]
    cols += ["cv_src", "cv_mae", "rows"] if plan else ["delta_src_fold_std", "src_fold_std", "rows"]
    show = show[cols].rename(
        columns={"src": "SRC", "mae": "MAE", "delta_src": "delta SRC", "delta_mae": "delta MAE",
                 "delta_src_fold_std": "delta SRC fold std", "src_fold_std": "SRC fold std", "cv_src": "CV SRC",
                 "cv_mae": "CV MAE"})
    if plan:
        verdicts = ""
        if "verdict" in table.columns:
            v = table[table["variant"] != "full"][["variant", "delta_src_interval", "delta_mae_interval", "verdict"]]
            v = v.rename(columns={"delta_src_interval": "delta SRC [interval]",
                                  "delta_mae_interval": "delta MAE [interval]"})
            verdicts = f"""## Each variant against full (paired, same windows and seeds)

Differences are variant - full with {plan.level:.0%} paired bootstrap intervals over the held-back posts; a
difference whose interval contains 0 is noise, and the part it removes is not shown to matter.

{markdown_table(v)}
"""
        return f"""# Forward ablation: {cfg.name}

Every variant is the full configuration without one feature group or one training component, scored on
{plan.describe()} (`smp evaluate`; `rows` held-back posts over all windows, predicted through the `smp predict`
path; scores pooled over windows). Deltas are variant minus full: a negative delta SRC (or a positive delta MAE /
MAPE) means the removed part helps on later posts. The CV columns are each variant's own cross-validated score on
the training posts (mean over windows), for the CV-vs-forward gap.

{markdown_table(show)}

{verdicts}

![ablation](plots/ablation.png)

Wall time {wall:.0f}s ({ran} variants run, {jobs} at a time).
"""
    return f"""# Ablation: {cfg.name}

Every variant is the full configuration without one feature group or one training component, cross-validated on
the same folds ({cfg.cv.n_splits}-fold `{cfg.cv.scheme}`, seed {cfg.seed}); scores are the out-of-fold scores of
each variant's final model (chosen by `{cfg.stack.final}` on {cfg.metric}). Deltas are variant minus full: a
negative delta SRC (or a positive delta MAE / MAPE) means the removed part helps. `delta SRC fold std` is the
standard deviation over folds of the per-fold SRC difference to the full run (same folds, so paired);
`SRC fold std` the spread of the variant's own fold scores. The single-split row is scored on its one validation
part (`rows`) and has no stack (nothing out of fold to stack on).

{markdown_table(show)}

![ablation](plots/ablation.png)

Wall time {wall:.0f}s ({ran} variants run, {jobs} at a time).
"""


def plot_ablation(table: pd.DataFrame, path: Path, *, title: str) -> None:
    """Delta SRC and delta MAE of each variant against the full configuration (bars left of 0: the part helps)."""
    from .report import new_figure

    t = table[table["variant"] != "full"].iloc[::-1]
    fig, axes = new_figure(1, 2, figsize=(11, max(3, 0.4 * len(t) + 1.2)), sharey=True)
    for ax, m, better in ((axes[0], "src", 1), (axes[1], "mae", -1)):
        d = t[f"delta_{m}"].fillna(0)
        ax.barh(t["variant"], d, color=["tab:red" if better * x < 0 else "tab:green" for x in d],
                xerr=t["delta_src_fold_std"].fillna(0) if m == "src" else None)
        ax.axvline(0, color="k", lw=0.8)
        ax.set_xlabel(f"delta {m.upper()} vs full (red: removing it hurts)")
    full = table[table["variant"] == "full"].iloc[0]
    fig.suptitle(f"{title} (full: SRC {full['src']:.4f}, MAE {full['mae']:.4f})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
