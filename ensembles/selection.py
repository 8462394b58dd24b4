"""Feature selection fitted inside each fold, on the fold's training rows only (a model's `select` parameter).

Two rules the SMP winners use:

- ``cumulative``: a quick LightGBM on the training rows ranks the features by gain; the smallest set holding `share`
  of the total gain is kept (skyandkibo 2025: 85-95% of the cumulative importance);
- ``null``: null importances (Altmann et al.): the same quick model is fitted `null_runs` times on permuted labels;
  a feature is kept when its real gain beats the `quantile` of its gains on permuted labels, i.e. when the model
  uses it for the signal rather than for noise.

Nothing here sees a validation or test row, so the selection is as leak-free as the model it feeds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

METHODS = ("cumulative", "null")
QUICK = {"objective": "regression", "learning_rate": 0.1, "num_leaves": 15, "min_child_samples": 20,
         "feature_fraction": 0.8, "bagging_fraction": 0.8, "bagging_freq": 1, "verbosity": -1,
         "deterministic": True, "force_row_wise": True, "num_threads": 1}


def _gain(X: pd.DataFrame, y: np.ndarray, w: np.ndarray | None, seed: int, rounds: int) -> np.ndarray:
    import lightgbm as lgb

    booster = lgb.train({**QUICK, "seed": seed}, lgb.Dataset(X, y, weight=w), num_boost_round=rounds)
    return booster.feature_importance("gain")


def select_features(X: pd.DataFrame, y, w=None, *, method: str = "cumulative", share: float = 0.95,
                    quantile: float = 0.75, null_runs: int = 3, rounds: int = 150, min_features: int = 5,
                    seed: int = 0) -> list[str]:
    """The columns of `X` to keep (in `X`'s order), chosen on these rows by `method` (see the module docstring)."""
    if method not in METHODS:
        raise ValueError(f"feature selection method must be one of {METHODS}, got {method!r}")
    if not 0.0 < share <= 1.0:
        raise ValueError(f"`0 < share <= 1` must hold, but got {share=}")
    y = np.asarray(y, dtype=float)
    cols = list(X.columns)
    if len(cols) <= min_features:
        return cols
    gain = _gain(X, y, w, seed, rounds)
    if method == "cumulative":
        order = np.argsort(-gain, kind="stable")
        total = gain.sum()
        if total <= 0:
            return cols
        cum = np.cumsum(gain[order]) / total
        n = max(min_features, int(np.searchsorted(cum, share) + 1))
        keep = set(order[:n])
    else:
        rng = np.random.default_rng(seed)
        null = np.stack([_gain(X, rng.permutation(y), w, seed + 1 + i, rounds) for i in range(int(null_runs))])
        threshold = np.quantile(null, quantile, axis=0)
        keep = set(np.flatnonzero(gain > threshold))
        if len(keep) < min_features:  # never leave a model without inputs: the strongest by gain fill up
            keep |= set(np.argsort(-gain, kind="stable")[:min_features])
    return [c for i, c in enumerate(cols) if i in keep]
