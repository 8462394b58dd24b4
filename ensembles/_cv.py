"""Cross-fitting: out-of-fold predictions, fold-averaged test predictions, label-using features
refitted inside each fold."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import numpy as np
import pandas as pd

from smp.memory import release_memory
from smp.progress import progress_bar

from .folds import STOPPING, Folds, fold_matrix
from .engine import Engine, placement
from .foldcache import FoldCache
from .metrics import score_all
from .models import Model


class LabelFeature(Protocol):
    """What `cross_fit` needs of a label-using feature generator (see `features.TargetGenerator`)."""

    name: str

    def clone(self) -> "LabelFeature": ...
    def fit_transform(self, frame: pd.DataFrame, y: pd.Series, *, folds=None) -> pd.DataFrame: ...
    def transform(self, frame: pd.DataFrame) -> pd.DataFrame: ...


class FoldFeatures:
    """Label-using generators fitted on each fold's training part, shared by every model of a run.

    For fold k: ``fit_transform`` on the training part (out-of-fold values, so no training row sees its own
    label), ``transform`` on the validation part and the test rows with statistics of the training part only.
    `inner_folds(part)` makes the inner folds of a training part, normally the outer scheme again, so training
    rows are encoded as validation rows will be (with user-grouped folds a validation user is never seen).
    Results are memoised per fold, so ten models on the same folds fit the encoders once.
    """

    def __init__(self, generators: list[LabelFeature], frame: pd.DataFrame, y, frame_test: pd.DataFrame | None = None,
                 *, inner_folds: Callable[[pd.DataFrame], Folds] | None = None):
        self.generators = list(generators)
        self.frame = frame.reset_index(drop=True)
        self.y = pd.Series(np.asarray(y, dtype=float))
        self.frame_test = None if frame_test is None else frame_test.reset_index(drop=True)
        self.inner_folds = inner_folds
        self._memo: dict[tuple[int, int, int], tuple] = {}
        self.fitted: dict[int, list[LabelFeature]] = {}

    def __bool__(self) -> bool:
        return bool(self.generators)

    def apart(self) -> "FoldFeatures":
        """The same generators over the same labelled rows, with their own memo and fitted folds and no test rows:
        for fits outside the run's folds (the latest-posts fit of `[stack] time_tail`), which must not replace the
        generators the run's fold models predict with."""
        return FoldFeatures(self.generators, self.frame, self.y, None, inner_folds=self.inner_folds)

    def for_fold(self, k: int, tr: np.ndarray, va: np.ndarray):
        key = (k, hash(tr.tobytes()), hash(va.tobytes()))
        if key not in self._memo:
            parts_tr, parts_va, parts_te, fitted = [], [], [], []
            f_tr, f_va = self.frame.iloc[tr], self.frame.iloc[va]
            inner = self.inner_folds(f_tr.reset_index(drop=True)) if self.inner_folds else None
            for gen in self.generators:
                g = gen.clone()
                parts_tr.append(g.fit_transform(f_tr, self.y.iloc[tr], folds=inner))
                parts_va.append(g.transform(f_va))
                if self.frame_test is not None:
                    parts_te.append(g.transform(self.frame_test))
                fitted.append(g)
            self._memo[key] = (
                _hcat(parts_tr, len(tr)),
                _hcat(parts_va, len(va)),
                _hcat(parts_te, 0 if self.frame_test is None else len(self.frame_test)),
                fitted,
            )
        # Set on every call, memoised or not: a caller that numbers folds differently (tuning fits one fold at a
        # time as fold 0) must not leave fold k's generators pointing at another fold's.
        self.fitted[k] = self._memo[key][3]
        return self._memo[key][:3]


def fold_feature_frames(fitted: dict[int, list[LabelFeature]], frame: pd.DataFrame, n_folds: int) -> list[pd.DataFrame]:
    """Label features of new rows for each fold, from that fold's fitted generators (`FoldFeatures.fitted`),
    i.e. as each fold model saw them."""
    frame = frame.reset_index(drop=True)
    return [_hcat([g.transform(frame) for g in fitted.get(k, [])], len(frame)) for k in range(n_folds)]


def _hcat(parts: list[pd.DataFrame], n: int) -> pd.DataFrame:
    if not parts:
        return pd.DataFrame(index=pd.RangeIndex(n))
    return pd.concat([p.reset_index(drop=True) for p in parts], axis=1)


