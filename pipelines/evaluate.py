"""`smp evaluate`: the forward score, the one that predicts the leaderboard.

SMP Challenge test posts are always later than the training posts, and cross-validation on this data overstates
later posts. The forward evaluation repeats what a team does, on labelled data: the earliest `1 - holdout_frac`
of the labelled posts by `post_time` (ties by post_id) are the training posts, the latest `holdout_frac` play the
new posts. The whole recipe is fitted on the training posts (with the data's unlabelled test posts beside them, as
`smp run` fits), then the held-back posts are predicted through the `smp predict` path (`Predictor.predict`:
training posts plus the new ones, nothing else) and scored: SRC, MAE, MSE, MAPE per model, beside the CV scores of
the same fit and their gap.

    runs/<timestamp>-<name>-forward/
      forward.json          per seed and model: CV and forward scores, the gap; the split; timings
      forward.md            the table
      forward_pred.parquet  post_id, post_time, label, seed, one column per model
      plots/forward.png     forward predicted vs true of the final model, and CV vs forward SRC per model
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from smp._files import json_text, staged_dir
from smp.ensembles import score_all

from .api import Predictor
from .config import RunConfig
from .run import load_posts, new_run_dir

log = logging.getLogger("smp")


def forward_split(frame: pd.DataFrame, holdout_frac: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(fit frame, held-back posts): the latest `holdout_frac` of the labelled posts by post_time become new
    posts; the fit frame keeps the earlier labelled posts and every unlabelled (test) post."""
    if not 0.0 < holdout_frac < 1.0:
        raise ValueError(f"`0 < holdout_frac < 1` must hold, but got holdout_frac={holdout_frac!r}")
    labelled = frame[frame["split"].eq("train")]
    n_hold = int(round(holdout_frac * len(labelled)))
    if n_hold < 2 or len(labelled) - n_hold < 2:
        raise ValueError(f"holdout_frac={holdout_frac} of {len(labelled)} labelled posts leaves too few posts on "
                         "one side (at least 2 each)")
    order = labelled.sort_values(["post_time", "post_id"], kind="mergesort")
    held = order.iloc[-n_hold:]
    fit = frame.drop(index=held.index).reset_index(drop=True)
    return fit, held.reset_index(drop=True)


def evaluate_frame(cfg: RunConfig, frame: pd.DataFrame, *, holdout_frac: float = 0.2, seeds: list[int] | None = None,
                   progress: bool = False) -> dict:
    """Forward scores (and the CV scores of the same fit) of `cfg` on `frame`, for each seed."""
    fit_frame, held = forward_split(frame, holdout_frac)
    y = held["label"].to_numpy(dtype=float)
    new = held.assign(split="test", label=np.nan)
    runs, preds = [], []
    for seed in seeds if seeds is not None else [cfg.seed]:
        t = time.perf_counter()
        p = Predictor(cfg.evolve(seed=seed), progress=progress).fit(fit_frame)
        fit_s = time.perf_counter() - t
        board = p.leaderboard().set_index("model")
        final = p.trained_.ensemble.final  # the leaderboard name of the final model (`<x>_cal` when calibrated)
        models = {}
        pred_cols = {}
        for name in list(board.index) + ["final"]:
            pred = p.predict(new, model=name).to_numpy()
            pred_cols[name] = pred
            cv = board.loc[final if name == "final" else name]
            fwd = score_all(y, pred)
            models[name] = {"cv": {k: float(cv[k]) for k in ("src", "mae", "mse", "mape", "smp")},
                            "forward": {k: fwd[k] for k in ("src", "mae", "mse", "mape", "smp")},
                            "gap_src": float(cv["src"] - fwd["src"]), "gap_mae": float(fwd["mae"] - cv["mae"])}
        runs.append({"seed": seed, "final": final, "models": models, "fit_seconds": fit_s,
                     "seconds": time.perf_counter() - t})
        preds.append(pd.DataFrame({"post_id": held["post_id"], "post_time": held["post_time"], "label": y,
                                   "seed": seed, **pred_cols}))
        log.info("forward (seed %d): final %s  SRC %.4f  MAE %.4f  MAPE %.4f  (CV SRC %.4f, gap %+.4f; %.0fs)",
                 seed, final, models["final"]["forward"]["src"], models["final"]["forward"]["mae"],
                 models["final"]["forward"]["mape"], models["final"]["cv"]["src"], models["final"]["gap_src"], fit_s)
    finals = pd.DataFrame([r["models"]["final"]["forward"] for r in runs])
    return {
        "config": cfg.name, "metric": cfg.metric, "holdout_frac": holdout_frac,
        "split": {"train": int(fit_frame["split"].eq("train").sum()), "unlabelled": int(fit_frame["split"].eq("test").sum()),
                  "held_back": len(held), "train_until": str(fit_frame.loc[fit_frame["split"].eq("train"), "post_time"].max()),
                  "held_from": str(held["post_time"].min()), "held_until": str(held["post_time"].max())},
        "seeds": runs,
        "final_forward_mean": finals.mean().to_dict(), "final_forward_std": finals.std(ddof=0).to_dict(),
        "_predictions": pd.concat(preds, ignore_index=True),
    }


