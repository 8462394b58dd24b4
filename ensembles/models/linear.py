"""Linear learners: a Ridge (the default stacker) and a non-negative weighted blend, both usable at any level."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from sklearn.linear_model import Ridge

from ._base import Model, register_model


def as_numeric(X: pd.DataFrame) -> pd.DataFrame:
    """Categories become their integer codes (missing -1), so linear learners take any feature matrix."""
    out = X.copy()
    for c in out.columns:
        if isinstance(out[c].dtype, pd.CategoricalDtype):
            out[c] = out[c].cat.codes
    return out.astype(float)


@dataclass(frozen=True)
class Standardiser:
    """Median imputation, then each column centred on its mean and divided by its standard deviation (1 where a
    column is constant), all fitted on the training rows: the input scale of the ridge and the k-NN."""

    median: pd.Series
    mean: pd.Series
    std: pd.Series

    @classmethod
    def fit(cls, X: pd.DataFrame) -> "Standardiser":
        A = as_numeric(X)
        median = A.median().fillna(0.0)
        A = A.fillna(median)
        return cls(median, A.mean(), A.std(ddof=0).replace(0, 1.0))

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        return (as_numeric(X).fillna(self.median) - self.mean) / self.std


LOSSES = ("squared", "absolute", "relative")
# The run metric's loss for the linear learners (stackers and blends): MAE and the SMP rank are absolute errors,
# MAPE an absolute error relative to the label.
LINEAR_OBJECTIVES = {"src": {"loss": "squared"}, "mse": {"loss": "squared"}, "mae": {"loss": "absolute"},
                     "smp": {"loss": "absolute"}, "mape": {"loss": "relative"}}


def _loss_weights(loss: str, y: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    """Row weights that turn an absolute loss into the `relative` one (1 / |y|), times the caller's weights."""
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    out = np.ones(len(y)) if w is None else np.asarray(w, dtype=float)
    if loss == "relative":
        if np.any(y == 0):
            raise ValueError("loss 'relative' (MAPE) is undefined for a label of 0")
        out = out / np.abs(y)
    return out / out.mean()


@register_model
class RidgeModel(Model):
    key = "ridge"
    summary = "Ridge on standardised inputs, median-imputed (the default stacker); LAD when the metric is absolute"
    defaults = {"alpha": 1.0, "loss": "squared", "lad_alpha": 1e-4}
    objectives = LINEAR_OBJECTIVES
    explains = "linear"

    @staticmethod
    def search_space(trial):
        return {"alpha": trial.suggest_float("alpha", 1e-3, 1e3, log=True)}

    def _fit(self, X, y, X_val, y_val, sample_weight):
        self.scale_ = Standardiser.fit(X)
        Z = self.scale_.transform(X)
        loss = self.params["loss"]
        w = _loss_weights(loss, y, sample_weight)
        if loss == "squared":
            self.model_ = Ridge(alpha=self.params["alpha"]).fit(Z, y, sample_weight=w)
        else:  # least absolute deviations (the median regression), lightly L1-penalised
            from sklearn.linear_model import QuantileRegressor

            self.model_ = QuantileRegressor(quantile=0.5, alpha=float(self.params["lad_alpha"]),
                                            solver="highs").fit(Z, y, sample_weight=w)

    def _predict(self, X):
        return self.model_.predict(self.scale_.transform(X))

    def _importance(self):
        return pd.Series(np.abs(self.model_.coef_), index=self.columns_, dtype=float)

    def _contributions(self, X):
        # coef * standardised value: each column's deviation from its training mean; the intercept is the base.
        Z = self.scale_.transform(X).to_numpy(dtype=float)
        intercept = float(np.ravel(self.model_.intercept_)[0])
        return np.column_stack([Z * np.asarray(self.model_.coef_, dtype=float), np.full(len(Z), intercept)])

    def _slopes(self):
        return pd.Series(np.asarray(self.model_.coef_, dtype=float) / self.scale_.std.to_numpy(dtype=float),
                         index=self.columns_)


@register_model
class BlendModel(Model):
    """Weighted average of the input columns (model predictions), weights >= 0 summing to 1, fitted for MSE."""

    key = "blend"
    summary = "non-negative weighted blend of predictions (weights sum to 1, fitted on OOF for the run's metric)"
    defaults = {"loss": "squared"}
    objectives = LINEAR_OBJECTIVES
    explains = "linear"

    def _inputs(self, X) -> np.ndarray:
        A = as_numeric(X).to_numpy()
        if not np.isfinite(A).all():
            raise ValueError(f"{self.key} inputs must be finite (predictions of every model on every row)")
        return A

    def _fit(self, X, y, X_val, y_val, sample_weight):
        A = self._inputs(X)
        k = A.shape[1]
        squared = self.params["loss"] == "squared"
        w_rows = _loss_weights(self.params["loss"], y, sample_weight)
        eps = 1e-3 * (float(np.std(y)) or 1.0)

        def loss(w):
            r = A @ w - y
            # Absolute errors smoothed near 0 (sqrt(r^2 + eps^2)), so the optimiser has a gradient everywhere.
            per = r * r if squared else np.sqrt(r * r + eps * eps)
            return float(np.sum(w_rows * per) / np.sum(w_rows))

        res = minimize(loss, np.full(k, 1.0 / k), method="SLSQP", bounds=[(0.0, 1.0)] * k,
                       constraints=[{"type": "eq", "fun": lambda w: np.sum(w) - 1.0}],
                       options={"ftol": 1e-12, "maxiter": 1000})
        w = np.clip(res.x, 0.0, None)
        self.weights_ = pd.Series(w / w.sum(), index=list(X.columns))

    def _predict(self, X):
        return as_numeric(X[list(self.weights_.index)]).to_numpy() @ self.weights_.to_numpy()

    def _importance(self):
        return self.weights_.astype(float)

    def _contributions(self, X):
        A = as_numeric(X[list(self.weights_.index)]).to_numpy()
        return np.column_stack([A * self.weights_.to_numpy(), np.zeros(len(A))])

    def _slopes(self):
        return self.weights_.astype(float)


@register_model
class GreedyBlendModel(BlendModel):
    """Caruana's ensemble selection: starting empty, add (with replacement) the input column that most lowers the
    run's loss of the running average, `rounds` times; the weights are how often each column was added. The
    repeated, integer steps make it a coarser, more regularised blend than the optimised `blend` (AutoGluon's final
    weighted ensemble is this)."""

    key = "greedy_blend"
    summary = "Caruana greedy ensemble selection with replacement on OOF predictions (weights = counts / rounds)"
    defaults = {"loss": "squared", "rounds": 50}

    def _fit(self, X, y, X_val, y_val, sample_weight):
        A = self._inputs(X)
        w_rows = _loss_weights(self.params["loss"], y, sample_weight)
        squared = self.params["loss"] == "squared"
        counts = np.zeros(A.shape[1])
        total = np.zeros(len(y))
        for step in range(1, int(self.params["rounds"]) + 1):
            r = (total[:, None] + A) / step - y[:, None]  # the running average with each candidate added
            per = r * r if squared else np.abs(r)
            best = int(np.argmin(w_rows @ per))  # ties: the first column
            counts[best] += 1
            total += A[:, best]
        self.weights_ = pd.Series(counts / counts.sum(), index=list(X.columns))
