"""The forward evaluation (`smp evaluate`): forward scores over rolling windows of later posts, with bootstrap
confidence intervals.

SMP Challenge test posts are always later than the training posts, and cross-validation on this data overstates
later posts. The forward evaluation repeats what a team does, on labelled data, over several windows
(`pipelines/windows.py`): for each of K consecutive blocks of the latest labelled posts, the whole recipe is fitted
on the posts before the block (with the data's unlabelled test posts beside them, as `smp run` fits), and the
block is predicted through the `smp predict` path and scored: SRC, MAE, MSE, MAPE per model, beside the CV scores of
the same fit. Scores are given per window and pooled (the mean over windows), each with a bootstrap interval over
posts (`ensembles/intervals.py`); one window of a few hundred posts cannot tell 0.01 SRC from noise.

    runs/<timestamp>-<name>-forward/
      forward.json          per window, seed and model: CV and forward scores; pooled scores with intervals
      forward.md            the tables
      forward_pred.parquet  post_id, post_time, label, window, seed, one column per model
      plots/forward.png     forward SRC / MAE of the final model per window with intervals; CV vs forward SRC
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Union

import numpy as np
import pandas as pd

from smp.files import json_text, staged_dir
from smp.ensembles import score_all
from smp.ensembles.intervals import BOOT_METRICS, Resamples

from .api import Predictor
from .config import RunConfig
from .data import load_posts
from .prepare import row_store
from .runfolder import check_destinations, new_run_dir
from .windows import forward_split, forward_windows

__all__ = ["ForwardPlan", "ForwardResult", "evaluate", "evaluate_frame", "forward_split", "forward_table",
           "load_forward", "scored_windows", "window_arrays", "write_forward"]

log = logging.getLogger("smp")
SCORES = ("src", "mae", "mse", "mape", "smp")

# What a forward evaluation fits in each window: a config; None, the automatic preset chosen on each window's own
# training posts; or a function of (those posts, seed) that returns the config, e.g. the preset with one lever.
Recipe = Union[RunConfig, None, Callable[[pd.DataFrame, int], RunConfig]]


@dataclass(frozen=True)
class ForwardPlan:
    """Which forward windows to score: `windows` blocks over the latest `span` of the labelled posts, expanding
    (every earlier post trains) or `sliding` (a fixed number of posts right before each block)."""

    windows: int = 1
    span: float = 0.2
    sliding: bool = False
    n_boot: int = 2000
    level: float = 0.95

    @classmethod
    def of(cls, windows: int = 1, span: float | None = None, **kw) -> "ForwardPlan":
        """Default span: 0.2 for one window (the latest fifth), 0.4 for several (four blocks of 10% with K=4)."""
        return cls(windows, span if span is not None else (0.2 if windows == 1 else 0.4), **kw)

    def describe(self) -> str:
        kind = "sliding" if self.sliding else "expanding"
        return f"{self.windows} {kind} window(s) over the latest {self.span:.0%} of the labelled posts"


@dataclass(frozen=True)
class ForwardResult:
    """A forward evaluation: `report` (what forward.json holds: per window, seed and model the CV and forward
    scores; pooled scores with intervals) and `predictions` (forward_pred.parquet: every held-back post's
    prediction by every model, per window and seed)."""

    report: dict
    predictions: pd.DataFrame


def _predictor(cfg: Recipe, fit: pd.DataFrame, seed: int, progress: bool) -> Predictor:
    """The recipe for one seed and window: `cfg`, the automatic preset (None) chosen on the window's own training
    posts `fit`, or what a recipe function returns for them."""
    if callable(cfg):
        cfg = cfg(fit, seed)
    return Predictor(cfg.evolve(seed=seed) if cfg is not None else None, seed=None if cfg else seed,
                     progress=progress)


def fit_window(cfg: Recipe, fit: pd.DataFrame, held: pd.DataFrame, seed: int, *,
               progress: bool = False) -> tuple[dict, pd.DataFrame]:
    """Fit the recipe on `fit`, predict `held` with every model: (per-model CV and forward scores, predictions)."""
    t = time.perf_counter()
    p = _predictor(cfg, fit, seed, progress).fit(fit)
    fit_s = time.perf_counter() - t
    board = p.leaderboard().set_index("model")
    final = p.trained_.ensemble.final  # the leaderboard name of the final model (`<x>_cal` when calibrated)
    new = held.assign(split="test", label=np.nan).reset_index(drop=True)
    preds = p.fitted_.predict(p.train_posts_, new, rows=row_store(p.cfg_, progress))
    y = held["label"].to_numpy(dtype=float)
    models = {}
    for name in list(board.index) + ["final"]:
        cv = board.loc[final if name == "final" else name]
        fwd = score_all(y, preds[name].to_numpy(dtype=float))
        models[name] = {"cv": {k: float(cv[k]) for k in SCORES}, "forward": {k: fwd[k] for k in SCORES},
                        "bias": float(np.mean(preds[name].to_numpy(dtype=float) - y)),
                        "gap_src": float(cv["src"] - fwd["src"]), "gap_mae": float(fwd["mae"] - cv["mae"])}
    run = {"seed": seed, "config": p.cfg_.name, "metric": p.cfg_.metric, "final": final, "models": models,
           "fit_seconds": fit_s, "seconds": time.perf_counter() - t}
    return run, preds[list(board.index) + ["final"]]


def evaluate_frame(cfg: Recipe, frame: pd.DataFrame, *, plan: ForwardPlan | None = None,
                   holdout_frac: float | None = None, seeds: list[int] | None = None,
                   progress: bool = False) -> ForwardResult:
    """Forward scores of `cfg` (a config; None: the automatic preset; or a function of each window's training posts
    and the seed that returns the config) on `frame` over `plan`'s windows, for each seed.

    `holdout_frac` is the one-window shorthand (`ForwardPlan(1, holdout_frac)`)."""
    if plan is None:
        plan = ForwardPlan.of(1, holdout_frac)
    elif holdout_frac is not None:
        raise ValueError("pass either plan or holdout_frac, not both")
    fixed = cfg if isinstance(cfg, RunConfig) else None
    seeds = list(seeds) if seeds is not None else [fixed.seed if fixed is not None else 0]
    windows = forward_windows(frame, plan.windows, plan.span, sliding=plan.sliding)
    out_windows, preds = [], []
    for w in windows:
        runs = []
        for seed in seeds:
            run, pred = fit_window(cfg, w.fit, w.held, seed, progress=progress)
            runs.append(run)
            preds.append(pd.DataFrame({"post_id": w.held["post_id"], "post_time": w.held["post_time"],
                                       "label": w.held["label"].to_numpy(dtype=float), "window": w.index,
                                       "seed": seed}).join(pred))
            f = run["models"]["final"]
            log.info("forward window %d/%d (seed %d): final %s  SRC %.4f  MAE %.4f  MAPE %.4f  (CV SRC %.4f; "
                     "%.0fs)", w.index, len(windows), seed, run["final"], f["forward"]["src"], f["forward"]["mae"],
                     f["forward"]["mape"], f["cv"]["src"], run["fit_seconds"])
        out_windows.append({**w.describe(), "runs": runs})
    predictions = pd.concat(preds, ignore_index=True)
    name = fixed.name if fixed is not None else out_windows[0]["runs"][0]["config"]
    result = {"config": name, "metric": out_windows[0]["runs"][0]["metric"], "plan": plan.__dict__,
              "described": plan.describe(), "seeds": seeds, "windows": out_windows}
    result.update(scored_windows(predictions, plan))
    return ForwardResult(result, predictions)


def scored_windows(predictions: pd.DataFrame, plan: ForwardPlan) -> dict:
    """Per window and pooled forward scores with bootstrap intervals, for every model predicted in every window
    and seed (`final` always): {"pooled": {model: {metric: interval}}, "per_window": [{model: {metric: ...}}]}."""
    base = {"post_id", "post_time", "label", "window", "seed"}
    models = [c for c in predictions.columns if c not in base and predictions[c].notna().all()]
    ys, by_model = window_arrays(predictions, models)
    draws = Resamples.draw([len(y) for y in ys], n_boot=plan.n_boot, seed=0, level=plan.level)
    pooled = {m: {k: draws.score(ys, by_model[m], k).as_dict() for k in BOOT_METRICS} for m in models}
    per_window = []
    for i in range(len(ys)):
        one = Resamples((draws.indices[i],), plan.level)
        per_window.append({m: {k: one.score([ys[i]], [by_model[m][i]], k).as_dict() for k in BOOT_METRICS}
                           for m in ("final",)})
    return {"pooled": pooled, "per_window": per_window}


def window_arrays(predictions: pd.DataFrame, models: list[str]) -> tuple[list, dict[str, list]]:
    """(labels per window, model -> per window a (seeds x posts) prediction matrix), posts in one order."""
    ys, by_model = [], {m: [] for m in models}
    for _, part in predictions.groupby("window", sort=True):
        seeds = sorted(part["seed"].unique())
        first = part[part["seed"] == seeds[0]].sort_values("post_id")
        ys.append(first["label"].to_numpy(dtype=float))
        for m in models:
            by_model[m].append(np.stack([part[part["seed"] == s].sort_values("post_id")[m].to_numpy(dtype=float)
                                         for s in seeds]))
    return ys, by_model


def evaluate(cfg: RunConfig, *, plan: ForwardPlan | None = None, holdout_frac: float | None = None,
             seeds: list[int] | None = None, out: str | Path | None = None, progress: bool = True) -> Path:
    """`smp evaluate`: the forward evaluation of `cfg` into a new folder (see the module docstring)."""
    t0 = time.perf_counter()
    final_dir = new_run_dir(cfg, out, suffix="-forward")
    # Every folder it writes, checked before any fit: a file in the way would fail after all of them otherwise.
    check_destinations(cfg, final_dir)
    frame, _ = load_posts(cfg, progress=progress)
    plan = plan or ForwardPlan.of(1, holdout_frac)
    result = evaluate_frame(cfg, frame, plan=plan, seeds=seeds, progress=progress)  # windows checked before any fit
    result = ForwardResult({**result.report, "seconds": time.perf_counter() - t0}, result.predictions)
    with staged_dir(final_dir) as tmp:
        write_forward(tmp, result)
        (tmp / "config.resolved.toml").write_text(cfg.to_toml())
    log.info("forward evaluation: %s", final_dir)
    return final_dir


def load_forward(folder: str | Path) -> ForwardResult:
    """A forward evaluation folder read back (forward.json and forward_pred.parquet)."""
    import json

    folder = Path(folder)
    return ForwardResult(json.loads((folder / "forward.json").read_text()),
                         pd.read_parquet(folder / "forward_pred.parquet"))


def write_forward(folder: Path, result: ForwardResult) -> None:
    """forward.json, forward.md, forward_pred.parquet and plots/forward.png into `folder`."""
    (folder / "forward.json").write_text(json_text(result.report))
    result.predictions.to_parquet(folder / "forward_pred.parquet", index=False)
    (folder / "forward.md").write_text(forward_markdown(result.report))
    (folder / "plots").mkdir(exist_ok=True)
    plot_forward(result.report, folder / "plots" / "forward.png")


def forward_table(result: dict) -> pd.DataFrame:
    """One row per window, seed and model: CV and forward SRC / MAE / MAPE, the bias and the gaps."""
    rows = []
    for w in result["windows"]:
        for r in w["runs"]:
            for name, m in r["models"].items():
                rows.append({"window": w["window"], "seed": r["seed"], "model": name,
                             "final": name == "final" or name == r["final"],
                             **{f"cv_{k}": m["cv"][k] for k in ("src", "mae", "mape")},
                             **{f"fwd_{k}": m["forward"][k] for k in ("src", "mae", "mape")},
                             "bias": m["bias"], "gap_src": m["gap_src"], "gap_mae": m["gap_mae"]})
    return pd.DataFrame(rows)


def _interval_text(iv: dict) -> str:
    return f"{iv['value']:.4f} [{iv['low']:.4f}, {iv['high']:.4f}]"


def pooled_table(result: dict) -> pd.DataFrame:
    """One row per model: pooled forward SRC / MAE / MSE / MAPE with intervals, and the mean CV scores."""
    t = forward_table(result)
    cv = t.groupby("model")[["cv_src", "cv_mae", "bias"]].mean()
    rows = []
    for name, scores in result["pooled"].items():
        rows.append({"model": name, **{k: _interval_text(scores[k]) for k in BOOT_METRICS},
                     "bias": cv.loc[name, "bias"], "cv_src": cv.loc[name, "cv_src"], "cv_mae": cv.loc[name, "cv_mae"]})
    order = {"final": -1.0}
    return pd.DataFrame(rows).sort_values("model", key=lambda s: s.map(lambda m: order.get(m, 0.0)), kind="stable")


def window_table(result: dict) -> pd.DataFrame:
    """One row per window: its posts and times, and the final model's scores with intervals."""
    rows = []
    for w, scores in zip(result["windows"], result["per_window"]):
        rows.append({"window": w["window"], "train": w["train"], "held_back": w["held_back"],
                     "held_from": w["held_from"][:10], "held_until": w["held_until"][:10],
                     **{k: _interval_text(scores["final"][k]) for k in ("src", "mae", "mape")},
                     "finals": ", ".join(sorted({r["final"] for r in w["runs"]}))})
    return pd.DataFrame(rows)


