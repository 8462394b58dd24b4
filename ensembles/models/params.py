"""Check a learner's params against what its library accepts, before any data is loaded.

Without this, a misspelt LightGBM key (`num_leafs`) is silently ignored, and a bad value (`num_leaves = -7`,
`learning_rate = "fast"`) is a LightGBM fatal error and a traceback after every feature is built. The accepted
names come from the libraries themselves: LightGBM's parameter/alias table (`lightgbm.basic._ConfigAliases`), the
signature of `CatBoostRegressor.__init__`, and for our own learners the `defaults` each wrapper declares. Values are
checked by the library's own parser on the params alone (LightGBM `Config::Set`, CatBoost's option parser), so the
rules are exactly the library's.
"""

from __future__ import annotations

import contextlib
import copy
import ctypes
import difflib
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from ._base import BASE_PARAMS, MODELS, Model


class ParamError(ValueError):
    """A learner parameter the library (or the wrapper) does not accept; the message names where, key and value."""


def check_params(key: str, params: Mapping[str, Any], where: str) -> None:
    """Raise `ParamError` when `params` of model `key` hold a name or value its library does not accept.

    `where` names the config entry in the message (for example `cfg.toml [[models]][0] (lgbm)`).
    """
    if key not in MODELS:
        raise ParamError(f"{where}: unknown model {key!r}; valid keys: {sorted(MODELS)}")
    if not isinstance(params, Mapping):
        raise ParamError(f"{where}: params must be a table, got {params!r}")
    cls = MODELS.get(key)
    for name in params:
        if not isinstance(name, str):
            raise ParamError(f"{where}: parameter names must be strings, got {name!r}")
    _check_base(params, where)
    _CHECKS.get(key, _check_declared)(cls, {k: v for k, v in params.items() if k not in BASE_PARAMS}, where)


def _check_base(params: Mapping[str, Any], where: str) -> None:
    """The parameters every model takes (`BASE_PARAMS`: bagging seeds, excluded prefixes, selection, trend)."""
    from ..selection import METHODS

    if "seeds" in params:
        _wrapper_int(where, "seeds", params["seeds"], 1)
    ex = params.get("exclude", [])
    if isinstance(ex, str) or not isinstance(ex, list) or not all(isinstance(e, str) for e in ex):
        raise ParamError(f"{where}: exclude must be an array of column-name prefixes, got {ex!r} ({_kind(ex)})")
    sel = params.get("select", {})
    if not isinstance(sel, Mapping) or (sel and sel.get("method") not in METHODS):
        raise ParamError(f"{where}: select must be a table with method = one of {METHODS}, got {sel!r}")
    bad = sorted(set(sel) - {"method", "share", "quantile", "null_runs", "rounds", "min_features"})
    if bad:
        raise ParamError(f"{where}: select: unknown key {bad[0]!r}; valid: method, share, quantile, null_runs, "
                         "rounds, min_features")
    _check_trend(params.get("trend", {}), where)


def _check_trend(trend: Any, where: str) -> None:
    from ..trend import TREND_KEYS

    if not isinstance(trend, Mapping):
        raise ParamError(f"{where}: trend must be a table such as {{column = \"time__days_since_start\"}}, got "
                         f"{trend!r} ({_kind(trend)})")
    bad = sorted(set(trend) - set(TREND_KEYS))
    if bad:
        raise ParamError(f"{where}: trend: unknown key {bad[0]!r}; valid: {', '.join(TREND_KEYS)}")
    if "column" in trend and not isinstance(trend["column"], str):
        raise ParamError(f"{where}: trend.column must be a column name, got {trend['column']!r}")
    share = trend.get("share", 1.0)
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share <= 1:
        raise ParamError(f"{where}: trend.share must be a number in (0, 1], got {share!r}")


def _close(name: str, valid: list[str]) -> str:
    near = difflib.get_close_matches(name, valid, n=4, cutoff=0.6)
    return f"close: {', '.join(near)}" if near else f"valid: {', '.join(sorted(valid))}"


