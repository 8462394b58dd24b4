"""Explanation tables and plots: contributions summed per group, waterfall and summary plots, the explanation
folder's files and the section of a run's report (what `Predictor.explain` computes, drawn)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from smp.ensembles import BASE

from .report import markdown_table, new_figure

REPORT_ROWS = 500  # test posts a run report explains (a seeded sample): enough for the distribution of each group


def by_group(contributions: pd.DataFrame, groups: Mapping[str, str]) -> pd.DataFrame:
    """Per-feature contributions summed per group (sorted by name), then `base`: the sums stay exact."""
    feats = contributions.drop(columns=BASE)
    summed = feats.T.groupby([groups.get(c, "?") for c in feats.columns], sort=True).sum().T
    return summed.assign(**{BASE: contributions[BASE]})


def write_explanations(d: Path, table: pd.DataFrame, groups: dict[str, str], *, chosen: list[str], title: str) -> None:
    """The files of an explanation folder (see the module docstring) into `d`."""
    (d / "plots").mkdir(parents=True, exist_ok=True)
    grouped = by_group(table, groups)
    table.to_csv(d / "contributions.csv")
    grouped.to_csv(d / "contributions_groups.csv")
    plot_group_summary(grouped, d / "plots" / "summary_groups.png", title=title)
    names = sorted(grouped.columns.drop(BASE))
    for g in names:
        cols = [c for c in table.columns.drop(BASE) if groups.get(c, "?") == g]
        plot_feature_summary(table[cols], d / "plots" / f"summary_{_file_part(g)}.png", title=f"{title}: group {g}")
    lines = []
    for n, post in enumerate(chosen, 1):
        row = table.loc[table.index.astype(str) == post].iloc[0]
        name = f"waterfall_{n}_{_file_part(post)}.png"
        plot_waterfall(row, d / "plots" / name, title=f"{title}: post {post}")
        lines.append(f"- post `{post}`: prediction {row.sum():.4f}, base {row[BASE]:.4f} ![{post}](plots/{name})")
    mean_abs = grouped.drop(columns=BASE).abs().mean().sort_values(ascending=False)
    summary = pd.DataFrame({"group": mean_abs.index, "mean_abs_contribution": mean_abs.to_numpy(),
                            "mean_contribution": grouped[mean_abs.index].mean().to_numpy()})
    (d / "explain.md").write_text(f"""# Explanation: {title}

{len(table)} posts; per post, each feature's additive contribution plus `base` is the prediction
(`contributions.csv`; per group: `contributions_groups.csv`).

## Groups: how far each moves the predictions

{markdown_table(summary)}

![groups](plots/summary_groups.png)

Per group: {", ".join(f"[{g}](plots/summary_{_file_part(g)}.png)" for g in names)}

## Chosen posts

{chr(10).join(lines)}
""")


def write_run_explanation(d: Path, *, prep, fitted, rows: int = REPORT_ROWS) -> None:
    """The group summary plot of the final model over (a seeded sample of) the run's test posts, appended to
    `report.md`; a line saying why when the final model has no exact explanation or there are no test posts."""
    text = "\n## Explanation: how far each feature group moves the test predictions\n\n"
    reason = fitted.why_not_explainable("final")
    if reason or len(prep.test) == 0:
        text += (f"Not drawn: the final model cannot be explained exactly ({reason}).\n" if reason else
                 "Not drawn: the run has no test posts.\n")
    else:
        pick = np.sort(np.random.default_rng(prep.cfg.seed).permutation(len(prep.test))[:rows])
        X, posts = prep.X_test.iloc[pick].reset_index(drop=True), prep.test.iloc[pick].reset_index(drop=True)
        table = fitted.contributions(X, fitted.fold_inputs(X, posts), posts, "final")
        grouped = by_group(table, {c: m.get("group") or "?" for c, m in prep.fs.columns.items()})
        (d / "plots").mkdir(exist_ok=True)
        plot_group_summary(grouped, d / "plots" / "explain_groups.png", title=f"{prep.cfg.name}: final")
        text += (f"Per test post ({len(pick)} of {len(prep.test)}), each group's additive contribution to the "
                 "final prediction (they sum, with the base, to the prediction; `smp explain` gives every post "
                 "and feature).\n\n![explanation by group](plots/explain_groups.png)\n")
    with open(d / "report.md", "a") as f:
        f.write(text)


def plot_group_summary(grouped: pd.DataFrame, path: Path, *, title: str) -> None:
    """One box per group: its contribution over all posts, the groups that move predictions most on top."""
    _plot_spread(grouped.drop(columns=BASE), path, title=title, what="group")


def plot_feature_summary(contrib: pd.DataFrame, path: Path, *, title: str, top: int = 15) -> None:
    """The `top` features of a group by mean |contribution|: each post's contribution as a dot."""
    _plot_spread(contrib, path, title=title, what="feature", top=top)


def _plot_spread(contrib: pd.DataFrame, path: Path, *, title: str, what: str, top: int = 30) -> None:
    order = contrib.abs().mean().sort_values(ascending=False).index[:top][::-1]
    fig, ax = new_figure(figsize=(8, max(2.5, 0.35 * len(order) + 1.2)))
    rng = np.random.default_rng(0)
    for i, c in enumerate(order):
        v = contrib[c].to_numpy(dtype=float)
        ax.scatter(v, i + rng.uniform(-0.25, 0.25, len(v)), s=6, alpha=0.35, color="tab:blue", linewidths=0)
        ax.plot([v.mean()], [i], "k|", ms=14)
    ax.set_yticks(range(len(order)))
    ax.set_yticklabels(order, fontsize=8)
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_xlabel(f"contribution to the prediction (one dot per post; | the mean), by {what}")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def plot_waterfall(row: pd.Series, path: Path, *, title: str, top: int = 12) -> None:
    """From `base`, the `top` contributions by size (the rest summed into one step) to the prediction."""
    contrib = row.drop(BASE)
    order = contrib.abs().sort_values(ascending=False).index
    steps = [(c, float(contrib[c])) for c in order[:top]]
    if len(order) > top:
        steps.append((f"{len(order) - top} other features", float(contrib[order[top:]].sum())))
    fig, ax = new_figure(figsize=(8, 0.4 * len(steps) + 2))
    start = float(row[BASE])
    for i, (name, v) in enumerate(steps):
        ax.barh(i, v, left=start, color="tab:green" if v >= 0 else "tab:red")
        ax.text(start + v, i, f" {v:+.3f}", va="center", ha="left" if v >= 0 else "right", fontsize=7)
        start += v
    ax.set_yticks(range(len(steps)))
    ax.set_yticklabels([s[0] for s in steps], fontsize=8)
    ax.invert_yaxis()
    ax.axvline(float(row[BASE]), color="grey", lw=0.8, ls="--", label=f"base {row[BASE]:.3f}")
    ax.axvline(start, color="black", lw=1, label=f"prediction {start:.3f}")
    ax.margins(x=0.12)
    ax.legend(fontsize=8, loc="best")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _file_part(name: str) -> str:
    """`name` made safe for a file name (post ids and group names may hold any character)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name))[:80] or "_"