@dataclass(frozen=True)
class CVResult:
    """One fitted result: what `cross_fit` returns (level 1 and stack learners), a fold blend, or a calibration of
    another result. `oof` is NaN on rows no validation fold covered."""

    oof: np.ndarray
    test_pred: np.ndarray | None
    fold_scores: list[dict[str, float]]
    scores: dict[str, float]
    models: list[Model]
    importances: pd.DataFrame  # feature x fold gain importance
    fold_test_preds: list[np.ndarray] = field(default_factory=list)
    kind: str = "cross_fit"  # "cross_fit" | "fold_blend" (per-fold weights, `fold_blend`) | "calibration"
    # Columns of the level matrix a stack result reads (lower-level predictions, passthrough features); the result
    # a calibration maps.
    inputs: tuple[str, ...] = ()
    seconds: float = float("nan")  # wall time of the level-1 fit (NaN for stack and calibration results)
    placements: tuple[dict[str, Any], ...] = ()  # per fold: where it was fitted (`engine.placement()`) or cached
    weights: pd.DataFrame | None = None  # fold blend: one row of input weights per fold
    calibrator: Callable | None = None  # calibration: the map fitted on all out-of-fold predictions

    @property
    def base(self) -> str | None:
        """The result a calibration maps (None for any other kind)."""
        return self.inputs[0] if self.kind == "calibration" else None


@dataclass(frozen=True)
class Stopping:
    """Where learners that stop early (boosters, networks) find the rows they stop on.

    - ``inner`` (the default): an early-stopping part of each fold's *training* part (`rows(tr)` gives its mask;
      default a seeded 15% of the rows); the validation part the fold is scored on is never looked at;
    - ``refit``: the same, then a refit on the whole training part with the found number of rounds, scaled by the
      ratio of rows (more data for the final fold model, twice the fitting cost);
    - ``validation``: stop on the scored validation part itself (what most public solutions do). It inflates the
      out-of-fold score and feeds optimistic predictions to the stack: kept only to measure that;
    - ``none``: no early stopping (every learner runs its full number of rounds).
    """

    mode: str = "inner"
    rows: Callable[[np.ndarray], np.ndarray] | None = None

    def __post_init__(self):
        if self.mode not in STOPPING:
            raise ValueError(f"early stopping must be one of {STOPPING}, got {self.mode!r}")

    def mask(self, tr: np.ndarray) -> np.ndarray:
        if self.rows is not None:
            return np.asarray(self.rows(tr), dtype=bool)
        n = len(tr)
        mask = np.zeros(n, dtype=bool)
        if n >= 4:
            mask[np.random.default_rng(0).choice(n, size=max(1, int(round(0.15 * n))), replace=False)] = True
        return mask


@dataclass
class PseudoRows:
    """Test rows with pseudo-labels that join every fold's TRAINING part (never a validation part).

    `index` are positions in `X_test`; their label features come from the fold's generators fitted on real labels
    only (the test-row transform), so a pseudo-label never feeds an encoder.
    """

    index: np.ndarray
    y: np.ndarray
    weight: float | np.ndarray = 1.0

    def __post_init__(self):
        self.index = np.asarray(self.index, dtype=int)
        self.y = np.asarray(self.y, dtype=float)
        if self.index.shape != self.y.shape:
            raise ValueError(f"pseudo rows: index and y must have the same length, got {self.index.shape} and {self.y.shape}")
        if not np.isfinite(self.y).all():
            raise ValueError("pseudo rows: pseudo-labels must be finite")

    def weights(self) -> np.ndarray:
        return np.broadcast_to(np.asarray(self.weight, dtype=float), self.y.shape).copy()


