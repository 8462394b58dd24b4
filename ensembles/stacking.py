"""Level-2+ learning on out-of-fold predictions: a blend or a stacker is just a learner run through `cross_fit`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._cv import CVResult, cross_fit
from .folds import Folds
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
    sample_weight=None,
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
                        desc=f"{name} (level {level})",
                        sample_weight=None if sample_weight is None else np.asarray(sample_weight)[rows])
        full = np.full(len(y), np.nan)
        full[rows] = res.oof
        res.oof = full
        res.info["inputs"] = list(A.columns)
        out[f"{name}_{level}"] = res
    return out


def fold_blend(results: dict[str, CVResult], y, folds: Folds, *, level: int = 2, blend: Model | None = None,
               sample_weight=None) -> CVResult:
    """Per-fold blend weights (HyperFusion eq. 8-9): for fold k, non-negative weights w^(k) (summing to 1) over
    the fold-k models' predictions; the test prediction is the mean over folds of sum_i w_i^(k) f_i^(k)(x).

    For an honest out-of-fold score, w^(k) is fitted on the out-of-fold predictions of fold k's training rows
    (predicted by the other folds' models) and applied to fold k's own validation predictions. Needs every result
    cross-fitted on the same `folds` with test predictions per fold. `blend` is the (unfitted) blend learner whose
    loss follows the run's metric (default: a squared-error blend).
    """
    from .metrics import score_all
    from .models import get_model

    blend = blend or get_model("blend")
    w_all = None if sample_weight is None else np.asarray(sample_weight, dtype=float)

    y = np.asarray(y, dtype=float)
    A, _ = prediction_matrix(results)
    names = list(results)
    finite = np.isfinite(A.to_numpy()).all(axis=1)
    oof = np.full(len(y), np.nan)
    fold_scores, models, weights, test_preds = [], [], {}, []
    has_test = all(len(r.fold_test_preds) == len(folds) for r in results.values())
    for k, (tr, va) in enumerate(folds):
        tr = tr[finite[tr]]
        m = blend.clone()
        if len(tr) >= 2:
            m.fit(A.iloc[tr], y[tr], sample_weight=None if w_all is None else w_all[tr])
        else:  # time-ordered folds: the first fold's training rows were never validated, so no OOF to weigh on
            m.weights_ = pd.Series(np.full(len(names), 1.0 / len(names)), index=names)
            m.columns_ = names
        w = m.weights_.to_numpy()
        per_fold_va = np.column_stack([A[n].to_numpy()[va] for n in names])
        oof[va] = per_fold_va @ w
        fold_scores.append(score_all(y[va], oof[va]))
        models.append(m)
        weights[f"fold{k}"] = m.weights_
        if has_test:
            test_preds.append(np.column_stack([results[n].fold_test_preds[k] for n in names]) @ w)
    res = CVResult(oof=oof, test_pred=np.mean(test_preds, axis=0) if test_preds else None, fold_scores=fold_scores,
                   scores=score_all(y, oof), models=models, importances=pd.DataFrame(weights),
                   fold_test_preds=test_preds)
    res.info.update(inputs=names, kind="fold_blend", weights=pd.DataFrame(weights).T)
    return res


def stack_levels(
    results: dict[str, CVResult],
    y,
    folds: Folds,
    levels: list[tuple[dict[str, Model], bool]],
    *,
    X: pd.DataFrame | None = None,
    X_test: pd.DataFrame | None = None,
    fold_blend_level2: bool = False,
    blend: Model | None = None,
    sample_weight=None,
    progress: bool = True,
) -> list[dict[str, CVResult]]:
    """Stack over any number of levels: level k (k >= 2) runs its learners on the OOF predictions of level k-1
    (plus the original features when that level's passthrough flag is set). `levels[i]` = (learners, passthrough)
    of level i+2. With `fold_blend_level2`, level 2 also gets `fold_blend_2` (per-fold weights, eq. 8-9)."""
    out: list[dict[str, CVResult]] = []
    prev = results
    for i, (learners, passthrough) in enumerate(levels):
        level = i + 2
        if not learners and not (level == 2 and fold_blend_level2):
            raise ValueError(f"stack level {level} has no learners")
        cur = stack(prev, y, folds, learners, level=level, X=X if passthrough else None,
                    X_test=X_test if passthrough else None, sample_weight=sample_weight,
                    progress=progress) if learners else {}
        if level == 2 and fold_blend_level2:
            cur[f"fold_blend_{level}"] = fold_blend(prev, y, folds, level=level, blend=blend,
                                                    sample_weight=sample_weight)
        out.append(cur)
        prev = cur
    return out
