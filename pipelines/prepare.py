"""The one preparation step every verb shares: a config and a PostFrame -> matrices, folds and fold features.

    prepare(cfg, frame) -> Prepared(train / test posts, y, static features, folds, label-using fold features)

`smp run`, `smp tune`, `smp ablate`, `smp retrain`, `smp evaluate` and `smp.Predictor` all call it, so the way a
run is prepared cannot drift between them. It does no loading (a PostFrame comes in) and writes nothing but the
feature caches.

Label-using generators see the posts' PostFrame columns plus the static feature columns they ask for (a
neighbour-label encoder may search a text-embedding block, say), always fitted inside each fold.

The `[outliers]` step (`apply_outlier_filter`) runs after the folds are made and before anything is fitted: each
fold's training part loses the rows outside the IQR fences (`smp.ensembles.iqr_filter`), computed on that training
part alone (on the label and on `columns`, static feature columns or PostFrame columns). Validation parts keep
every row, so out-of-fold predictions still cover all labelled rows and the CV scores compare directly with an
unfiltered run; label-using features, level-1 learners and the stack all use the filtered folds. Test rows are
never filtered, and the final models are the fold models, so no model ever trains on a dropped row.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from smp.memory import release_memory
from smp.ensembles import FoldFeatures, Stopping, inner_scheme, make_folds, stop_rows
from smp.ensembles.iqr_filter import filter_folds
from smp.features import FeatureCache, FeatureSet, RowStore, build_features, target_input_columns

from .config import OutliersConfig, RunConfig

log = logging.getLogger("smp")


@dataclass(frozen=True)
class Prepared:
    """What training needs, computed once: positional rows of `train` match `y`, `X_train` and `folds`."""

    cfg: RunConfig
    frame: pd.DataFrame  # train and test posts
    train: pd.DataFrame
    test: pd.DataFrame
    y: np.ndarray
    fs: FeatureSet
    X_train: pd.DataFrame
    X_test: pd.DataFrame
    folds: list
    fold_features: FoldFeatures
    target_inputs: list[str] = field(default_factory=list)  # static columns the label-using generators read
    stopping: Stopping = field(default_factory=Stopping)  # where learners stop early: inside each training part
    weights: np.ndarray | None = None  # per-row sample weights of the labelled rows ([training] sample_weight)
    timings: dict[str, float] = field(default_factory=dict)


def split_frame(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """(train posts, test posts, train mask) of a PostFrame, each renumbered from 0."""
    is_train = frame["split"].eq("train").to_numpy()
    return *split_rows(frame, is_train), is_train


def split_rows(X: pd.DataFrame, is_train: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training rows, test rows) of `X`, renumbered from 0; views of `X` (no copy) when the training rows come
    first, as every loader writes them."""
    n = int(is_train.sum())
    if is_train[:n].all():
        return X.iloc[:n].reset_index(drop=True), X.iloc[n:].reset_index(drop=True)
    return X[is_train].reset_index(drop=True), X[~is_train].reset_index(drop=True)


def row_store(cfg: RunConfig, progress: bool = False) -> RowStore:
    """The per-row embedding cache of a config, `<cache_dir>/rows`, and where its built models live (`models_dir`)."""
    return RowStore(Path(cfg.output.cache_dir) / "rows", progress=progress, models=models_dir(cfg))


def models_dir(cfg: RunConfig) -> str | None:
    """Where built models (ONNX exports, distilled static models) live: `[output] models_dir`, else
    `$SMP_MODELS_DIR`, else None (the row store's default, `<cache_dir>/models`)."""
    return cfg.output.models_dir or os.environ.get("SMP_MODELS_DIR") or None


