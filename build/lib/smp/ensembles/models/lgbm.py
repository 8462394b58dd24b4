"""LightGBM regressor with early stopping on the fold's validation part; pandas categories are native."""

from __future__ import annotations

import lightgbm as lgb
import pandas as pd

from ._base import Model, check_xy, register_model


@register_model
class LGBMModel(Model):
    key = "lgbm"
    summary = "LightGBM GBDT (native categoricals, early stopping)"
    defaults = {
        "objective": "regression",
        "learning_rate": 0.05,
        "num_leaves": 63,
        "min_child_samples": 20,
        "feature_fraction": 0.8,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "lambda_l2": 1.0,
        "n_estimators": 2000,
        "early_stopping_rounds": 100,
        "seed": 0,
        "num_threads": 0,
    }

    @classmethod
    def accepts_any_params(cls) -> bool:
        return True

    def fit(self, X, y, *, X_val=None, y_val=None, sample_weight=None):
        X, y = check_xy(self, X, y)
        p = dict(self.params)
        rounds = int(p.pop("n_estimators"))
        stop = int(p.pop("early_stopping_rounds"))
        # deterministic + force_row_wise: the same seed gives the same trees whatever the thread timing.
        p.update(verbosity=-1, deterministic=True, force_row_wise=True)
        train = lgb.Dataset(X, y, weight=sample_weight, free_raw_data=True)
        callbacks, valid = [], []
        if X_val is not None and y_val is not None and stop > 0:
            X_val, y_val = check_xy(self, X_val, y_val)
            valid = [lgb.Dataset(X_val, y_val, reference=train)]
            callbacks = [lgb.early_stopping(stop, verbose=False)]
        self.booster_ = lgb.train(p, train, num_boost_round=rounds, valid_sets=valid, callbacks=callbacks)
        self.columns_ = list(X.columns)
        return self

    def predict(self, X):
        X, _ = check_xy(self, X)
        return self.booster_.predict(X[self.columns_], num_iteration=self.booster_.best_iteration or None)

    def feature_importance(self):
        return pd.Series(self.booster_.feature_importance("gain"), index=self.columns_, dtype=float)
