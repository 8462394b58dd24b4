"""Fold schemes: shuffled KFold, GroupKFold by user, a time-ordered expanding-window split, and single
train/validation splits of each (the "K-fold vs single split" ablation)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold, KFold

Folds = list[tuple[np.ndarray, np.ndarray]]
SCHEMES = ("kfold", "group", "time", "holdout", "group_holdout", "time_holdout")
# A single split is one fold of its K-fold scheme: a seeded 1/n_splits of the rows (or of the users) validated,
# or for time the latest chunk validated after training on everything before it.
HOLDOUT_OF = {"holdout": "kfold", "group_holdout": "group", "time_holdout": "time"}


def fold_matrix(X: pd.DataFrame, extra: pd.DataFrame) -> pd.DataFrame:
    """What a fold model reads: the rows of `X` (index reset) with that fold's label-using feature columns beside."""
    X = X.reset_index(drop=True)
    return pd.concat([X, extra], axis=1) if extra.shape[1] else X


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
    - ``holdout`` / ``group_holdout`` / ``time_holdout``: a single train/validation split, the last fold of
      ``kfold`` / ``group`` / ``time`` (about 1/n_splits of the rows validated, seeded). Rows outside the
      validation part keep NaN out-of-fold predictions, so nothing can be stacked on them.
    """
    n = len(frame)
    if scheme not in SCHEMES:
        raise ValueError(f"fold scheme must be one of {SCHEMES}, got {scheme!r}")
    if scheme in HOLDOUT_OF:
        return make_folds(frame, scheme=HOLDOUT_OF[scheme], n_splits=n_splits, seed=seed, group_col=group_col,
                          time_col=time_col)[-1:]
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


def latest_fold(frame: pd.DataFrame, share: float, *, time_col: str = "post_time") -> tuple[np.ndarray, np.ndarray]:
    """One forward split of the labelled rows: (the earlier rows, the latest `share` of the rows by `time_col`),
    as positions. Posts at the same time stay on one side in a stable order."""
    n = len(frame)
    if not 0.0 < share < 1.0:
        raise ValueError(f"`0 < share < 1` must hold for the latest fold, but got {share=}")
    if time_col not in frame.columns:
        raise KeyError(f"the latest fold needs column {time_col!r}; available: {sorted(map(str, frame.columns))}")
    k = int(round(share * n))
    if not 1 <= k < n:
        raise ValueError(f"the latest {share:.0%} of {n} rows leaves no row on one side of the split")
    order = np.argsort(frame[time_col].to_numpy(), kind="stable")
    return np.sort(order[: n - k]), np.sort(order[n - k:])


def inner_scheme(scheme: str) -> str:
    """The scheme for inner folds (label encodings of a training part): a single split still encodes its
    training rows out of fold with the K-fold scheme it was cut from, so every training row gets a value."""
    return HOLDOUT_OF.get(scheme, scheme)


def fold_ids(folds: Folds, n: int) -> np.ndarray:
    """Validation fold number of each row, -1 for rows never validated."""
    out = np.full(n, -1, dtype=int)
    for k, (_, va) in enumerate(folds):
        out[va] = k
    return out


STOPPING = ("inner", "refit", "validation", "none")


def stop_rows(frame: pd.DataFrame, rows: np.ndarray, *, scheme: str, frac: float = 0.15, seed: int = 0,
              group_col: str = "user_id", time_col: str = "post_time") -> np.ndarray:
    """The early-stopping part of a fold's training part: a boolean mask over `rows` (positions in `frame`).

    Learners stop early on these rows instead of the validation part they are scored on (which inflates the
    out-of-fold score and feeds optimistic predictions to the stack). The split follows the outer scheme, so the
    stopping rows resemble the rows the model will meet: the latest `frac` of the rows by time (`time`), a seeded
    `frac` of the users (`group`), or a seeded `frac` of the rows (`kfold`).
    """
    if not 0.0 < frac < 1.0:
        raise ValueError(f"`0 < frac < 1` must hold for the early-stopping split, but got {frac=}")
    rows = np.asarray(rows)
    n = len(rows)
    k = max(1, int(round(frac * n)))
    mask = np.zeros(n, dtype=bool)
    if n < 4:
        return mask  # too few rows to hold any back: no early stopping
    base = HOLDOUT_OF.get(scheme, scheme)
    if base == "time" and time_col in frame.columns:
        t = frame[time_col].to_numpy()[rows]
        mask[np.argsort(t, kind="stable")[-k:]] = True
        return mask
    rng = np.random.default_rng(seed)
    if base == "group" and group_col in frame.columns:
        codes, uniques = pd.factorize(frame[group_col].to_numpy()[rows])
        order = rng.permutation(len(uniques))
        sizes = np.bincount(codes, minlength=len(uniques))
        taken, held = 0, []
        for g in order:  # whole users until about `frac` of the rows are held back
            if taken >= k:
                break
            held.append(g)
            taken += sizes[g]
        if taken < n:
            mask[np.isin(codes, held)] = True
            return mask
    mask[rng.choice(n, size=k, replace=False)] = True
    return mask
