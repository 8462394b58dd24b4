"""Cross-fitting engine, model wrappers, stacking and metrics. Imports nothing else of ours."""

from ._cv import CVResult, FoldFeatures, PseudoRows, cross_fit, fold_feature_frames, predict_folds
from ._folds import SCHEMES, fold_ids, make_folds
from .metrics import GREATER_IS_BETTER, METRICS, score_all
from .models import MODELS, Model, get_model, register_model
from .stacking import fold_blend, prediction_matrix, restrict_folds, stack, stack_levels

__all__ = [
    "CVResult",
    "FoldFeatures",
    "GREATER_IS_BETTER",
    "METRICS",
    "MODELS",
    "Model",
    "PseudoRows",
    "SCHEMES",
    "cross_fit",
    "fold_blend",
    "fold_feature_frames",
    "fold_ids",
    "get_model",
    "make_folds",
    "predict_folds",
    "prediction_matrix",
    "register_model",
    "restrict_folds",
    "score_all",
    "stack",
    "stack_levels",
]
