"""RealMLP (pytabkit's RealMLP-TD, Holzmüller et al. 2024): a tabular network with tuned defaults, trained from
scratch, no downloaded weights; a level-1 learner whose errors differ from the boosters'.

Its own preprocessing reads the frame: pandas categories become one-hot columns (up to `max_one_hot_cat_size`
values) or learned embeddings, numbers are robust-scaled and smoothly clipped, then get periodic embeddings. It
does not impute, so missing numbers take the training median here first. Given a validation part it keeps the
epoch with the best `val_metric_name` on it (its learning-rate schedule spans all `n_epochs`, so there are no
rounds to refit with: under `early_stopping = "refit"` it keeps the model fitted on the stopping split).

pytabkit takes no sample weights, so weights become copies: each training row appears about `weight * n / sum of
weights` times (systematic resampling: the integer part always, the remainder by a seeded draw). Equal weights
give every row exactly once; recency weights make newer posts count more, as they do for the boosters.
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import pandas as pd

from ._base import Model, category_levels, on_categories, register_model
from ._neural import _as_float, deterministic, resolve_device


def require_pytabkit():
    try:
        from pytabkit import RealMLP_TD_Regressor
    except ImportError as e:  # pragma: no cover - pytabkit is a dependency of the project
        raise ImportError("model 'realmlp' needs pytabkit (`pip install pytabkit`)") from e
    return RealMLP_TD_Regressor


def weighted_copies(weights, seed: int) -> np.ndarray:
    """Row indices, each row repeated in proportion to its weight, as many rows in all as there are weights:
    systematic resampling (one seeded offset, then evenly spaced draws on the cumulative weights)."""
    w = np.asarray(weights, dtype=float)
    if not np.any(w > 0):
        raise ValueError("model 'realmlp': every sample weight is zero")
    edges = np.cumsum(w / w.sum()) * len(w)
    points = np.random.default_rng(seed).random() + np.arange(len(w))
    return np.minimum(np.searchsorted(edges, points, side="right"), len(w) - 1)


@contextlib.contextmanager
def quiet():
    """pytorch-lightning, which pytabkit trains and predicts with, warns about torch's pytree API on every call, and
    pytabkit wraps a read-only label array (it never writes to it) and scripts its layers with `torch.jit`: noise in a
    run's log."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*LeafSpec.*")
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated")
        yield


@register_model
class RealMLPModel(Model):
    key = "realmlp"
    summary = "pytabkit RealMLP-TD (tuned-default tabular MLP, periodic numeric embeddings): diversity for the stack"
    seed_param = "random_state"
    threads_param = "n_threads"
    early_stops = True
    # The run metric picks the epoch kept on the stopping rows (RealMLP trains on squared error).
    objectives = {"src": {"val_metric_name": "rmse"}, "mse": {"val_metric_name": "rmse"},
                  "mae": {"val_metric_name": "mae"}, "mape": {"val_metric_name": "mae"},
                  "smp": {"val_metric_name": "mae"}}
    passes_params_through = True  # any other RealMLP parameter (`lr`, `hidden_sizes`, `p_drop`, ...) goes to pytabkit
    # RealMLP-TD's own regression defaults hold for everything not named here (pytabkit's `DefaultParams`)
    defaults = {
        "n_epochs": 256,
        "val_metric_name": "rmse",
        "random_state": 0,
        "n_threads": None,  # None: pytabkit's default, every physical core (folds fitted in parallel get a share)
        "device": "auto",
    }

    @staticmethod
    def search_space(trial):
        return {"lr": trial.suggest_float("lr", 0.05, 0.4, log=True),
                "p_drop": trial.suggest_float("p_drop", 0.0, 0.3),
                "n_epochs": trial.suggest_int("n_epochs", 64, 256, log=True)}

    def _numbers(self, X: pd.DataFrame) -> pd.DataFrame:
        """The columns that are not categories, as float; a value that is not a number is an error naming its
        column, as for the other neural learners (`_neural._as_float`)."""
        return pd.DataFrame({c: _as_float(X[c], c) for c in X.columns if c not in self.categories_}, index=X.index)

    def _frame(self, X: pd.DataFrame) -> pd.DataFrame:
        """Numbers as float with the training medians in their gaps; categories kept (unseen ones as missing)."""
        out = on_categories(X, self.categories_)
        numbers = self._numbers(X)
        out[numbers.columns] = numbers.fillna(self.median_)
        return out

    def _fit(self, X, y, X_val, y_val, sample_weight):
        with quiet():  # pytabkit scripts some of its layers with torch.jit when first imported
            Regressor = require_pytabkit()
        if sample_weight is not None:
            rows = weighted_copies(sample_weight, int(self.params["random_state"]))
            X, y = X.iloc[rows], np.asarray(y)[rows]
        p = self.library_params()
        self.categories_ = category_levels(X)
        cats = list(self.categories_)
        self.median_ = self._numbers(X).median().fillna(0.0)
        seed = int(p.pop("random_state"))
        if p.get("n_threads") is None:
            p.pop("n_threads", None)
        p["device"] = resolve_device(p.pop("device"))
        self.model_ = Regressor(random_state=seed, verbosity=0, **p)
        with deterministic(seed), quiet():
            if X_val is None:  # no stopping rows: train all epochs on every row (pytabkit's val split switched off)
                self.model_.set_params(use_early_stopping=False, val_fraction=0.0)
                self.model_.fit(self._frame(X), np.asarray(y, dtype=float), cat_col_names=cats)
            else:
                self.model_.fit(self._frame(X), np.asarray(y, dtype=float), X_val=self._frame(X_val),
                                y_val=np.asarray(y_val, dtype=float), cat_col_names=cats)

    def _predict(self, X):
        with quiet():
            return np.asarray(self.model_.predict(self._frame(X)), dtype=float).reshape(-1)
