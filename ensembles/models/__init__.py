"""Model wrappers, one module each; importing this package registers them all."""

from ._base import MODELS, Model, get_model, make_model, register_model, search_spaces
from . import catboost, extratrees, knn, lgbm, linear, mlp, realmlp, tabnet, xgboost  # noqa: F401  (registration)

__all__ = ["MODELS", "Model", "get_model", "make_model", "register_model", "search_spaces"]
