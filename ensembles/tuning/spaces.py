"""Optuna search spaces: each model wrapper declares its own (`Model.search_space(trial) -> params`); these are the
lookups tuning uses. Ranges follow the libraries' usual tuning advice and the configs that worked on SMPD;
unit-tested with `optuna.trial.FixedTrial`. Parameters a space does not name keep the config's values."""

from __future__ import annotations

from typing import Any, Callable

from ..models import MODELS, search_spaces


def get_space(key: str) -> Callable[[Any], dict[str, Any]]:
    cls = MODELS.get(key)
    if not cls.tunable():
        raise KeyError(f"no search space for model {key!r}; models with one: {sorted(search_spaces())}")
    return cls.search_space


def params_from_trial(key: str, values: dict[str, Any]) -> dict[str, Any]:
    """Model params from a trial's stored values (e.g. `study.best_params`), replaying the space on them."""
    get_space(key)
    return MODELS.get(key).params_from_trial(values)
