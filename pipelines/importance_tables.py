"""Feature-importance tables of a run folder, per feature and per group (HyperFusion Table 2, HVLA Table 2).

The foundation writes `importance.csv` (gain normalised per model, averaged over folds and level-1 models). This
step extends it, in the same folder before it is renamed into place:

- `importance_groups.csv`: per feature group, the summed gain and the permutation drop of shuffling the whole group
  in each fold's validation part (mean over level-1 models of the out-of-fold score change);
- with `[importance] per_feature = true`, `importance.csv` also gains the per-feature permutation columns
  `perm_src_drop`, `perm_src_drop_std`, `perm_mae_rise` (one prediction per column and fold: on a few hundred columns
  that is most of a short run, so it is off by default) and `plots/importance_permutation.png`;
- `importance_permutation.csv`: the permutation results per model (groups, and features when computed);
- `importance_top.csv` / `importance.md`: the top-N table (and in the markdown the group table);
  `plots/importance_groups.png`; a section appended to `report.md`.

`[importance] permutation = false` skips the permutation part (gain tables and plots are still written).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from smp.files import atomic_write
from smp.ensembles import CVResult
from smp.ensembles.permutation import permutation_importance, summarise_permutation
from smp.features import FeatureSet

from .config import RunConfig
from .report import group_colours, group_legend, new_figure, plot_importance

PERM_COLUMNS = ["perm_src_drop", "perm_src_drop_std", "perm_mae_rise"]


def importance_table(level1: dict[str, CVResult], fs: FeatureSet) -> pd.DataFrame:
    """Gain importance per feature: each model's fold mean normalised to sum 1, then averaged over models."""
    cols = {}
    for name, r in level1.items():
        imp = r.importances.mean(axis=1)
        total = imp.sum()
        if total > 0:
            cols[name] = imp / total
    if not cols:
        return pd.DataFrame(columns=["feature", "generator", "group", "importance"])
    table = pd.DataFrame(cols).fillna(0.0)
    table["importance"] = table.mean(axis=1)
    table = table.sort_values("importance", ascending=False)
    table.insert(0, "feature", table.index)
    table.insert(1, "generator", [fs.columns.get(c, {}).get("generator", "") for c in table.index])
    table.insert(2, "group", [fs.columns.get(c, {}).get("group", "") for c in table.index])
    return table.reset_index(drop=True)


def group_table(imp: pd.DataFrame, perm: pd.DataFrame | None) -> pd.DataFrame:
    """Per group: number of features, summed gain, and the drop of permuting the group's columns jointly."""
    if imp.empty:
        g = pd.DataFrame(columns=["group", "features", "gain"])
    else:
        g = (imp.assign(group=imp["group"].fillna("").replace("", "?"))
             .groupby("group").agg(features=("feature", "size"), gain=("importance", "sum")).reset_index())
    if perm is not None and not perm.empty:
        pg = perm[perm["kind"] == "group"].drop(columns="kind").rename(columns={"name": "group"})
        g = g.merge(pg, on="group", how="outer")
        g["features"] = g["features"].fillna(0).astype(int)
        g = g.sort_values("perm_src_drop", ascending=False)
    else:
        g = g.sort_values("gain", ascending=False)
    return g.reset_index(drop=True)


def top_table(imp: pd.DataFrame, top: int) -> pd.DataFrame:
    """The top-N features by gain with their gain rank and (when computed) permutation drop and rank."""
    t = imp.copy()
    t["gain_rank"] = np.arange(1, len(t) + 1)
    cols = ["gain_rank", "feature", "group", "importance"]
    if "perm_src_drop" in t.columns:
        t["perm_rank"] = t["perm_src_drop"].rank(ascending=False, method="min").astype("Int64")
        cols += ["perm_src_drop", "perm_rank", "perm_mae_rise"]
    return t[cols].head(top).rename(columns={"importance": "gain"})


@dataclass
class ImportanceTables:
    """Importance of a trained run: per feature (gain, and permutation when computed), per group, per model."""

    features: pd.DataFrame
    groups: pd.DataFrame
    permutation: pd.DataFrame | None  # long table: model x feature / group, or None when not computed
    models: list[str]  # the level-1 models the permutation columns average over
    seconds: float


def importance_tables(cfg: RunConfig, level1, fs, *, X: pd.DataFrame, y, folds, fold_features,
                      permutation: bool | None = None, progress: bool = False) -> ImportanceTables:
    """Gain per feature (normalised per model, mean over folds and level-1 models), plus permutation importance
    on each fold's validation part when `permutation` (default `[importance] permutation`)."""
    t0 = time.perf_counter()
    ic = cfg.importance
    imp = importance_table(level1, fs)
    perm_long = perm = None
    # Learners with fold models of their own on these folds (level 1); a model with no predictions is skipped.
    scored = {k: r for k, r in level1.items() if len(r.models) == len(folds)}
    if (ic.permutation if permutation is None else permutation) and scored:
        groups = {c: meta.get("group", "") for c, meta in fs.columns.items()}
        perm_long = permutation_importance(scored, X, y, folds, fold_features=fold_features, groups=groups,
                                           per_feature=bool(ic.per_feature), repeats=int(ic.repeats),
                                           max_rows=int(ic.max_rows) or None, seed=cfg.seed, progress=progress)
        perm = summarise_permutation(perm_long)
        if ic.per_feature:
            pf = perm[perm["kind"] == "feature"].drop(columns="kind").rename(columns={"name": "feature"})
            # Features without gain (a model with no gain, e.g. only a Ridge) still get a row.
            imp = imp.merge(pf, on="feature", how="outer")
            imp["importance"] = imp["importance"].fillna(0.0)
            for c in ("generator", "group"):
                imp[c] = imp[c].fillna(imp["feature"].map(lambda f, c=c: fs.columns.get(f, {}).get(c, "")))
            imp = imp.sort_values(["importance", "perm_src_drop"], ascending=False).reset_index(drop=True)
    return ImportanceTables(imp, group_table(imp, perm), perm_long, sorted(scored), time.perf_counter() - t0)


