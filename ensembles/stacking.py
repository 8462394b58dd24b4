"""Level-2+ learning on out-of-fold predictions: a blend or a stacker is just a learner run through `cross_fit`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._cv import CVResult, cross_fit
from ._folds import Folds
from .models import Model


def prediction_matrix(results: dict[str, CVResult]) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """OOF predictions (train) and test predictions of each named result, one column per learner."""
    train = pd.DataFrame({name: r.oof for name, r in results.items()})
    has_test = all(r.test_pred is not None for r in results.values())
    test = pd.DataFrame({name: r.test_pred for name, r in results.items()}) if has_test else None
    return train, test


def restrict_folds(folds: Folds, rows: np.ndarray) -> Folds:
    """The same folds over the subset `rows` (boolean mask), positions renumbered within the subset."""
    pos = np.full(len(rows), -1)
    pos[rows] = np.arange(rows.sum())
    out = []
    for tr, va in folds:
        tr2, va2 = pos[tr[rows[tr]]], pos[va[rows[va]]]
        if len(tr2) and len(va2):
            out.append((tr2, va2))
    return out


def stack(
    results: dict[str, CVResult],
    y,
    folds: Folds,
    learners: dict[str, Model],
    *,
    level: int = 2,
    X: pd.DataFrame | None = None,
    X_test: pd.DataFrame | None = None,
    progress: bool = True,
) -> dict[str, CVResult]:
    """Run each learner on the level-(k-1) OOF matrix (plus `X` when given) through the same folds.

    Rows that some lower-level model never validated (time-ordered folds) are left out of level k and keep NaN.
    Result names are ``{name}_{level}``.
    """
    y = np.asarray(y, dtype=float)
    A, T = prediction_matrix(results)
    if X is not None:
        A = pd.concat([A, X.reset_index(drop=True)], axis=1)
        T = None if T is None or X_test is None else pd.concat([T, X_test.reset_index(drop=True)], axis=1)
    rows = np.isfinite(A[list(results)].to_numpy()).all(axis=1)
    if rows.sum() < 2:
        raise ValueError(f"level {level} needs rows with out-of-fold predictions from every model, got {rows.sum()}")
    sub_folds = restrict_folds(folds, rows)
    if not sub_folds:
        raise ValueError(f"level {level} has no fold whose training part has out-of-fold predictions (a single "
                         "train/validation split predicts only its validation part); use no stack learners")
    out = {}
    for name, learner in learners.items():
        res = cross_fit(learner, A[rows], y[rows], folds=sub_folds, X_test=T, progress=progress,
                        desc=f"{name} (level {level})")
        full = np.full(len(y), np.nan)
        full[rows] = res.oof
        res.oof = full
        res.info["inputs"] = list(A.columns)
        out[f"{name}_{level}"] = res
    return out