def forward_markdown(result: dict) -> str:
    from .report import markdown_table

    p = result["plan"]
    return f"""# Forward evaluation: {result['config']}

{result['described']}, seeds {result['seeds']}: each window trains the whole recipe on the labelled posts before it
(unlabelled test posts beside them) and scores its block through the `smp predict` path. Intervals are
{p['level']:.0%} bootstrap intervals over the held-back posts ({p['n_boot']} resamples, stratified by window);
pooled = the mean over windows. `bias` = mean(prediction - label): negative means later posts are under-predicted.

## Pooled over windows

{markdown_table(pooled_table(result), floatfmt=".4f")}

## Final model per window

{markdown_table(window_table(result))}

## Every window, seed and model

`gap_src` = CV SRC - forward SRC (positive: CV overstates later posts).

{markdown_table(forward_table(result).round(4))}

![forward](plots/forward.png)
"""


def plot_forward(result: dict, path: Path) -> None:
    from .report import new_figure

    t = forward_table(result)
    fig, (a, b, c) = new_figure(1, 3, figsize=(15, 4.5))
    x = [w["window"] for w in result["windows"]]
    for ax, metric in ((a, "src"), (b, "mae")):
        iv = [s["final"][metric] for s in result["per_window"]]
        v = np.array([i["value"] for i in iv])
        err = np.array([[i["value"] - i["low"] for i in iv], [i["high"] - i["value"] for i in iv]])
        ax.errorbar(x, v, yerr=err, fmt="o", capsize=4, label="forward (final)")
        cv = t[t["model"] == "final"].groupby("window")[f"cv_{metric}"].mean()
        ax.plot(cv.index, cv.to_numpy(), "x", color="C1", label="CV of the same fit")
        pooled = result["pooled"]["final"][metric]
        ax.axhspan(pooled["low"], pooled["high"], color="C0", alpha=0.12, label="pooled interval")
        ax.set_xticks(x)
        ax.set_xlabel("window (later ->)")
        ax.set_ylabel(metric.upper())
        ax.legend(fontsize=8)
    a.set_title("forward SRC of the final model")
    b.set_title("forward MAE of the final model")
    per = t.groupby("model")[["cv_src", "fwd_src"]].mean().sort_values("fwd_src")
    y = np.arange(len(per))
    c.barh(y - 0.2, per["cv_src"], height=0.4, label="CV SRC")
    c.barh(y + 0.2, per["fwd_src"], height=0.4, label="forward SRC")
    c.set_yticks(y, per.index)
    c.legend(fontsize=8)
    c.set_title("CV vs forward SRC (mean over windows)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
