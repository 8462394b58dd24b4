"""CatBoost regressor with native categorical features and early stopping on the fold's validation part."""

from __future__ import annotations

import numpy as np
import pandas as pd
from catboost import CatBoostRegressor, Pool

from ._base import Model, check_xy, register_model


def _pool(X: pd.DataFrame, y=None, weight=None) -> Pool:
    cats = [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)]
    if cats:
        X = X.copy()
        for c in cats:  # CatBoost wants ints or strings: the fixed category codes, missing = -1, its own level.
            X[c] = X[c].cat.codes.astype(np.int64)
    return Pool(X, label=y, weight=weight, cat_features=cats)


@register_model
class CatBoostModel(Model):
    key = "catboost"
    summary = "CatBoost (ordered boosting, native categoricals, early stopping)"
    defaults = {
        "iterations": 2000,
        "learning_rate": 0.06,
        "depth": 6,
        "l2_leaf_reg": 3.0,
        "loss_function": "RMSE",
        "early_stopping_rounds": 100,
        "random_seed": 0,
        "thread_count": -1,
    }

    @classmethod
    def accepts_any_params(cls) -> bool:
        return True

    def fit(self, X, y, *, X_val=None, y_val=None, sample_weight=None):
        X, y = check_xy(self, X, y)
        p = dict(self.params)
        stop = p.pop("early_stopping_rounds")
        self.model_ = CatBoostRegressor(**p, verbose=False, allow_writing_files=False)
        eval_set = None
        if X_val is not None and y_val is not None and stop:
            X_val, y_val = check_xy(self, X_val, y_val)
            eval_set = _pool(X_val, y_val)
        self.model_.fit(_pool(X, y, sample_weight), eval_set=eval_set,
                        early_stopping_rounds=stop if eval_set is not None else None,
                        use_best_model=eval_set is not None)
        self.columns_ = list(X.columns)
        return self

    def predict(self, X):
        X, _ = check_xy(self, X)
        return np.asarray(self.model_.predict(_pool(X[self.columns_])), dtype=float)

    def feature_importance(self):
        return pd.Series(self.model_.get_feature_importance(), index=self.columns_, dtype=float)
