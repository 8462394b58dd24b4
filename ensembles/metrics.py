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


METRICS = {"src": src, "mae": mae, "mse": mse, "mape": mape}
# Whether larger is better, for choosing the best model by a metric.
GREATER_IS_BETTER = {"src": True, "mae": False, "mse": False, "mape": False}


def score_all(y_true, y_pred) -> dict[str, float]:
    """Every metric plus the number of rows scored."""
    t, _ = _finite(y_true, y_pred)
    out = {name: fn(y_true, y_pred) for name, fn in METRICS.items()}
    out["n"] = int(len(t))
    return out
