"""SMP Challenge metrics: Spearman rank correlation (SRC), MAE, MSE and MAPE, on rows with finite predictions."""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr


def _finite(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must have the same shape, got {y_true.shape} and {y_pred.shape}")
    keep = np.isfinite(y_true) & np.isfinite(y_pred)
    return y_true[keep], y_pred[keep]


def src(y_true, y_pred) -> float:
    """Spearman rank correlation; NaN when fewer than 2 rows or a constant side."""
    t, p = _finite(y_true, y_pred)
    if len(t) < 2 or np.ptp(t) == 0 or np.ptp(p) == 0:
        return float("nan")
    return float(spearmanr(t, p).statistic)


def mae(y_true, y_pred) -> float:
    t, p = _finite(y_true, y_pred)
    return float(np.mean(np.abs(t - p))) if len(t) else float("nan")


def mse(y_true, y_pred) -> float:
    t, p = _finite(y_true, y_pred)
    return float(np.mean((t - p) ** 2)) if len(t) else float("nan")


def mape(y_true, y_pred) -> float:
    """Mean absolute percentage error as a fraction (0.1 = 10%), the SMP 2025 video-track ranking metric.

    NaN when a true value is 0 (MAPE is undefined there; a config whose `metric` is mape rejects such labels)."""
    t, p = _finite(y_true, y_pred)
    if np.any(t == 0):
        return float("nan")
    return float(np.mean(np.abs(t - p) / np.abs(t))) if len(t) else float("nan")


def smp_score(y_true, y_pred) -> float:
    """The SMP Challenge's two official metrics in one number, larger is better: the mean of SRC and the MAE skill
    1 - MAE / MAE(predicting the median of `y_true`). The challenge ranks teams by the mean of their SRC rank and
    MAE rank; a model has no rank on its own, and this is the score that orders models the same way when one
    improves SRC and MAE by comparable fractions of their spread."""
    t, p = _finite(y_true, y_pred)
    if len(t) < 2:
        return float("nan")
    base = float(np.mean(np.abs(t - np.median(t)))) or 1.0
    return 0.5 * (src(t, p) + 1.0 - mae(t, p) / base)


METRICS = {"src": src, "mae": mae, "mse": mse, "mape": mape, "smp": smp_score}
# Whether larger is better, for choosing the best model by a metric.
GREATER_IS_BETTER = {"src": True, "mae": False, "mse": False, "mape": False, "smp": True}


def bias(y_true, y_pred) -> float:
    """Mean residual, prediction minus label: below 0 the model under-predicts (what minimising MAPE does)."""
    t, p = _finite(y_true, y_pred)
    return float(np.mean(p - t)) if len(t) else float("nan")


def score_all(y_true, y_pred) -> dict[str, float]:
    """Every metric, the mean residual (`bias`, not a metric to rank by) and the number of rows scored."""
    t, _ = _finite(y_true, y_pred)
    out = {name: fn(y_true, y_pred) for name, fn in METRICS.items()}
    out["bias"] = bias(y_true, y_pred)
    out["n"] = int(len(t))
    return out


def better(metric: str, a: float, b: float) -> bool:
    """Whether score `a` beats `b` on `metric` (NaN never beats anything)."""
    if not np.isfinite(a):
        return False
    if not np.isfinite(b):
        return True
    return a > b if GREATER_IS_BETTER[metric] else a < b
