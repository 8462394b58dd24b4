"""XGBoost regressor (histogram trees, native pandas categories, early stopping on a validation part): a third
booster family beside LightGBM and CatBoost, as in AutoGluon's `best_quality` bag."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._base import Model, category_levels, on_categories, register_model


def require_xgboost():
    try:
        import xgboost as xgb
    except ImportError as e:  # pragma: no cover - xgboost is a dependency of the project
        raise ImportError("model 'xgboost' needs xgboost (`pip install xgboost-cpu`)") from e
    return xgb


@register_model
class XGBoostModel(Model):
    key = "xgboost"
    summary = "XGBoost hist GBDT (native categoricals, early stopping)"
    seed_param = "seed"
    threads_param = "nthread"
    passes_params_through = True
    early_stops = True
    rounds_param = "n_estimators"
    explains = "trees"
    # The run metric's objective and early-stopping metric (XGBoost names; `huber_slope` is Huber's delta).
    objectives = {
        "src": {"objective": "reg:squarederror", "eval_metric": "rmse"},
        "mse": {"objective": "reg:squarederror", "eval_metric": "rmse"},
        "mae": {"objective": "reg:absoluteerror", "eval_metric": "mae"},
        "mape": {"objective": "reg:absoluteerror", "eval_metric": "mape"},
        "smp": {"objective": "reg:pseudohubererror", "huber_slope": 1.0, "eval_metric": "mae"},
    }
    defaults = {
        "objective": "reg:squarederror",
        "eval_metric": "rmse",
        "learning_rate": 0.03,
        "max_depth": 6,
        "min_child_weight": 1.0,
        "subsample": 0.8,
        "colsample_bytree": 0.8,
        "reg_lambda": 1.0,
        "max_cat_to_onehot": 8,
        "n_estimators": 3000,
        "early_stopping_rounds": 200,
        "tree_method": "hist",
        "seed": 0,
        "nthread": 0,
    }

    @staticmethod
    def search_space(trial):
        return {
            "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.2, log=True),
            "max_depth": trial.suggest_int("max_depth", 3, 10),
            "min_child_weight": trial.suggest_float("min_child_weight", 0.5, 30.0, log=True),
            "subsample": trial.suggest_float("subsample", 0.5, 1.0),
            "colsample_bytree": trial.suggest_float("colsample_bytree", 0.4, 1.0),
            "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 30.0, log=True),
        }

    def _matrix(self, X: pd.DataFrame, y=None, weight=None):
        """A DMatrix whose category columns carry the training categories (an unseen value is missing)."""
        xgb = require_xgboost()
        return xgb.DMatrix(on_categories(X, self.categories_), label=y, weight=weight, enable_categorical=True,
                           nthread=self._threads())

    def _threads(self) -> int:
        n = int(self.params.get("nthread") or 0)
        return n if n > 0 else -1

    def _fit(self, X, y, X_val, y_val, sample_weight):
        xgb = require_xgboost()
        self.categories_ = category_levels(X)
        p = self.library_params()
        rounds = int(p.pop("n_estimators"))
        stop = int(p.pop("early_stopping_rounds"))
        p["nthread"] = self._threads()
        train = self._matrix(X, y, sample_weight)
        evals, stopping = [], None
        if X_val is not None and stop > 0:
            evals, stopping = [(self._matrix(X_val, y_val), "stop")], stop
        self.booster_ = xgb.train(p, train, num_boost_round=rounds, evals=evals, early_stopping_rounds=stopping,
                                  verbose_eval=False)

    def _range(self) -> tuple[int, int]:
        """The trees early stopping kept; (0, 0), every tree, when it did not run."""
        best = getattr(self.booster_, "best_iteration", None)
        return (0, int(best) + 1) if best is not None else (0, 0)

    def _predict(self, X):
        return self.booster_.predict(self._matrix(X), iteration_range=self._range())

    def _contributions(self, X):
        # TreeSHAP over the same trees `_predict` uses; the last column is the bias.
        return self.booster_.predict(self._matrix(X), iteration_range=self._range(), pred_contribs=True)

    def _fitted_rounds(self):
        return self._range()[1] or int(self.booster_.num_boosted_rounds())

    def _importance(self):
        gain = self.booster_.get_score(importance_type="total_gain")
        return pd.Series({c: float(gain.get(c, 0.0)) for c in self.columns_}, dtype=float)
