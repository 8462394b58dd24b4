"""Optuna search spaces, one plain function per model key: `space(trial) -> params`.

Ranges follow the libraries' usual tuning advice and the configs that worked on SMPD; unit-tested with
`optuna.trial.FixedTrial`. Parameters a space does not name keep the config's values.
"""

from __future__ import annotations

from typing import Any, Callable

HIDDEN = {"256-128-64": [256, 128, 64], "128-64": [128, 64], "512-256-128": [512, 256, 128], "64-32": [64, 32]}


def space_lgbm(trial) -> dict[str, Any]:
    return {
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.2, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 7, 255, log=True),
        "min_child_samples": trial.suggest_int("min_child_samples", 5, 100, log=True),
        "feature_fraction": trial.suggest_float("feature_fraction", 0.4, 1.0),
        "bagging_fraction": trial.suggest_float("bagging_fraction", 0.5, 1.0),
        "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 30.0, log=True),
    }


def space_catboost(trial) -> dict[str, Any]:
    return {
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.2, log=True),
        "depth": trial.suggest_int("depth", 3, 8),
        "l2_leaf_reg": trial.suggest_float("l2_leaf_reg", 0.5, 30.0, log=True),
        "random_strength": trial.suggest_float("random_strength", 0.1, 10.0, log=True),
        "bagging_temperature": trial.suggest_float("bagging_temperature", 0.0, 1.0),
    }


def space_tabnet(trial) -> dict[str, Any]:
    width = trial.suggest_categorical("n_d", [8, 16, 32])
    return {
        "n_d": width,
        "n_a": width,  # the TabNet paper ties n_a to n_d
        "n_steps": trial.suggest_int("n_steps", 2, 6),
        "gamma": trial.suggest_float("gamma", 1.0, 2.0),
        "lambda_sparse": trial.suggest_float("lambda_sparse", 1e-6, 1e-2, log=True),
        "learning_rate": trial.suggest_float("learning_rate", 5e-3, 5e-2, log=True),
    }


def space_mlp(trial) -> dict[str, Any]:
    return {
        "hidden": HIDDEN[trial.suggest_categorical("hidden", list(HIDDEN))],
        "dropout": trial.suggest_float("dropout", 0.0, 0.5),
        "learning_rate": trial.suggest_float("learning_rate", 3e-4, 3e-3, log=True),
        "weight_decay": trial.suggest_float("weight_decay", 1e-6, 1e-3, log=True),
        "huber_delta": trial.suggest_float("huber_delta", 0.3, 3.0, log=True),
        "cls_weight": trial.suggest_float("cls_weight", 0.0, 1.0),
    }


def space_ridge(trial) -> dict[str, Any]:
    return {"alpha": trial.suggest_float("alpha", 1e-3, 1e3, log=True)}


SPACES: dict[str, Callable[[Any], dict[str, Any]]] = {
    "lgbm": space_lgbm,
    "catboost": space_catboost,
    "tabnet": space_tabnet,
    "mlp": space_mlp,
    "ridge": space_ridge,
}


def params_from_trial(key: str, values: dict[str, Any]) -> dict[str, Any]:
    """Model params from a trial's stored values (e.g. `study.best_params`), replaying the space on them."""
    import optuna

    return get_space(key)(optuna.trial.FixedTrial(values))


def get_space(key: str) -> Callable[[Any], dict[str, Any]]:
    if key not in SPACES:
        raise KeyError(f"no search space for model {key!r}; models with one: {sorted(SPACES)}")
    return SPACES[key]