def evaluate(cfg: RunConfig, *, holdout_frac: float = 0.2, seeds: list[int] | None = None,
             out: str | Path | None = None, progress: bool = True) -> Path:
    """`smp evaluate`: the forward evaluation of `cfg` into a new folder (see the module docstring)."""
    t0 = time.perf_counter()
    final_dir = new_run_dir(cfg, out, suffix="-forward")
    frame, _ = load_posts(cfg, progress=progress)
    result = evaluate_frame(cfg, frame, holdout_frac=holdout_frac, seeds=seeds, progress=progress)
    preds = result.pop("_predictions")
    result["seconds"] = time.perf_counter() - t0
    with staged_dir(final_dir) as tmp:
        (tmp / "forward.json").write_text(json_text(result))
        preds.to_parquet(tmp / "forward_pred.parquet", index=False)
        (tmp / "config.resolved.toml").write_text(cfg.to_toml())
        (tmp / "forward.md").write_text(forward_markdown(result))
        (tmp / "plots").mkdir()
        plot_forward(result, preds, tmp / "plots" / "forward.png")
    log.info("forward evaluation: %s", final_dir)
    return final_dir


def forward_table(result: dict) -> pd.DataFrame:
    """One row per seed and model: CV and forward SRC / MAE / MAPE and the gaps."""
    rows = []
    for r in result["seeds"]:
        for name, m in r["models"].items():
            rows.append({"seed": r["seed"], "model": name, "final": name == "final" or name == r["final"],
                         **{f"cv_{k}": m["cv"][k] for k in ("src", "mae", "mape")},
                         **{f"fwd_{k}": m["forward"][k] for k in ("src", "mae", "mape")},
                         "gap_src": m["gap_src"], "gap_mae": m["gap_mae"]})
    return pd.DataFrame(rows)


def forward_markdown(result: dict) -> str:
    from .report import _md

    t = forward_table(result)
    s = result["split"]
    mean, std = result["final_forward_mean"], result["final_forward_std"]
    return f"""# Forward evaluation: {result['config']}

Trained on the earliest {s['train']} labelled posts (until {s['train_until']}; {s['unlabelled']} unlabelled posts
beside them), scored on the latest {s['held_back']} ({s['held_from']} .. {s['held_until']}), predicted through
the `smp predict` path. `gap_src` = CV SRC - forward SRC (positive: CV overstates later posts).

Final model over {len(result['seeds'])} seed(s): forward SRC {mean['src']:.4f} +- {std['src']:.4f}, MAE
{mean['mae']:.4f} +- {std['mae']:.4f}, MAPE {mean['mape']:.4f} +- {std['mape']:.4f}.

{_md(t.round(4))}

![forward](plots/forward.png)
"""


def plot_forward(result: dict, preds: pd.DataFrame, path: Path) -> None:
    from .report import new_figure

    t = forward_table(result)
    fig, (a, b) = new_figure(1, 2, figsize=(11, 4.5))
    first = preds[preds["seed"] == preds["seed"].iloc[0]]
    a.scatter(first["label"], first["final"], s=6, alpha=0.5)
    lo, hi = float(first["label"].min()), float(first["label"].max())
    a.plot([lo, hi], [lo, hi], "r--", lw=1)
    a.set_xlabel("true (held-back later posts)")
    a.set_ylabel("predicted")
    a.set_title("forward: final model")
    per = t.groupby("model")[["cv_src", "fwd_src"]].mean().sort_values("fwd_src")
    y = np.arange(len(per))
    b.barh(y - 0.2, per["cv_src"], height=0.4, label="CV SRC")
    b.barh(y + 0.2, per["fwd_src"], height=0.4, label="forward SRC")
    b.set_yticks(y, per.index)
    b.legend()
    b.set_title("CV vs forward SRC")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
