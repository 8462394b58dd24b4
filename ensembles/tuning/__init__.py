"""Optuna tuning of the learners: search spaces per model key and cross-validated, prunable, resumable studies.
optuna is imported lazily, inside the functions that need it."""

from ..models import search_spaces
from .spaces import get_space, params_from_trial
from .study import OBJECTIVES, CVObjective, TuneResult, default_storage, redact, tune

__all__ = ["OBJECTIVES", "search_spaces", "CVObjective", "TuneResult", "default_storage", "get_space", "params_from_trial",
           "redact", "tune"]
