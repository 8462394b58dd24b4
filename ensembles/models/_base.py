"""The model-wrapper contract and `MODELS`, the class registry of model keys (the generic `smp.registry.Registry`
the feature generators use too).

A wrapper is one module: it declares `key`, its `defaults`, the names of its seed and thread parameters, its
Optuna search space (`search_space(trial) -> params`) and implements `_fit` / `_predict`. The base class does the
shared work once, so adding a model touches one file:

- `fit(X, y, *, X_val=None, y_val=None, sample_weight=None) -> self` checks the inputs (a non-empty DataFrame, a
  finite 1-d target of matching length, finite non-negative weights, validation columns equal to the training
  ones), calls `_fit` and records the training columns;
- `predict(X) -> ndarray` checks the columns the model was fitted with are present and passes them in that order;
- `feature_importance() -> Series` (gain per input column; empty when the model has none);
- `contributions(X) -> DataFrame`: per row, the exact additive contribution of each used column plus `base`,
  summing to `predict(X)` (TreeSHAP for trees, the weights for linear models: `explains` says which, and a model
  without one raises `NotExplainable`); `slopes()` of a linear model carry explanations through stacking.

Four parameters every model takes, handled here and never passed to a library (`BASE_PARAMS`):

- `seeds` (default 1): multi-seed bagging, n copies fitted with seeds seed, seed + 1, ... and averaged;
- `exclude`: column-name prefixes this model does not see (e.g. raw high-cardinality categories kept for CatBoost);
- `select`: feature selection fitted on the training rows only (`{method = "cumulative", share = 0.95}` or
  `{method = "null", ...}`; see `ensembles/selection.py`);
- `trend`: a linear label trend in a time column, fitted on the training rows, taken off the label the library
  sees and added back to its predictions, so that later posts get the level the line extrapolates
  (`{column = "time__days_since_start", share = 1.0}`; see `ensembles/trend.py`).

The metric a run is judged by picks each learner's objective and early-stopping metric: a wrapper lists them in
`objectives` (metric -> params) and `make_model(..., metric=...)` applies them under the config's own params.

`X` is a DataFrame whose pandas `category` columns are categorical features. Wrappers are cloned per fold, never
refitted in place. `make_model(key, params, seed=..., threads=...)` is how every caller builds one.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, ClassVar

import numpy as np
import pandas as pd

from smp.registry import Registry

from ..explain import BASE, NotExplainable


class Model:
    key: ClassVar[str] = ""
    defaults: ClassVar[dict[str, Any]] = {}
    summary: ClassVar[str] = ""  # short text for `smp models`
    seed_param: ClassVar[str | None] = None  # the library's name of its seed parameter
    threads_param: ClassVar[str | None] = None  # the library's name of its thread-count parameter
    passes_params_through: ClassVar[bool] = False  # wrappers of large libraries pass unknown params on to them
    early_stops: ClassVar[bool] = False  # uses X_val / y_val to stop early (cross_fit gives it an inner split)
    rounds_param: ClassVar[str | None] = None  # the parameter holding the number of boosting rounds / epochs
    objectives: ClassVar[dict[str, dict[str, Any]]] = {}  # run metric -> objective / early-stopping params
    explains: ClassVar[str] = ""  # how `contributions` is exact: "trees" (TreeSHAP), "linear" (weights); "": none

    def __init__(self, **params: Any) -> None:
        unknown = set(params) - set(self.defaults) - set(BASE_PARAMS)
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

    def library_params(self) -> dict[str, Any]:
        """The params the wrapped library sees: everything but `BASE_PARAMS`."""
        return {k: v for k, v in self.params.items() if k not in BASE_PARAMS}

    def with_rounds(self, rounds: int) -> "Model":
        """An unfitted copy that runs exactly `rounds` rounds (no early stopping): the refit after early stopping."""
        if self.rounds_param is None:
            raise TypeError(f"model {self.key!r} has no rounds to set")
        return type(self)(**{**copy.deepcopy(self.params), self.rounds_param: int(rounds)})

    def fitted_rounds(self) -> int | None:
        """Rounds (trees, epochs) the fitted model kept after early stopping (bagged: their mean); None: n/a."""
        members = getattr(self, "members_", None)
        if members:
            rounds = [m.fitted_rounds() for m in members]
            return int(round(np.mean(rounds))) if all(r for r in rounds) else None
        return self._fitted_rounds()

    def fit(self, X: pd.DataFrame, y, *, X_val=None, y_val=None, sample_weight=None) -> "Model":
        X, y = check_xy(self, X, y)
        w = None if sample_weight is None else check_weights(self, sample_weight, len(y))
        if (X_val is None) != (y_val is None):
            raise ValueError(f"model {self.key!r}: give both X_val and y_val, or neither")
        if X_val is not None:
            X_val, y_val = check_xy(self, X_val, y_val)
            if list(X_val.columns) != list(X.columns):
                raise ValueError(f"model {self.key!r}: X_val must have the training columns in the same order")
        trend = self.params.get("trend") or {}
        if trend:
            from ..trend import TimeTrend

            self.trend_ = TimeTrend(**trend).fit(X, y, w)
            y = y - self.trend_.predict(X)
            if X_val is not None:
                y_val = y_val - self.trend_.predict(X_val)
        cols = self._used_columns(X, y, w)
        X = X[cols]
        X_val = None if X_val is None else X_val[cols]
        self.columns_ = cols
        seeds = int(self.params.get("seeds", 1))
        if seeds > 1:  # multi-seed bagging: copies with consecutive seeds, predictions averaged
            base = self.params.get(self.seed_param, 0) if self.seed_param else 0
            self.members_ = []
            for i in range(seeds):
                params = {**self.params, "seeds": 1, "exclude": [], "select": {}, "trend": {}}
                if self.seed_param:
                    params[self.seed_param] = int(base) + i
                member = type(self)(**params)
                member.columns_ = cols
                member._fit(X, y, X_val, y_val, w)
                self.members_.append(member)
        else:
            self._fit(X, y, X_val, y_val, w)
        return self

    def _used_columns(self, X: pd.DataFrame, y: np.ndarray, w: np.ndarray | None) -> list[str]:
        """The training columns minus `exclude` prefixes, then `select` (fitted on these training rows only)."""
        exclude = tuple(self.params.get("exclude") or ())
        cols = [c for c in X.columns if not str(c).startswith(exclude)] if exclude else list(X.columns)
        if not cols:
            raise ValueError(f"model {self.key!r}: `exclude` {list(exclude)} leaves no columns")
        select = self.params.get("select") or {}
        if select:
            from ..selection import select_features

            seed = int(self.params.get(self.seed_param, 0)) if self.seed_param else 0
            cols = select_features(X[cols], y, w, seed=seed, **select)
            self.selection_ = cols
        return cols

    def _checked_inputs(self, X: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(`X` checked, its columns the model was fitted with in their order); a missing one is a KeyError."""
        X, _ = check_xy(self, X)
        missing = [c for c in self.columns_ if c not in X.columns]
        if missing:
            raise KeyError(f"model {self.key!r} was fitted with columns missing here: {missing[:5]}")
        return X, X[self.columns_]

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        X, Xc = self._checked_inputs(X)
        members = getattr(self, "members_", None)
        if members:
            pred = np.mean([np.asarray(m._predict(Xc), dtype=float).reshape(-1) for m in members], axis=0)
        else:
            pred = np.asarray(self._predict(Xc), dtype=float).reshape(-1)
        trend = getattr(self, "trend_", None)
        return pred if trend is None else pred + trend.predict(X)

    def feature_importance(self) -> pd.Series:
        """Gain importance per input column (bagged: the members' mean; empty when the model has none)."""
        members = getattr(self, "members_", None)
        if members:
            return pd.concat([m._importance() for m in members], axis=1).mean(axis=1)
        return self._importance()

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Per row of `X`, the additive contribution of each column the model uses, and `base`; they sum to
        `predict(X)` (bagged: the members' mean, as their predictions are averaged). Checked against `predict`, so a
        library whose output is not its additive score (a log link, say) is a `NotExplainable`, never a silent
        approximation."""
        if not self.explains:
            raise NotExplainable(f"model {self.key!r} ({self.summary}) has no exact additive explanation")
        X, Xc = self._checked_inputs(X)
        members = getattr(self, "members_", None) or [self]
        values = np.mean([np.asarray(m._contributions(Xc), dtype=float) for m in members], axis=0)
        trend = getattr(self, "trend_", None)
        if trend is not None:  # the line: its slope part goes to its column, its level to the base
            if trend.column not in self.columns_:
                raise NotExplainable(f"model {self.key!r}: its trend column {trend.column!r} is not one of its "
                                     "inputs, so the trend's part cannot be given to a column")
            line = trend.predict(X)
            level = trend.intercept_ - trend.slope_ * trend.center_ / trend.scale_
            values[:, self.columns_.index(trend.column)] += line - level
            values[:, -1] += level
        pred = self.predict(X)
        gap = float(np.max(np.abs(values.sum(axis=1) - pred), initial=0.0))
        if not gap <= 1e-6 * max(1.0, float(np.max(np.abs(pred), initial=0.0))):
            raise NotExplainable(f"model {self.key!r}: its contributions miss its predictions by up to {gap:.3g} "
                                 f"(the library's additive score is not the prediction with these parameters)")
        return pd.DataFrame(values, index=X.index, columns=[*self.columns_, BASE])

    def slopes(self) -> pd.Series:
        """A linear model's change of prediction per unit of each input column (bagged: the members' mean); what
        carries the contributions of input predictions through a stacker or blend."""
        if self.explains != "linear":
            raise NotExplainable(f"model {self.key!r} ({self.summary}) is not linear in its inputs, so the "
                                 "contributions of the predictions it combines cannot be carried through it exactly")
        members = getattr(self, "members_", None) or [self]
        slopes = pd.concat([m._slopes() for m in members], axis=1).mean(axis=1)
        trend = getattr(self, "trend_", None)
        if trend is not None:
            slopes[trend.column] = slopes.get(trend.column, 0.0) + trend.per_unit()
        return slopes

    # ------------------------------------------------------------------------------------------ subclasses
    def _fit(self, X: pd.DataFrame, y: np.ndarray, X_val: pd.DataFrame | None, y_val: np.ndarray | None,
             sample_weight: np.ndarray | None) -> None:
        raise NotImplementedError

    def _predict(self, X: pd.DataFrame) -> np.ndarray:
        raise NotImplementedError

    def _importance(self) -> pd.Series:
        return pd.Series(dtype=float)

    def _fitted_rounds(self) -> int | None:
        return None

    def _contributions(self, X: pd.DataFrame) -> np.ndarray:
        """(rows, columns + 1) contributions of `X[self.columns_]`, the last column the base."""
        raise NotImplementedError

    def _slopes(self) -> pd.Series:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params!r})"


# Parameters the base class handles for every model (never passed to a library): see the module docstring.
BASE_PARAMS = ("seeds", "exclude", "select", "trend")

MODELS: Registry[Model] = Registry("model", key_attr="key")


def register_model(cls: type[Model]) -> type[Model]:
    """Class decorator adding a model wrapper to `MODELS` (`smp models` lists them)."""
    return MODELS.register(cls)


def get_model(key: str, params: dict | None = None) -> Model:
    return MODELS.create(key, params)


def category_levels(X: pd.DataFrame) -> dict[str, pd.Index]:
    """The categories of each pandas `category` column of `X`: what a wrapper records at fit for
    `on_categories`."""
    return {c: X[c].cat.categories for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)}


def on_categories(X: pd.DataFrame, levels: dict[str, pd.Index]) -> pd.DataFrame:
    """`X` with each column of `levels` recast to those categories, so a value keeps its code whatever order a
    frame lists its categories in; a value the fit never saw becomes missing. For libraries that read category
    codes, not values."""
    out = X.copy()
    for c, known in levels.items():
        values = out[c].astype(object)
        out[c] = pd.Categorical(values.where(values.isin(known)), categories=known)
    return out


def make_model(key: str, params: dict | None = None, *, seed: int | None = None, threads: int | None = None,
               metric: str | None = None) -> Model:
    """The model `key` with `params`; `seed` and `threads` fill the library's seed / thread parameters unless
    `params` sets them (each library names them differently: the wrapper's `seed_param` / `threads_param`), and
    `metric` the objective and early-stopping metric the wrapper declares for it (`objectives`), under `params`."""
    cls = MODELS.get(key)
    params = {**(cls.objectives.get(metric, {}) if metric else {}), **dict(params or {})}
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