def prepare(cfg: RunConfig, frame: pd.DataFrame, *, progress: bool = True) -> Prepared:
    """Static features (through the caches), folds of the labelled rows (outlier-filtered training parts) and the
    label-using generators ready to be fitted per fold."""
    timings: dict[str, Any] = {}
    train, test, is_train = split_frame(frame)
    if len(train) < 2:
        raise ValueError(f"need at least 2 labelled (train) posts, got {len(train)}")
    y = train["label"].to_numpy(dtype=float)
    if "mape" in (cfg.metric, cfg.tuning.metric) and (y == 0).any():
        raise ValueError(f"metric mape is undefined for a label of 0, and {int((y == 0).sum())} training posts have "
                         "one; choose another metric (src, mae, mse, smp)")
    ranked = sorted({cfg.metric, cfg.tuning.metric} & {"src", "smp"})
    if ranked and np.ptp(y) == 0:
        raise ValueError(f"all {len(y)} training labels are {y[0]:g}: metric {ranked[0]} (it ranks by the labels' "
                         "order) is undefined for constant labels, so no model could be scored; check the label column")

    t = time.perf_counter()
    fs = build_features(frame, cfg.features, cache=FeatureCache(cfg.output.cache_dir),
                        rows=row_store(cfg, progress), progress=progress)
    X_train, X_test = split_rows(fs.static, is_train)
    release_memory()
    timings["features"] = time.perf_counter() - t
    log.info("%d static feature columns (%d/%d generators from cache), %d label-using generators in %.1fs",
             fs.static.shape[1], fs.cache_hits, len(fs.static_generators), len(fs.target_generators),
             timings["features"])

    fold_seed = cfg.seed if cfg.cv.seed is None else cfg.cv.seed
    folds = make_folds(train, scheme=cfg.cv.scheme, n_splits=cfg.cv.n_splits, seed=fold_seed)
    folds = apply_outlier_filter(cfg.outliers, folds, y, X_train, train)  # training parts only; off by default
    inputs = target_input_columns(fs.target_generators, train, X_train)
    # Label encodings of training rows use inner folds of the same scheme as the outer ones.
    fold_features = FoldFeatures(
        fs.target_generators, with_columns(train, X_train, inputs), y, with_columns(test, X_test, inputs),
        inner_folds=partial(make_folds, scheme=inner_scheme(cfg.cv.scheme), n_splits=cfg.cv.n_splits, seed=fold_seed),
    )
    tc = cfg.training
    stopping = Stopping(tc.early_stopping, partial(stop_rows, train[["user_id", "post_time"]],
                                                   scheme=cfg.cv.scheme, frac=tc.stop_frac, seed=fold_seed))
    return Prepared(cfg=cfg, frame=frame, train=train, test=test, y=y, fs=fs, X_train=X_train, X_test=X_test,
                    folds=folds, fold_features=fold_features, target_inputs=inputs, stopping=stopping,
                    weights=sample_weights(cfg, train), timings=timings)


def sample_weights(cfg: RunConfig, train: pd.DataFrame) -> np.ndarray | None:
    """`[training] sample_weight` of the labelled rows (mean 1): 1 / |label| (MAPE weighs each error by it) and / or
    recency, 0.5 ** (age / half-life) with the age in days from the newest training post; None for `none`."""
    kind = cfg.training.sample_weight
    if kind == "none":
        return None
    w = np.ones(len(train))
    if "inverse_label" in kind:
        y = train["label"].to_numpy(dtype=float)
        if (y == 0).any():
            raise ValueError("[training] sample_weight = inverse_label is undefined for a label of 0")
        w = w / np.abs(y)
    if "recency" in kind:
        t = pd.to_datetime(train["post_time"], utc=True)
        age = (t.max() - t).dt.total_seconds().to_numpy() / 86400.0
        w = w * 0.5 ** (age / float(cfg.training.recency_half_life_days))
    return w / w.mean()


def with_columns(posts: pd.DataFrame, X: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """`posts` plus the static feature `columns` of the same rows (what label-using generators read)."""
    if not columns:
        return posts
    return pd.concat([posts.reset_index(drop=True), X[columns].reset_index(drop=True)], axis=1)


def permuted(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The leak check's frame: the training labels shuffled (seeded) among the training rows."""
    is_train = frame["split"].eq("train").to_numpy()
    frame = frame.copy()
    # Shuffle the values, not a Series: an index-aligned assignment would put every label back in place.
    labels = frame.loc[is_train, "label"].to_numpy()
    frame.loc[is_train, "label"] = np.random.default_rng(seed).permutation(labels)
    return frame


def apply_outlier_filter(cfg: OutliersConfig, folds, y: np.ndarray, X: pd.DataFrame, posts: pd.DataFrame):
    """`folds` with outliers dropped from the training parts when `[outliers] enabled`, else unchanged."""
    if not cfg.enabled:
        return folds
    if isinstance(cfg.columns, str) or not all(isinstance(c, str) for c in cfg.columns):
        raise ValueError(f"[outliers] columns must be a list of column names, got {cfg.columns!r}")
    data = None
    if cfg.columns:
        X = X.reset_index(drop=True)
        posts = posts.reset_index(drop=True)
        # Feature columns first; PostFrame columns (e.g. user_follower_count) for the rest.
        extra = [c for c in cfg.columns if c not in X.columns and c in posts.columns]
        data = pd.concat([X, posts[extra]], axis=1) if extra else X
    out, report = filter_folds(folds, y, data, k=float(cfg.k), columns=list(cfg.columns), label=bool(cfg.label))
    sizes = [len(tr) for tr, _ in folds]
    log.info("outlier filter (IQR, k=%g): dropped %s of %s training rows per fold", cfg.k, report.dropped, sizes)
    return out
