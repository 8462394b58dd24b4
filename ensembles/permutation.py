"""Permutation importance on out-of-fold rows: how much each feature (or feature group) is worth to the fold models.

Gain importance says how often a model split on a feature; permutation importance says how much the honest
(out-of-fold) score falls when the feature's values are shuffled among the validation rows, which also counts
features a model relies on through correlated copies less and is comparable across model types (a Ridge has no
gain). For each fold the fold's own model predicts its own validation part, so no model is scored on rows it was
trained on. A group's columns are shuffled jointly (the same row permutation), keeping their joint distribution.

Cost: one prediction of the permuted validation rows per (model, fold, repeat, unit). Groups only (the default of
a run: a dozen units) cost a few predictions per fold; per-feature units (`per_feature=True`) one per column, which
on a few hundred columns is most of a short run. The unpermuted score reuses the fold's out-of-fold predictions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from smp.progress import progress_bar

from ._cv import CVResult, FoldFeatures
from .folds import Folds, fold_matrix
from .metrics import mae, src

# Rows per predict call when scoring permuted copies (bounded memory, few calls).
BATCH_ROWS = 50_000


def permutation_importance(
    results: dict[str, CVResult],
    X: pd.DataFrame,
    y,
    folds: Folds,
    *,
    fold_features: FoldFeatures | None = None,
    groups: dict[str, str] | None = None,
    per_feature: bool = False,
    repeats: int = 1,
    max_rows: int | None = None,
    seed: int = 0,
    progress: bool = True,
) -> pd.DataFrame:
    """Score drop per (kind, name, model): kind "group" (and "feature" with `per_feature`); mean and std over folds
    and repeats.

    `results` are level-1 cross-fit results on `folds` (their `models[k]` was fitted on fold k); `X` the static
    features of the labelled rows; `fold_features` the label-using features of the same run (memoised, so this
    costs no refit); `groups` maps a column to its group (unmapped columns form the group "?"). `src_drop` =
    SRC(original) - SRC(permuted) (positive: the feature helps); `mae_rise` = MAE(permuted) - MAE(original). At most
    `max_rows` validation rows per fold (a seeded sample) keep the cost bounded.
    """
    if repeats < 1:
        raise ValueError(f"`repeats >= 1` must hold, but got repeats={repeats}")
    X = X.reset_index(drop=True)
    y = np.asarray(y, dtype=float)
    groups = groups or {}
    rows = []
    # Each validation row belongs to one fold: its out-of-fold prediction is that fold's model's prediction.
    disjoint = sum(len(va) for _, va in folds) == len(np.unique(np.concatenate([va for _, va in folds])))
    jobs = [(name, k) for name, r in results.items() for k in range(min(len(r.models), len(folds)))]
    bar = progress_bar(jobs, desc="permutation importance", unit="fold", enabled=progress, leave=False)
    for name, k in bar:
        model = results[name].models[k]
        tr, va = folds[k]
        extra_va = fold_features.for_fold(k, tr, va)[1] if fold_features else pd.DataFrame(index=pd.RangeIndex(0))
        X_va = fold_matrix(X.iloc[va], extra_va)
        y_va = y[va]
        oof = np.asarray(results[name].oof, dtype=float)[va] if disjoint and len(results[name].oof) == len(y) else None
        if max_rows and len(va) > max_rows:
            pick = np.sort(np.random.default_rng([seed, k]).choice(len(va), max_rows, replace=False))
            X_va, y_va = X_va.iloc[pick].reset_index(drop=True), y_va[pick]
            oof = None if oof is None else oof[pick]
        base = oof if oof is not None and np.isfinite(oof).all() else model.predict(X_va)
        base_src, base_mae = src(y_va, base), mae(y_va, base)
        units = [("feature", c, [c]) for c in X_va.columns] if per_feature else []
        by_group: dict[str, list[str]] = {}
        for c in X_va.columns:
            by_group.setdefault(groups.get(c, "") or "?", []).append(c)
        units += [("group", g, cols) for g, cols in sorted(by_group.items())]
        n = len(X_va)
        per_batch = max(1, BATCH_ROWS // max(n, 1))
        for rep in range(repeats):
            perm = np.random.default_rng([seed, k, rep, 7]).permutation(n)
            # Permuted copies are stacked and predicted in one call per batch: the per-call cost of a model's
            # predict (input conversion) dominates on validation parts of a few thousand rows.
            for start in range(0, len(units), per_batch):
                chunk = units[start:start + per_batch]
                copies = []
                for _, _, cols in chunk:
                    Xp = X_va.copy()
                    Xp[cols] = X_va[cols].iloc[perm].set_axis(X_va.index)
                    copies.append(Xp)
                preds = np.asarray(model.predict(pd.concat(copies, ignore_index=True)), dtype=float)
                for i, (kind, unit, _) in enumerate(chunk):
                    p = preds[i * n:(i + 1) * n]
                    rows.append({"kind": kind, "name": unit, "model": name, "fold": k, "repeat": rep,
                                 "src_drop": base_src - src(y_va, p), "mae_rise": mae(y_va, p) - base_mae})
    long = pd.DataFrame(rows, columns=["kind", "name", "model", "fold", "repeat", "src_drop", "mae_rise"])
    out = (long.groupby(["kind", "name", "model"], sort=False)
           .agg(src_drop=("src_drop", "mean"), src_drop_std=("src_drop", "std"), mae_rise=("mae_rise", "mean"))
           .reset_index())
    return out


def summarise_permutation(table: pd.DataFrame) -> pd.DataFrame:
    """Per (kind, name): the mean over models of `src_drop` / `mae_rise`, sorted by `src_drop` descending."""
    if table.empty:
        return pd.DataFrame(columns=["kind", "name", "perm_src_drop", "perm_src_drop_std", "perm_mae_rise"])
    out = (table.groupby(["kind", "name"], sort=False)
           .agg(perm_src_drop=("src_drop", "mean"), perm_src_drop_std=("src_drop_std", "mean"),
                perm_mae_rise=("mae_rise", "mean"))
           .reset_index())
    return out.sort_values(["kind", "perm_src_drop"], ascending=[True, False]).reset_index(drop=True)
