"""Fold schemes: shuffled KFold, GroupKFold by user, and a time-ordered expanding-window split."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold, KFold

Folds = list[tuple[np.ndarray, np.ndarray]]
SCHEMES = ("kfold", "group", "time")


def make_folds(
    frame: pd.DataFrame,
    *,
    scheme: str = "kfold",
    n_splits: int = 5,
    seed: int = 0,
    group_col: str = "user_id",
    time_col: str = "post_time",
) -> Folds:
    """Positional (train_idx, val_idx) pairs over the rows of `frame` (the labelled rows).

    - ``kfold``: shuffled KFold; every row is validated once.
    - ``group``: GroupKFold on `group_col` (a user's posts are never split across train and validation),
      groups shuffled with `seed` so the assignment is seeded but not order-dependent.
    - ``time``: the rows sorted by `time_col` are cut into ``n_splits + 1`` chunks; fold k trains on chunks
      0..k and validates on chunk k+1. The first chunk is never validated and keeps NaN out-of-fold predictions.
    """
    n = len(frame)
    if scheme not in SCHEMES:
        raise ValueError(f"fold scheme must be one of {SCHEMES}, got {scheme!r}")
    if not 2 <= n_splits <= n:
        raise ValueError(f"`2 <= n_splits <= n_rows` must hold, but got n_splits={n_splits}, n_rows={n}")
    idx = np.arange(n)
    if scheme == "kfold":
        return [(tr, va) for tr, va in KFold(n_splits, shuffle=True, random_state=seed).split(idx)]
    if scheme == "group":
        if group_col not in frame.columns:
            raise KeyError(f"group folds need column {group_col!r}; available: {sorted(map(str, frame.columns))}")
        codes, uniques = pd.factorize(frame[group_col])
        if len(uniques) < n_splits:
            raise ValueError(f"group folds need at least n_splits={n_splits} groups, got {len(uniques)}")
        # Relabel groups in a seeded random order so the fold assignment does not follow id order.
        perm = np.random.default_rng(seed).permutation(len(uniques))
        return [(tr, va) for tr, va in GroupKFold(n_splits).split(idx, groups=perm[codes])]
    if time_col not in frame.columns:
        raise KeyError(f"time folds need column {time_col!r}; available: {sorted(map(str, frame.columns))}")
    order = np.argsort(frame[time_col].to_numpy(), kind="stable")
    chunks = np.array_split(order, n_splits + 1)
    return [(np.sort(np.concatenate(chunks[: k + 1])), np.sort(chunks[k + 1])) for k in range(n_splits)]


def fold_ids(folds: Folds, n: int) -> np.ndarray:
    """Validation fold number of each row, -1 for rows never validated."""
    out = np.full(n, -1, dtype=int)
    for k, (_, va) in enumerate(folds):
        out[va] = k
    return out
