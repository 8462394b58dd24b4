"""k nearest neighbours on standardised inputs: a level-1 learner that reads similarity, not splits."""

from __future__ import annotations

import numpy as np
from sklearn.neighbors import NearestNeighbors

from ._base import Model, register_model
from .linear import Standardiser


@register_model
class KNNModel(Model):
    """The mean label of the k nearest training rows, weighted by 1 / distance (`weights = "distance"`) or not
    (`"uniform"`), times the rows' sample weights."""

    key = "knn"
    summary = "k-NN regression on standardised, median-imputed inputs (distance-weighted): diversity for the stack"
    defaults = {"n_neighbors": 20, "weights": "distance", "n_jobs": 1}
    threads_param = "n_jobs"

    @staticmethod
    def search_space(trial):
        return {"n_neighbors": trial.suggest_int("n_neighbors", 5, 100, log=True)}

    def _fit(self, X, y, X_val, y_val, sample_weight):
        if self.params["weights"] not in ("distance", "uniform"):
            raise ValueError(f"model 'knn': weights must be 'distance' or 'uniform', got {self.params['weights']!r}")
        self.scale_ = Standardiser.fit(X)
        k = min(int(self.params["n_neighbors"]), len(X))
        self.index_ = NearestNeighbors(n_neighbors=k, n_jobs=self.params["n_jobs"]).fit(
            self.scale_.transform(X).to_numpy())
        self.y_ = np.asarray(y, dtype=float)
        self.w_ = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=float)

    def _predict(self, X):
        dist, idx = self.index_.kneighbors(self.scale_.transform(X).to_numpy())
        w = self.w_[idx]
        if self.params["weights"] == "distance":
            w = w / np.maximum(dist, 1e-12)
        w = np.where(w.sum(axis=1, keepdims=True) > 0, w, 1.0)
        return np.sum(w * self.y_[idx], axis=1) / np.sum(w, axis=1)
