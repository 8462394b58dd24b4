"""Linear learners: a Ridge (the default stacker) and a non-negative weighted blend, both usable at any level."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from sklearn.linear_model import Ridge

from ._base import Model, register_model


def _numeric(X: pd.DataFrame) -> pd.DataFrame:
    """Categories become their integer codes (missing -1), so linear learners take any feature matrix."""
    out = X.copy()
    for c in out.columns:
        if isinstance(out[c].dtype, pd.CategoricalDtype):
            out[c] = out[c].cat.codes
    return out.astype(float)


@register_model
class RidgeModel(Model):
    key = "ridge"
    summary = "Ridge on standardised inputs, median-imputed (the default stacker)"
    defaults = {"alpha": 1.0}

    @staticmethod
    def search_space(trial):
        return {"alpha": trial.suggest_float("alpha", 1e-3, 1e3, log=True)}

    def _fit(self, X, y, X_val, y_val, sample_weight):
        A = _numeric(X)
        self.median_ = A.median().fillna(0.0)
        A = A.fillna(self.median_)
        self.mean_, self.std_ = A.mean(), A.std(ddof=0).replace(0, 1.0)
        self.model_ = Ridge(alpha=self.params["alpha"]).fit((A - self.mean_) / self.std_, y, sample_weight=sample_weight)

    def _predict(self, X):
        A = _numeric(X).fillna(self.median_)
        return self.model_.predict((A - self.mean_) / self.std_)

    def feature_importance(self):
        return pd.Series(np.abs(self.model_.coef_), index=self.columns_, dtype=float)


@register_model
class BlendModel(Model):
    """Weighted average of the input columns (model predictions), weights >= 0 summing to 1, fitted for MSE."""

    key = "blend"
    summary = "non-negative weighted blend of predictions (weights sum to 1, fitted on OOF)"
    defaults = {}

    def _fit(self, X, y, X_val, y_val, sample_weight):
        A = _numeric(X).to_numpy()
        if not np.isfinite(A).all():
            raise ValueError("blend inputs must be finite (predictions of every model on every row)")
        k = A.shape[1]
        w_rows = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=float)

        def loss(w):
            r = A @ w - y
            return float(np.sum(w_rows * r * r) / np.sum(w_rows))

        res = minimize(loss, np.full(k, 1.0 / k), method="SLSQP", bounds=[(0.0, 1.0)] * k,
                       constraints=[{"type": "eq", "fun": lambda w: np.sum(w) - 1.0}],
                       options={"ftol": 1e-12, "maxiter": 1000})
        w = np.clip(res.x, 0.0, None)
        self.weights_ = pd.Series(w / w.sum(), index=list(X.columns))

    def _predict(self, X):
        return _numeric(X[list(self.weights_.index)]).to_numpy() @ self.weights_.to_numpy()

    def feature_importance(self):
        return self.weights_.astype(float)
