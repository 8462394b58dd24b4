"""CatBoost regressor with native categorical features and early stopping on a validation part."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._base import Model, register_model


def _pool(X: pd.DataFrame, y=None, weight=None):
    """CatBoost's Pool of `X` (catboost is imported on first use: with IPython's widget code it costs ~0.2 s at the
    start of every process, used or not)."""
    from catboost import Pool

    cats = [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)]
    if cats:
        X = X.copy(deep=False)  # copy-on-write: the replaced columns are new, every other column is shared
        for c in cats:  # CatBoost wants ints or strings: the fixed category codes, missing = -1, its own level.
            X[c] = X[c].cat.codes.astype(np.int64)
    return Pool(X, label=y, weight=weight, cat_features=cats)


@register_model
class CatBoostModel(Model):
    key = "catboost"
    summary = "CatBoost (ordered boosting, native categoricals, early stopping)"
    seed_param = "random_seed"
    threads_param = "thread_count"
    passes_params_through = True
    early_stops = True
    rounds_param = "iterations"
    explains = "trees"
    # The run metric's loss and early-stopping (eval) metric, in CatBoost's names.
    objectives = {
        "src": {"loss_function": "RMSE", "eval_metric": "RMSE"},
        "mse": {"loss_function": "RMSE", "eval_metric": "RMSE"},
        "mae": {"loss_function": "MAE", "eval_metric": "MAE"},
        "mape": {"loss_function": "MAPE", "eval_metric": "MAPE"},
        "smp": {"loss_function": "Huber:delta=1.0", "eval_metric": "MAE"},
    }
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

    @staticmethod
    def search_space(trial):
        return {
            "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.2, log=True),
            "depth": trial.suggest_int("depth", 3, 8),
            "l2_leaf_reg": trial.suggest_float("l2_leaf_reg", 0.5, 30.0, log=True),
            "random_strength": trial.suggest_float("random_strength", 0.1, 10.0, log=True),
            "bagging_temperature": trial.suggest_float("bagging_temperature", 0.0, 1.0),
        }

    def _fit(self, X, y, X_val, y_val, sample_weight):
        p = self.library_params()
        stop = p.pop("early_stopping_rounds")
        from catboost import CatBoostRegressor

        self.model_ = CatBoostRegressor(**p, verbose=False, allow_writing_files=False)
        eval_set = _pool(X_val, y_val) if X_val is not None and stop else None
        self.model_.fit(_pool(X, y, sample_weight), eval_set=eval_set,
                        early_stopping_rounds=stop if eval_set is not None else None,
                        use_best_model=eval_set is not None)

    def _predict(self, X):
        return self.model_.predict(_pool(X))

    def _contributions(self, X):
        # TreeSHAP of the kept trees (use_best_model already cut them); the last column is the expected value.
        return self.model_.get_feature_importance(_pool(X), type="ShapValues")

    def _fitted_rounds(self):
        best = self.model_.get_best_iteration()
        return int(best + 1 if best is not None else self.model_.tree_count_)

    def _importance(self):
        return pd.Series(self.model_.get_feature_importance(), index=self.columns_, dtype=float)