def cross_fit(
    model: Model,
    X: pd.DataFrame,
    y,
    *,
    folds: Folds,
    X_test: pd.DataFrame | None = None,
    fold_features: FoldFeatures | None = None,
    sample_weight=None,
    pseudo: PseudoRows | None = None,
    progress: bool = True,
    desc: str | None = None,
    engine: Engine | None = None,
    stopping: Stopping | None = None,
    cache: FoldCache | None = None,
) -> CVResult:
    """Fit a clone of `model` on each fold's training part, predict its validation part and the test rows.

    `X` holds the static features of the labelled rows (positional rows match `y` and `folds`); label-using
    features come from `fold_features`, refitted per fold. Test predictions are the mean over folds.
    `engine` (see `smp.ensembles.engine`) runs the fold fits in parallel; label features are still fitted here, once
    per fold, and results are assembled in fold order, so any engine gives the predictions of the plain loop.
    `pseudo` rows of `X_test` are appended to every fold's training part only, with their own sample weight.
    `stopping` says where learners that stop early find their stopping rows (default: an inner part of each
    training part, never the scored validation part; see `Stopping`).
    `cache` (a `FoldCache`) loads folds whose inputs, learner and code are unchanged instead of refitting them,
    and stores the folds it fits.
    """
    stopping = stopping or Stopping()
    X = X.reset_index(drop=True)
    y = np.asarray(y, dtype=float)
    if X_test is not None and len(X_test) == 0:
        X_test = None  # no test rows (a forward evaluation of a table without a test file): nothing to predict
    if len(X) != len(y):
        raise ValueError(f"X and y must have the same number of rows, got {len(X)} and {len(y)}")
    n = len(y)
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
    if pseudo is not None and len(pseudo.index):
        if X_test is None:
            raise ValueError("pseudo rows index X_test, but no X_test was given")
        if pseudo.index.min() < 0 or pseudo.index.max() >= len(X_test):
            raise ValueError(f"pseudo row index out of range for {len(X_test)} test rows")
    else:
        pseudo = None
    oof = np.full(n, np.nan)
    fold_scores, models, imps, test_preds = [], [], {}, []
    folds = list(folds)
    in_loop = engine is None or getattr(engine, "n_jobs", None) == 1  # fit as we go: one fold's data at a time
    early = model.early_stops and stopping.mode in ("inner", "refit")
    stops = [stopping.mask(tr) if early else None for tr, _ in folds]  # read by the cache key and by the fit
    keys: list[str | None] = [None] * len(folds)
    done: list[tuple | None] = [None] * len(folds)
    where: list[dict | None] = [None] * len(folds)
    if cache is not None:
        keys = [_fold_key(cache, model, k, tr, va, X, y, w, X_test, pseudo, stopping.mode, stops[k], fold_features)
                for k, (tr, va) in enumerate(folds)]
        for k, key in enumerate(keys):
            done[k] = cache.load(model.key, key)
            if done[k] is not None:
                where[k] = {**placement(), "from_cache": True}
    todo = [k for k in range(len(folds)) if done[k] is None]

    def task(k: int) -> tuple:
        tr, va = folds[k]
        extras = (pd.DataFrame(index=pd.RangeIndex(0)),) * 3  # no label features: nothing to join
        if fold_features:
            extras = fold_features.for_fold(k, tr, va)
        # References, not copies: the worker slices its fold out of X itself, and the local engine memory-maps X
        # and X_test once for all workers instead of pickling a copy of the matrix per fold.
        return (model, X, X_test, tr, va, extras, y, w, pseudo, stops[k], stopping.mode)

    if in_loop:
        bar = progress_bar(todo, desc=desc or model.key, unit="fold", enabled=bool(progress and todo), leave=False)
        for k in bar:
            done[k], where[k] = _fit_fold(task(k)), {**placement(), "from_cache": False}  # the loop ran here
            bar.set_postfix(src=f"{score_all(y[folds[k][1]], done[k][1])['src']:.4f}")
    elif todo:
        # Tasks are built as workers take them (a generator), so the driver pickles about n_jobs of them at a time.
        fitted, located = engine.map_located(_fit_fold, (task(k) for k in todo), desc=desc or model.key,
                                             progress=progress, total=len(todo))
        for k, r, at in zip(todo, fitted, located):
            done[k], where[k] = r, {**at, "from_cache": False}
    if cache is not None:
        for k in todo:
            cache.save(model.key, keys[k], done[k])
    for k, ((tr, va), (m, pred_va, pred_te)) in enumerate(zip(folds, done)):
        oof[va] = pred_va
        fold_scores.append(score_all(y[va], oof[va]))
        models.append(m)
        imps[f"fold{k}"] = m.feature_importance()
        if pred_te is not None:
            test_preds.append(pred_te)
    return CVResult(
        oof=oof,
        test_pred=np.mean(test_preds, axis=0) if test_preds else None,
        fold_scores=fold_scores,
        scores=score_all(y, oof),
        models=models,
        importances=pd.DataFrame(imps),
        fold_test_preds=test_preds,
        placements=tuple(where),  # where each fold was fitted (engine.placement()) or that it came from the cache
    )


