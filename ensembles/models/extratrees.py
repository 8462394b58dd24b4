"""Extremely randomised trees (scikit-learn): a level-1 learner whose errors differ from the boosters'."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.ensemble import ExtraTreesRegressor

from ._base import Model, register_model
from .linear import as_numeric


@register_model
class ExtraTreesModel(Model):
    key = "extratrees"
    summary = "scikit-learn ExtraTrees on median-imputed inputs (categories as codes): diversity for the stack"
    defaults = {"n_estimators": 300, "max_features": 0.5, "min_samples_leaf": 3, "random_state": 0, "n_jobs": 1}
    seed_param = "random_state"
    threads_param = "n_jobs"
    explains = ""

    @staticmethod
    def search_space(trial):
        return {"max_features": trial.suggest_float("max_features", 0.2, 1.0),
                "min_samples_leaf": trial.suggest_int("min_samples_leaf", 1, 20, log=True)}

    def _fit(self, X, y, X_val, y_val, sample_weight):
        A = as_numeric(X)
        self.median_ = A.median().fillna(0.0)
        self.model_ = ExtraTreesRegressor(**self.library_params()).fit(A.fillna(self.median_).to_numpy(), y,
                                                                        sample_weight=sample_weight)

    def _predict(self, X):
        return self.model_.predict(as_numeric(X).fillna(self.median_).to_numpy())

    def _importance(self):
        return pd.Series(np.asarray(self.model_.feature_importances_, dtype=float), index=self.columns_)
