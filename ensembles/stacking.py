"""Stacking: level-2+ learning on out-of-fold predictions (a blend or a stacker is just a learner run through
`cross_fit`), and the one implementation of stacking at prediction time, which training uses for the test rows and
a fitted run for new posts.

    level 1 (cross_fit)  ->  level_matrix(lower predictions [+ passthrough X])  ->  StackModel.predict  ->  level 3 ...
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from ._cv import CVResult, cross_fit
from .folds import Folds
from .metrics import score_all
from .models import Model


def level_matrix(lower: Mapping[str, np.ndarray], X: pd.DataFrame | None = None) -> pd.DataFrame:
    """A stack level's input matrix: one column of predictions per lower-level model (in order), then the columns
    of `X` when the level passes the original features through."""
    A = pd.DataFrame(dict(lower))
    return A if X is None else pd.concat([A, X.reset_index(drop=True)], axis=1)


@dataclass(frozen=True)
class StackModel:
    """A fitted model of a stack level as prediction needs it: its fold models, the level-matrix columns it reads
    and how its folds combine (`cross_fit`: each fold model on the level matrix, averaged; `fold_blend`: fold k's
    weights on fold k's level-1 predictions, averaged)."""

    models: tuple[Model, ...]
    inputs: tuple[str, ...]
    kind: str = "cross_fit"

    @classmethod
    def of(cls, result: CVResult) -> "StackModel":
        return cls(tuple(result.models), tuple(result.inputs), result.kind)

    def fold_predictions(self, A: pd.DataFrame | None, per_fold: Mapping[str, Sequence[np.ndarray]]) -> list[np.ndarray]:
        """Each fold's prediction: fold model k on the level matrix `A`, or (a fold blend) fold k's weights on
        `per_fold[input][k]`, the fold-k model predictions of each input."""
        # One BLAS thread, as the fold fits predict (ensembles/_cv.py): the same sums wherever this runs.
        with threadpool_limits(limits=1, user_api="blas"):
            if self.kind == "fold_blend":
                return [np.column_stack([per_fold[i][k] for i in self.inputs]) @ m.weights_.to_numpy()
                        for k, m in enumerate(self.models)]
            X = A[list(self.inputs)].reset_index(drop=True)
            return [np.asarray(m.predict(X), dtype=float) for m in self.models]

    def predict(self, A: pd.DataFrame | None, per_fold: Mapping[str, Sequence[np.ndarray]]) -> np.ndarray:
        """The mean of the fold predictions (see `fold_predictions`)."""
        return np.mean(self.fold_predictions(A, per_fold), axis=0)


@dataclass(frozen=True)
class StackPredictions:
    """What `predict_stack` returns: every model's prediction, the level-1 per-fold predictions and each stack
    level's input matrix (explanations carry contributions through them)."""

    predictions: dict[str, np.ndarray]
    per_fold: dict[str, list[np.ndarray]]
    level_inputs: tuple[pd.DataFrame, ...]


def predict_stack(per_fold: Mapping[str, list[np.ndarray]], X: pd.DataFrame,
                  levels: Sequence[Mapping[str, StackModel]]) -> StackPredictions:
    """Predictions of new rows by every model of a fitted stack: level-1 models from their per-fold predictions
    (`per_fold[name][k]`, averaged over folds), then each level on the level matrix of the level below (with the
    static features `X` beside them; a model reads only its `inputs`)."""
    out = {name: np.mean(p, axis=0) for name, p in per_fold.items()}
    prev, level_inputs = dict(out), []
    for level in levels:
        A = level_matrix(prev, X)
        level_inputs.append(A)
        cur = {name: model.predict(A, per_fold) for name, model in level.items()}
        out.update(cur)
        prev = cur
    return StackPredictions(out, dict(per_fold), tuple(level_inputs))


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


def scored_on_folds(result: CVResult, y, folds: Folds) -> CVResult:
    """`result` scored as `stack` scores a learner on the rows its out-of-fold predictions cover: overall, and per
    fold of `folds` restricted to those rows. So a level-1 result predicted on part of the rows (the latest posts,
    `[stack] time_tail`) can be compared fold by fold with the stack results fitted on the same rows."""
    y = np.asarray(y, dtype=float)
    rows = np.isfinite(result.oof)
    at = np.flatnonzero(rows)
    fold_scores = [score_all(y[at[va]], result.oof[at[va]]) for _, va in restrict_folds(folds, rows)]
    return replace(result, scores=score_all(y[rows], result.oof[rows]), fold_scores=fold_scores)


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
    A = level_matrix({name: r.oof for name, r in results.items()}, X)
    lower_test = {name: r.test_pred for name, r in results.items()}
    T = None
    if all(p is not None for p in lower_test.values()) and (X is None or X_test is not None):
        T = level_matrix(lower_test, X_test if X is not None else None)
        T = T if len(T) else None
    rows = np.isfinite(A[list(results)].to_numpy()).all(axis=1)
    if rows.sum() < 2:
        raise ValueError(f"level {level} needs rows with out-of-fold predictions from every model, got {rows.sum()}")
    sub_folds = restrict_folds(folds, rows)
    if not sub_folds:
        raise ValueError(f"level {level} has no fold whose training part has out-of-fold predictions (a single "
                         "train/validation split predicts only its validation part); use no stack learners")
    out = {}
    for name, learner in learners.items():
        res = cross_fit(learner, A[rows], y[rows], folds=sub_folds, progress=progress, desc=f"{name} (level {level})",
                        sample_weight=None if sample_weight is None else np.asarray(sample_weight)[rows])
        full = np.full(len(y), np.nan)
        full[rows] = res.oof
        model = StackModel(tuple(res.models), tuple(A.columns))
        # The test rows go through the prediction-time path, as new posts do.
        fold_test = [] if T is None else model.fold_predictions(T, {})
        out[f"{name}_{level}"] = replace(res, oof=full, inputs=model.inputs, fold_test_preds=fold_test,
                                         test_pred=np.mean(fold_test, axis=0) if fold_test else None)
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
    A = level_matrix({name: r.oof for name, r in results.items()})
    names = list(results)
    finite = np.isfinite(A.to_numpy()).all(axis=1)
    oof = np.full(len(y), np.nan)
    fold_scores, models, weights = [], [], {}
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
    model = StackModel(tuple(models), tuple(names), "fold_blend")
    has_test = all(len(r.fold_test_preds) == len(folds) for r in results.values())
    test_preds = model.fold_predictions(None, {n: r.fold_test_preds for n, r in results.items()}) if has_test else []
    return CVResult(oof=oof, test_pred=np.mean(test_preds, axis=0) if test_preds else None, fold_scores=fold_scores,
                    scores=score_all(y, oof), models=models, importances=pd.DataFrame(weights),
                    fold_test_preds=test_preds, kind="fold_blend", inputs=model.inputs,
                    weights=pd.DataFrame(weights).T)


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
