"""Cross-fitting, fold runners (`engine`: where fold fits run), model wrappers, stacking and metrics. Imports
nothing else of ours."""

from ._cv import CVResult, FoldFeatures, PseudoRows, Stopping, cross_fit, fold_feature_frames
from .folds import (HOLDOUT_OF, SCHEMES, STOPPING, fold_ids, fold_matrix, inner_scheme, latest_fold, make_folds,
                    stop_rows)
from .explain import BASE, NotExplainable, affine, carry, mean_frames
from .foldcache import FoldCache
from .engine import ENGINES, Engine, LocalEngine, RayEngine, get_engine, make_engine
from .metrics import GREATER_IS_BETTER, METRICS, better, score_all
from .models import MODELS, Model, get_model, make_model, register_model, search_spaces
from .stacking import (StackModel, StackPredictions, fold_blend, level_matrix, predict_stack, restrict_folds,
                       scored_on_folds, stack, stack_levels)

__all__ = [
    "BASE",
    "CVResult",
    "NotExplainable",
    "affine",
    "carry",
    "mean_frames",
    "ENGINES",
    "Engine",
    "LocalEngine",
    "RayEngine",
    "get_engine",
    "make_engine",
    "make_model",
    "search_spaces",
    "FoldCache",
    "FoldFeatures",
    "GREATER_IS_BETTER",
    "HOLDOUT_OF",
    "METRICS",
    "MODELS",
    "Model",
    "PseudoRows",
    "SCHEMES",
    "STOPPING",
    "Stopping",
    "better",
    "stop_rows",
    "cross_fit",
    "fold_blend",
    "fold_feature_frames",
    "fold_ids",
    "get_model",
    "inner_scheme",
    "latest_fold",
    "make_folds",
    "fold_matrix",
    "level_matrix",
    "predict_stack",
    "StackModel",
    "StackPredictions",
    "register_model",
    "restrict_folds",
    "score_all",
    "scored_on_folds",
    "stack",
    "stack_levels",
]