def _fold_key(cache: FoldCache, model: Model, k: int, tr: np.ndarray, va: np.ndarray, X: pd.DataFrame, y: np.ndarray,
              w: np.ndarray | None, X_test: pd.DataFrame | None, pseudo: PseudoRows | None, mode: str,
              stop: np.ndarray | None, fold_features: FoldFeatures | None) -> str:
    """The fold-cache key of fold `k`: everything `_fit_fold` reads (see `FoldCache`)."""
    extras = fold_features.for_fold(k, tr, va) if fold_features else ()
    parts = {
        "X": cache.digest(X), "X_test": cache.digest(X_test), "y": cache.digest(y), "w": cache.digest(w),
        "pseudo": "none" if pseudo is None else
        [cache.digest(pseudo.index), cache.digest(pseudo.y), cache.digest(pseudo.weights())],
        "stopping": mode, "stop": cache.digest(stop),
        "tr": cache.digest(tr), "va": cache.digest(va), "extras": [cache.digest(e) for e in extras],
    }
    return cache.key(model, parts)


def _fit_fold(task: tuple) -> tuple[Model, np.ndarray, np.ndarray | None]:
    """One fold: fit a clone on the training part, predict the validation part and the test rows.

    A module-level function of plain data, so process and Ray workers can run it. The fold's rows are cut out of
    the whole matrix here; with early stopping the fitting and stopping parts are cut directly (never a copy of
    the training part and then two more of it)."""
    from threadpoolctl import threadpool_limits

    model, X, X_test, tr, va, (extra_tr, extra_va, extra_te), y, w, pseudo, stop, mode = task
    release_memory()  # a worker's previous fold left its copies' pages in the heap
    n_pseudo = 0 if pseudo is None else len(pseudo.index)

    def part(rows: np.ndarray | None, with_pseudo: bool = True):
        """(X, y, weights) of the training rows `rows` selects (all when None), pseudo rows appended."""
        idx = tr if rows is None else tr[rows]
        extra = extra_tr
        if rows is not None and extra_tr.shape[1]:
            extra = extra_tr.iloc[np.flatnonzero(rows)].reset_index(drop=True)
        X_p = fold_matrix(X.iloc[idx], extra)
        y_p, w_p = y[idx], None if w is None else w[idx]
        if with_pseudo and n_pseudo:
            extra = extra_te.iloc[pseudo.index].reset_index(drop=True) if extra_te.shape[1] else extra_te
            X_ps = fold_matrix(X_test.iloc[pseudo.index], extra)
            X_p = pd.concat([X_p, X_ps], ignore_index=True)
            y_p = np.concatenate([y_p, pseudo.y])
            w_p = np.concatenate([np.ones(len(idx)) if w_p is None else w_p, pseudo.weights()])
        return X_p, y_p, w_p

    # BLAS sums in a thread-count-dependent order, and workers get fewer threads than this process: one BLAS
    # thread everywhere makes a fold's fit bit-identical wherever it runs (the learners' own threads are
    # deterministic: LightGBM `deterministic`, CatBoost by design).
    with threadpool_limits(limits=1, user_api="blas"):
        # We clone the model so that all the folds are independent.
        if stop is not None and stop.any() and not stop.all():
            X_fit, y_fit, w_fit = part(~stop)
            X_stop, y_stop, _ = part(stop, with_pseudo=False)  # pseudo rows only ever train
            m = model.clone().fit(X_fit, y_fit, X_val=X_stop, y_val=y_stop, sample_weight=w_fit)
            del X_fit, X_stop
            rounds = m.fitted_rounds()
            if mode == "refit" and rounds:
                scale = (len(tr) + n_pseudo) / ((~stop).sum() + n_pseudo)
                m = model.clone().with_rounds(max(1, round(rounds * scale)))
                X_tr, y_tr, w_tr = part(None)
                m.fit(X_tr, y_tr, sample_weight=w_tr)
        else:
            X_tr, y_tr, w_tr = part(None)
            if mode == "validation":
                m = model.clone().fit(X_tr, y_tr, X_val=fold_matrix(X.iloc[va], extra_va), y_val=y[va],
                                      sample_weight=w_tr)
            else:
                m = model.clone().fit(X_tr, y_tr, sample_weight=w_tr)
            del X_tr
        # The validation and test rows are cut only now, so they never sit beside the fit's own copies.
        pred_va = np.asarray(m.predict(fold_matrix(X.iloc[va], extra_va)), dtype=float)
        pred_te = None if X_test is None else np.asarray(m.predict(fold_matrix(X_test, extra_te)), dtype=float)
    return m, pred_va, pred_te