def _kind(value: Any) -> str:
    for tp, word in ((bool, "a boolean"), (int, "an integer"), (float, "a float"), (str, "a string"),
                     (list, "an array"), (dict, "a table")):
        if isinstance(value, tp):
            return word
    return type(value).__name__


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _wrapper_int(where: str, name: str, value: Any, low: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ParamError(f"{where}: {name} must be an integer >= {low}, got {value!r} ({_kind(value)})")


# --------------------------------------------------------------------------------------------- our own learners
def _check_declared(cls: type[Model], params: dict[str, Any], where: str) -> None:
    """Learners whose `defaults` list every parameter: known names, and values of the default's kind."""
    valid = sorted(cls.defaults)
    for name, value in params.items():
        if not valid:
            raise ParamError(f"{where}: model {cls.key!r} takes no parameters, got {name!r}")
        if name not in cls.defaults:
            raise ParamError(f"{where}: unknown parameter {name!r} for model {cls.key!r}; {_close(name, valid)}")
        default = cls.defaults[name]
        problem = _kind_problem(value, default)
        if problem:
            raise ParamError(f"{where}: {name} must be {problem}, got {value!r} ({_kind(value)})")


def _kind_problem(value: Any, default: Any) -> str | None:
    """What `value` should be, judged by the default's kind; None when it fits."""
    if isinstance(default, bool):
        return None if isinstance(value, bool) else "a boolean (true or false)"
    if _is_number(default):
        if not _is_number(value):
            return "a number"
        if not math.isfinite(value):
            return "a finite number"
        if isinstance(default, int) and not isinstance(value, int):
            return "an integer"
        return None
    if isinstance(default, str):
        # A switch like "auto" also takes true / false (the mlp's co_attention, emotion).
        ok = isinstance(value, str) or (default == "auto" and isinstance(value, bool))
        return None if ok else "a string"
    if isinstance(default, list):
        return None if isinstance(value, list) else "an array"
    return None


# ------------------------------------------------------------------------------------------------ both boosters
# Rules on what a parameter means, the same for both boosters, checked before each library's own parser: that parser
# leaves gaps (CatBoost takes learning_rate = -0.1 and fits a model that ranks posts backwards; LightGBM takes an
# infinite learning rate). Meaning -> (each library's canonical name, rule, test).
BOOSTER_RULES: dict[str, tuple[dict[str, str], str, Callable[[float], bool]]] = {
    "learning rate": ({"lgbm": "learning_rate", "catboost": "learning_rate"}, "a finite number > 0",
                      lambda v: math.isfinite(v) and v > 0),
    "L2 regularisation": ({"lgbm": "lambda_l2", "catboost": "l2_leaf_reg"}, "a finite number >= 0",
                          lambda v: math.isfinite(v) and v >= 0),
    "tree depth": ({"catboost": "depth"}, "an integer >= 1", lambda v: v >= 1 and float(v).is_integer()),
    "random strength": ({"catboost": "random_strength"}, "a finite number >= 0", lambda v: math.isfinite(v) and v >= 0),
}
CATBOOST_ALIASES = {"eta": "learning_rate", "reg_lambda": "l2_leaf_reg", "max_depth": "depth"}


def check_booster_rules(library: str, params: Mapping[str, Any], canonical: Callable[[str], str], where: str) -> None:
    """Raise `ParamError` for a number that breaks a rule of `BOOSTER_RULES` for `library` ("lgbm" / "catboost");
    `canonical` maps a parameter name (or alias) to the library's canonical one. Non-numbers are left to the
    library's parser, which names their type."""
    for name, value in params.items():
        if not _is_number(value):
            continue
        for meaning, (names, rule, ok) in BOOSTER_RULES.items():
            if names.get(library) == canonical(name) and not ok(value):
                raise ParamError(f"{where}: {name} ({meaning}) must be {rule}, got {value!r}")


# --------------------------------------------------------------------------------------------------- LightGBM
# Keys the lgbm wrapper reads itself (popped before LightGBM sees the params) or always sets.
LGBM_WRAPPER_KEYS = {"n_estimators": 1, "early_stopping_rounds": 0}  # name -> minimum
LGBM_SET_BY_WRAPPER = ("verbosity", "deterministic", "force_row_wise")


def lightgbm_aliases() -> dict[str, str]:
    """Every name LightGBM accepts -> its canonical parameter name, from LightGBM's own table."""
    from lightgbm.basic import _ConfigAliases

    table = _ConfigAliases._get_all_param_aliases()
    return {alias: canonical for canonical, aliases in table.items() for alias in (canonical, *aliases)}


def _check_lgbm(cls: type[Model], params: dict[str, Any], where: str) -> None:
    aliases = lightgbm_aliases()
    wrapper_canonical = {aliases[k]: k for k in LGBM_WRAPPER_KEYS}
    fixed = {aliases[k] for k in LGBM_SET_BY_WRAPPER}
    for name, value in params.items():
        if name in LGBM_WRAPPER_KEYS:
            _wrapper_int(where, name, value, LGBM_WRAPPER_KEYS[name])
            continue
        if name not in aliases:
            raise ParamError(f"{where}: unknown LightGBM parameter {name!r}; {_close(name, sorted(aliases))}")
        canonical = aliases[name]
        if canonical in wrapper_canonical:
            raise ParamError(f"{where}: {name!r} is LightGBM's name for the wrapper's "
                             f"{wrapper_canonical[canonical]!r}; set {wrapper_canonical[canonical]!r} instead")
        if canonical in fixed:
            raise ParamError(f"{where}: {name!r} is set by the lgbm wrapper itself (verbosity=-1, "
                             "deterministic=true, force_row_wise=true: reproducible trees); remove it")
    check_booster_rules("lgbm", {k: v for k, v in params.items() if k not in LGBM_WRAPPER_KEYS},
                        lambda n: aliases.get(n, n), where)
    merged = {**cls.defaults, **params}
    by_canonical: dict[str, list[str]] = {}
    for name in merged:
        if name not in LGBM_WRAPPER_KEYS:
            by_canonical.setdefault(aliases[name], []).append(name)
    for canonical, names in by_canonical.items():
        if len(names) > 1:
            defaulted = [n for n in names if n not in params]
            if defaulted:
                user = next(n for n in names if n in params)
                raise ParamError(f"{where}: {user!r} and the lgbm default {defaulted[0]!r} are one LightGBM "
                                 f"parameter ({canonical!r}); set {defaulted[0]!r} instead")
            raise ParamError(f"{where}: {' and '.join(map(repr, names))} all name LightGBM's {canonical!r}; "
                             "set it once")
    lib = {k: v for k, v in merged.items() if k not in LGBM_WRAPPER_KEYS}
    error = _lightgbm_rejects(lib)
    if error is None:
        return
    culprit = next((k for k in params if k in lib and _lightgbm_rejects({k: lib[k]}) is not None), None)
    if culprit is None:
        raise ParamError(f"{where}: LightGBM rejects these params: {error}")
    raise ParamError(f"{where}: LightGBM rejects {culprit} = {params[culprit]!r}: "
                     f"{_lightgbm_rejects({culprit: lib[culprit]})}")


def _lightgbm_rejects(params: dict[str, Any]) -> str | None:
    """LightGBM's own verdict on `params` without data: its config parser (value types and ranges, through the
    C API's `LGBM_GetSampleCount`, which parses a full config) plus, for an objective, a booster on four rows."""
    import lightgbm as lgb
    from lightgbm.basic import LightGBMError, _LIB, _c_str, _param_dict_to_str, _safe_call

    for name, value in params.items():
        if isinstance(value, (dict, type(None))):
            return f"{name} = {value!r} is not a LightGBM value (a number, string, boolean or array)"
    quiet = {**params, "verbosity": -1}
    out = ctypes.c_int(0)
    try:
        with _silenced_stderr():  # LightGBM's C++ side prints each fatal message to stderr before raising it
            _safe_call(_LIB.LGBM_GetSampleCount(ctypes.c_int32(4), _c_str(_param_dict_to_str(quiet)),
                                                ctypes.byref(out)))
            objective = {k: v for k, v in quiet.items() if lightgbm_aliases().get(k) in ("objective", "num_class")}
            if objective:
                import numpy as np

                X = np.arange(8, dtype=float).reshape(4, 2)
                lgb.Booster({**objective, "verbosity": -1},
                            lgb.Dataset(X, np.array([0.1, 0.4, 0.6, 0.9]), params={"verbosity": -1}))
    except LightGBMError as e:
        return _clean_lightgbm(str(e))
    return None


@contextlib.contextmanager
def _silenced_stderr():
    """Point file descriptor 2 at /dev/null for the block (a C library's prints bypass `sys.stderr`)."""
    import os
    import sys

    with contextlib.suppress(AttributeError, ValueError):
        sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _clean_lightgbm(message: str) -> str:
    """LightGBM's message without its source location; its parser's "Unknown token X" means a non-number."""
    message = re.sub(r"\s+at \S+, line \d+\s*\.?", "", message).strip()
    token = re.fullmatch(r"Unknown token (.*) in data file", message)
    if token:
        return f"expected a number, got {token.group(1)!r}"
    check = re.fullmatch(r"Check failed: \((\w+)\) (\S+) \((.+)\)", message)
    if check:
        return f"{check.group(1)} must be {check.group(2)} {check.group(3)}"
    return message


# --------------------------------------------------------------------------------------------------- CatBoost
CATBOOST_WRAPPER_KEYS = {"early_stopping_rounds": 0}
CATBOOST_SET_BY_WRAPPER = {
    "verbose": "verbose=False", "verbose_eval": "verbose=False", "silent": "verbose=False",
    "logging_level": "verbose=False", "allow_writing_files": "allow_writing_files=False",
    "use_best_model": "use_best_model when a validation part is given",
    "od_type": "early_stopping_rounds", "od_wait": "early_stopping_rounds",
    "cat_features": "the DataFrame's category columns",
}


def catboost_params() -> list[str]:
    """The parameter names `CatBoostRegressor` accepts, from its signature."""
    import inspect

    from catboost import CatBoostRegressor

    return [n for n in inspect.signature(CatBoostRegressor.__init__).parameters if n not in ("self", "kwargs")]


def _check_catboost(cls: type[Model], params: dict[str, Any], where: str) -> None:
    valid = catboost_params()
    for name, value in params.items():
        if name in CATBOOST_WRAPPER_KEYS:
            _wrapper_int(where, name, value, CATBOOST_WRAPPER_KEYS[name])
            continue
        if name in CATBOOST_SET_BY_WRAPPER:
            raise ParamError(f"{where}: {name!r} is set by the catboost wrapper ({CATBOOST_SET_BY_WRAPPER[name]}); "
                             "remove it")
        if name not in valid:
            raise ParamError(f"{where}: unknown CatBoost parameter {name!r}; {_close(name, valid)}")
    check_booster_rules("catboost", params, lambda n: CATBOOST_ALIASES.get(n, n), where)
    merged = {k: v for k, v in {**cls.defaults, **params}.items() if k not in CATBOOST_WRAPPER_KEYS}
    error = _catboost_rejects(merged)
    if error is None:
        return
    culprit = next((k for k in params if k in merged and _catboost_rejects({k: merged[k]}) is not None), None)
    if culprit is None:
        raise ParamError(f"{where}: CatBoost rejects these params: {error} (the catboost wrapper's defaults set "
                         f"{', '.join(sorted(cls.defaults))})")
    raise ParamError(f"{where}: CatBoost rejects {culprit} = {params[culprit]!r}: {_catboost_rejects({culprit: merged[culprit]})}")


def _catboost_rejects(params: dict[str, Any]) -> str | None:
    """CatBoost's own option parser on `params` (the checks `fit` runs first), without data."""
    import catboost.core as core
    from catboost import CatBoostError, CatBoostRegressor

    steps: list[Callable[[dict], Any]] = [
        getattr(core, n) for n in ("_check_param_types", "_params_type_cast", "_check_train_params") if hasattr(core, n)
    ]
    try:
        p = copy.deepcopy(CatBoostRegressor(**params)._get_canonized_params())
        for step in steps:
            p = step(p) or p
    except (CatBoostError, TypeError, ValueError) as e:
        return re.sub(r"^\S+\.(cpp|h):\d+:\s*", "", str(e)).strip()
    return None


_CHECKS: dict[str, Callable[[type[Model], dict[str, Any], str], None]] = {
    "lgbm": _check_lgbm,
    "catboost": _check_catboost,
}
