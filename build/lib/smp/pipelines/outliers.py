"""The `[outliers]` training step: IQR filtering of each fold's training part (see `smp.ensembles.outliers`).

How it interacts with the folds: the filter runs after the folds are made and before anything is fitted. Each
fold's training part loses the rows outside the IQR fences, computed on that training part alone (on the label
and on `columns`, which may be static feature columns or PostFrame columns). Validation parts keep every row, so
the out-of-fold predictions still cover all labelled rows and the CV scores compare directly with an unfiltered
run. Label-using features, level-1 learners and the stack all use the filtered folds. Test rows are never
filtered. The final models are the fold models, so no model ever trains on a dropped row.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from smp.ensembles.outliers import filter_folds

from .config import OutliersConfig

log = logging.getLogger("smp")


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
