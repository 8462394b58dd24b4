"""Plots and the markdown report of a run folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .config import RunConfig


def new_figure(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float], **subplots):
    """A figure and its axes (`Figure.subplots`) outside pyplot: a plot written to a file never opens a window nor
    switches the caller's backend (a notebook keeps its inline plots), and needs no closing. matplotlib is imported
    here, on first use: at import it cost ~0.4 s in every process that only trains or predicts."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, **subplots)


def group_colours(groups) -> dict:
    """One tab10 colour per feature group, in sorted order (the same group gets the same colour in every plot)."""
    from matplotlib import colormaps

    return {g: colormaps["tab10"](i % 10) for i, g in enumerate(sorted(set(groups)))}


def group_legend(ax, colours: dict, shown) -> None:
    """A legend of the groups among `shown`, in their plot colours."""
    from matplotlib.patches import Patch

    shown = set(shown)
    ax.legend(handles=[Patch(color=c, label=g or "?") for g, c in colours.items() if g in shown], fontsize=8,
              loc="lower right", title="group")


def plot_predictions(y: np.ndarray, pred: np.ndarray, path: Path, *, title: str) -> None:
    """Left: distributions of true labels and OOF predictions; right: predicted vs true with the y = x line."""
    keep = np.isfinite(pred)
    y, pred = y[keep], pred[keep]
    fig, (a, b) = new_figure(1, 2, figsize=(11, 4.5))
    bins = np.linspace(min(y.min(), pred.min()), max(y.max(), pred.max()), 50)
    a.hist(y, bins=bins, alpha=0.55, label="true")
    a.hist(pred, bins=bins, alpha=0.55, label="predicted (OOF)")
    a.set_xlabel("popularity")
    a.set_ylabel("posts")
    a.legend()
    a.set_title("distribution")
    b.hexbin(y, pred, gridsize=45, mincnt=1, bins="log", cmap="viridis")
    lo, hi = bins[0], bins[-1]
    b.plot([lo, hi], [lo, hi], "r--", lw=1)
    b.set_xlabel("true")
    b.set_ylabel("predicted (OOF)")
    b.set_title("predicted vs true")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def plot_importance(imp: pd.DataFrame, path: Path, top: int = 30) -> None:
    """Top features by normalised gain, coloured by feature group."""
    top_imp = imp.head(top).iloc[::-1]
    colours = group_colours(imp["group"])
    fig, ax = new_figure(figsize=(8, max(3, 0.28 * len(top_imp) + 1)))
    ax.barh(top_imp["feature"], top_imp["importance"], color=[colours[g] for g in top_imp["group"]])
    group_legend(ax, colours, top_imp["group"])
    ax.set_xlabel("normalised gain (mean over folds and models)")
    ax.set_title(f"top {len(top_imp)} features")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def markdown_table(df: pd.DataFrame, floatfmt: str = ".4f") -> str:
    """A DataFrame as a Markdown table (floats with `floatfmt`), for the reports every verb writes."""
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, row in df.iterrows():
        cells = [format(v, floatfmt) if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_report(path: Path, *, cfg: RunConfig, table: pd.DataFrame, final: str, imp: pd.DataFrame,
                 timings: dict[str, float], peak_rss_mb: float, n_train: int, n_test: int, n_features: int) -> None:
    groups = imp.groupby("group")["importance"].sum().sort_values(ascending=False).reset_index()
    text = f"""# Run report: {cfg.name}

Data: `{cfg.data.format}`, {n_train} training and {n_test} test posts; {n_features} static feature columns.
Cross-validation: {cfg.cv.scheme}, {cfg.cv.n_splits} folds, seed {cfg.seed}. Final model: **{final}**
(chosen by `{cfg.stack.final}` on CV {cfg.metric}).

## Cross-validated scores (out-of-fold)

{markdown_table(table)}

MAPE is a fraction (0.10 = 10%). `src_fold_std` is the standard deviation of SRC over folds.

![predicted vs true](plots/pred_vs_true.png)

## Feature importance (normalised gain, mean over folds and level-1 models)

By group:

{markdown_table(groups)}

Top 20 features:

{markdown_table(imp.head(20)[["feature", "group", "importance"]])}

![importance](plots/importance.png)

## Cost

{markdown_table(pd.DataFrame([{"step": k, "seconds": v} for k, v in timings.items()]), ".1f")}

Peak memory: {peak_rss_mb:.0f} MiB.
"""
    path.write_text(text)
