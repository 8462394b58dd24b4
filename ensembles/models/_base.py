"""The model-wrapper contract and the model registry (the generic `Registry` the feature generators use).

A wrapper is one module: it declares `key`, its `defaults`, the names of its seed and thread parameters, its
Optuna search space (`search_space(trial) -> params`) and implements `_fit` / `_predict`. The base class does the
shared work once, so adding a model touches one file:

- `fit(X, y, *, X_val=None, y_val=None, sample_weight=None) -> self` checks the inputs (a non-empty DataFrame, a
  finite 1-d target of matching length, finite non-negative weights, validation columns equal to the training
  ones), calls `_fit` and records the training columns;
- `predict(X) -> ndarray` checks the columns the model was fitted with are present and passes them in that order;
- `feature_importance() -> Series` (gain per input column; empty when the model has none).

`X` is a DataFrame whose pandas `category` columns are categorical features. Wrappers are cloned per fold, never
refitted in place. `make_model(key, params, seed=..., threads=...)` is how every caller builds one.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, ClassVar

import numpy as np
import pandas as pd

from smp._registry import Registry


class Model:
    key: ClassVar[str] = ""
    defaults: ClassVar[dict[str, Any]] = {}
    summary: ClassVar[str] = ""  # short text for `smp models`
    seed_param: ClassVar[str | None] = None  # the library's name of its seed parameter
    threads_param: ClassVar[str | None] = None  # the library's name of its thread-count parameter
    passes_params_through: ClassVar[bool] = False  # wrappers of large libraries pass unknown params on to them

    def __init__(self, **params: Any) -> None:
        unknown = set(params) - set(self.defaults)
        if unknown and not self.passes_params_through:
            raise TypeError(f"model {self.key!r} got unknown parameters {sorted(unknown)}; valid: {sorted(self.defaults)}")
        self.params = {**copy.deepcopy(self.defaults), **params}

    # ------------------------------------------------------------------------------------------ declarations
    @staticmethod
    def search_space(trial) -> dict[str, Any] | None:
        """Optuna search space: params suggested by `trial`; None when the model is not tuned."""
        return None

    @classmethod
    def tunable(cls) -> bool:
        return cls.search_space is not Model.search_space

    @classmethod
    def params_from_trial(cls, values: dict[str, Any]) -> dict[str, Any]:
        """Model params from a trial's stored values (e.g. `study.best_params`), replaying the space on them."""
        import optuna

        if not cls.tunable():
            raise KeyError(f"no search space for model {cls.key!r}")
        return cls.search_space(optuna.trial.FixedTrial(values))

    # ------------------------------------------------------------------------------------------------- api
    def clone(self) -> "Model":
        return type(self)(**copy.deepcopy(self.params))

    def fit(self, X: pd.DataFrame, y, *, X_val=None, y_val=None, sample_weight=None) -> "Model":
        X, y = check_xy(self, X, y)
        w = None if sample_weight is None else check_weights(self, sample_weight, len(y))
        if (X_val is None) != (y_val is None):
            raise ValueError(f"model {self.key!r}: give both X_val and y_val, or neither")
        if X_val is not None:
            X_val, y_val = check_xy(self, X_val, y_val)
            if list(X_val.columns) != list(X.columns):
                raise ValueError(f"model {self.key!r}: X_val must have the training columns in the same order")
        self.columns_ = list(X.columns)
        self._fit(X, y, X_val, y_val, w)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        X, _ = check_xy(self, X)
        missing = [c for c in self.columns_ if c not in X.columns]
        if missing:
            raise KeyError(f"model {self.key!r} was fitted with columns missing here: {missing[:5]}")
        return np.asarray(self._predict(X[self.columns_]), dtype=float).reshape(-1)

    def feature_importance(self) -> pd.Series:
        """Gain importance per input column (empty when the model has none)."""
        return pd.Series(dtype=float)

    # ------------------------------------------------------------------------------------------ subclasses
    def _fit(self, X: pd.DataFrame, y: np.ndarray, X_val: pd.DataFrame | None, y_val: np.ndarray | None,
             sample_weight: np.ndarray | None) -> None:
        raise NotImplementedError

    def _predict(self, X: pd.DataFrame) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params!r})"


MODELS: Registry[Model] = Registry("model", key_attr="key")


def register_model(cls: type[Model]) -> type[Model]:
    """Class decorator adding a model wrapper to the registry (`smp models` lists them)."""
    return MODELS.register(cls)


def get_model(key: str, params: dict | None = None) -> Model:
    return MODELS.create(key, params)


def make_model(key: str, params: dict | None = None, *, seed: int | None = None, threads: int | None = None) -> Model:
    """The model `key` with `params`; `seed` and `threads` fill the library's seed / thread parameters unless
    `params` sets them (each library names them differently: the wrapper's `seed_param` / `threads_param`)."""
    params = dict(params or {})
    cls = MODELS.get(key)
    for name, value in ((cls.seed_param, seed), (cls.threads_param, threads)):
        if name and value is not None and name not in params:
            params[name] = value
    return get_model(key, params)


def search_spaces() -> dict[str, Callable[[Any], dict[str, Any]]]:
    """Model key -> search space of every registered model that has one."""
    return {k: cls.search_space for k, cls in MODELS.items() if cls.tunable()}


def check_xy(model: Model, X, y=None) -> tuple[pd.DataFrame, np.ndarray | None]:
    """Validate learner input: a DataFrame with at least one row/column and a finite 1-d target of equal length."""
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"model {model.key!r} expects X as a pandas DataFrame, got {type(X).__name__}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"model {model.key!r} needs a non-empty X, got shape {X.shape}")
    if y is None:
        return X, None
    y = np.asarray(y, dtype=float)
    if y.ndim != 1 or len(y) != len(X):
        raise ValueError(f"model {model.key!r}: y must be 1-d with len(X)={len(X)} rows, got shape {y.shape}")
    if not np.isfinite(y).all():
        raise ValueError(f"model {model.key!r}: y must be finite, got {y[~np.isfinite(y)][0]!r}")
    return X, y


def check_weights(model: Model, w, n: int) -> np.ndarray:
    w = np.asarray(w, dtype=float)
    if w.shape != (n,):
        raise ValueError(f"model {model.key!r}: sample_weight must have one value per row ({n}), got shape {w.shape}")
    if not (np.isfinite(w).all() and (w >= 0).all() and w.sum() > 0):
        raise ValueError(f"model {model.key!r}: sample weights must be finite, >= 0 and not all 0")
    return w