def write_importance(d: Path, tables: ImportanceTables, cfg: RunConfig) -> dict:
    """`importance.csv` (+ permutation columns), the group / permutation tables, the top-N markdown and plots."""
    from .report import markdown_table

    ic = cfg.importance
    imp, groups_t, perm = tables.features, tables.groups, tables.permutation
    atomic_write(d / "importance.csv", imp.to_csv(index=False))
    if perm is not None:
        atomic_write(d / "importance_permutation.csv", perm.to_csv(index=False))
    atomic_write(d / "importance_groups.csv", groups_t.to_csv(index=False))
    top = top_table(imp, int(ic.top))
    atomic_write(d / "importance_top.csv", top.to_csv(index=False))

    (d / "plots").mkdir(exist_ok=True)
    plot_importance(imp, d / "plots" / "importance.png")
    plot_importance_groups(groups_t, d / "plots" / "importance_groups.png")
    if perm is not None and ic.per_feature:
        plot_permutation(imp, d / "plots" / "importance_permutation.png", top=int(ic.top))
    units = ("each feature and each group (its columns jointly)" if ic.per_feature else
             "each feature group (its columns jointly; `[importance] per_feature = true` adds each feature)")
    how = (f"Permutation: {units} shuffled in each fold's validation part "
           f"(at most {ic.max_rows} rows, {ic.repeats} repeat(s)), predicted by that fold's model; "
           f"`perm_src_drop` = SRC drop, `perm_mae_rise` = MAE rise, mean over the level-1 models "
           f"{tables.models}; {tables.seconds:.1f}s." if perm is not None else
           "Permutation importance is off (`[importance] permutation = false`).")
    text = f"""## Top {len(top)} features

Gain: normalised per model, mean over folds and level-1 models. {how}

{markdown_table(top)}

## Feature groups

{markdown_table(groups_t)}

![groups](plots/importance_groups.png)
""" + ("\n![permutation](plots/importance_permutation.png)\n" if perm is not None and ic.per_feature else "")
    (d / "importance.md").write_text(f"# Feature importance: {cfg.name}\n\n{text}")
    with open(d / "report.md", "a") as f:
        f.write("\n" + text.replace("## ", "## Importance: ", 1))
    return {"seconds": tables.seconds, "permutation": perm is not None}


def plot_importance_groups(g: pd.DataFrame, path: Path) -> None:
    """Per group: summed gain (left) and the SRC drop of permuting the group (right, when computed)."""
    has_perm = "perm_src_drop" in g.columns
    fig, axes = new_figure(1, 2 if has_perm else 1, figsize=(11 if has_perm else 6, max(3, 0.35 * len(g) + 1)),
                           squeeze=False)
    axes = axes[0]
    colours = group_colours(g["group"])
    order = g.iloc[::-1]
    axes[0].barh(order["group"], order["gain"].fillna(0), color=[colours[x] for x in order["group"]])
    axes[0].set_xlabel("summed normalised gain")
    axes[0].set_title("gain by group")
    if has_perm:
        axes[1].barh(order["group"], order["perm_src_drop"].fillna(0), color=[colours[x] for x in order["group"]],
                     xerr=order.get("perm_src_drop_std", pd.Series(0, index=order.index)).fillna(0))
        axes[1].axvline(0, color="k", lw=0.8)
        axes[1].set_xlabel("SRC drop when the group is permuted (OOF)")
        axes[1].set_title("permutation by group")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def plot_permutation(imp: pd.DataFrame, path: Path, top: int = 20) -> None:
    """Top features by permutation SRC drop, coloured by group, with the fold standard deviation."""
    t = imp.sort_values("perm_src_drop", ascending=False).head(top).iloc[::-1]
    colours = group_colours(imp["group"].fillna(""))
    fig, ax = new_figure(figsize=(8, max(3, 0.28 * len(t) + 1)))
    ax.barh(t["feature"], t["perm_src_drop"], xerr=t["perm_src_drop_std"].fillna(0),
            color=[colours[x] for x in t["group"].fillna("")])
    ax.axvline(0, color="k", lw=0.8)
    group_legend(ax, colours, t["group"])
    ax.set_xlabel("SRC drop when permuted (OOF, mean over folds and models)")
    ax.set_title(f"top {len(t)} features by permutation importance")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
