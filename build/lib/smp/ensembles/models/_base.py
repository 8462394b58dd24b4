"""The model-wrapper contract and the model registry.

A wrapper declares `key` and its `defaults` next to it; `fit(X, y, *, X_val=None, y_val=None,
sample_weight=None) -> self`; `predict(X) -> ndarray`; `feature_importance() -> Series`. `X` is a DataFrame whose
pandas `category` columns are categorical features. Wrappers are cloned per fold, never refitted in place.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import numpy as np
import pandas as pd


class Model:
    key: ClassVar[str] = ""
    defaults: ClassVar[dict[str, Any]] = {}
    # Short text for `smp models`.
    summary: ClassVar[str] = ""

    def __init__(self, **params: Any) -> None:
        unknown = set(params) - set(self.defaults)
        if unknown and not self.accepts_any_params():
            raise TypeError(f"model {self.key!r} got unknown parameters {sorted(unknown)}; valid: {sorted(self.defaults)}")
        self.params = {**copy.deepcopy(self.defaults), **params}

    @classmethod
    def accepts_any_params(cls) -> bool:
        """Wrappers of libraries with many parameters pass unknown ones through to the library."""
        return False

    def clone(self) -> "Model":
        return type(self)(**copy.deepcopy(self.params))

    def fit(self, X: pd.DataFrame, y, *, X_val=None, y_val=None, sample_weight=None) -> "Model":
        raise NotImplementedError

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        raise NotImplementedError

    def feature_importance(self) -> pd.Series:
        """Gain importance per input column (empty when the model has none)."""
        return pd.Series(dtype=float)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params!r})"


MODELS: dict[str, type[Model]] = {}


def register_model(cls: type[Model]) -> type[Model]:
    if not cls.key:
        raise TypeError(f"{cls.__qualname__} must define a non-empty `key`")
    if cls.key in MODELS and MODELS[cls.key] is not cls:
        raise KeyError(f"model key {cls.key!r} is already registered by {MODELS[cls.key].__qualname__}; "
                       f"cannot register {cls.__qualname__}")
    MODELS[cls.key] = cls
    return cls


def get_model(key: str, params: dict | None = None) -> Model:
    if key not in MODELS:
        raise KeyError(f"unknown model {key!r}; valid keys: {sorted(MODELS)}")
    return MODELS[key](**(params or {}))


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
