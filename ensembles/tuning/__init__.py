"""Optuna tuning of the learners: search spaces per model key and cross-validated, prunable, resumable studies.
optuna is imported lazily, inside the functions that need it."""

from ..models import search_spaces
from .spaces import get_space, params_from_trial
from .study import (
    OBJECTIVES, CVObjective, Heartbeat, TuneResult, dashboard_command, default_storage, finished_per_worker, redact,
    tune,
)

__all__ = ["OBJECTIVES", "CVObjective", "Heartbeat", "TuneResult", "dashboard_command", "default_storage",
           "finished_per_worker", "get_space", "params_from_trial", "redact", "search_spaces", "tune"]
