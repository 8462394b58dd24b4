"""What the neural learners (TabNet, MLP) share: input encoding fitted on the training fold, device choice,
seeding, and pickling of fitted torch state.

Trees take raw columns; networks need numbers on one scale. `TabularEncoder` is fitted on the training part of
a fold only (medians, means, standard deviations, category levels), so validation and test rows are encoded
with statistics they did not contribute to. torch is imported lazily: the registry must load without it.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd


def require_torch():
    try:
        import torch
    except ImportError as e:  # pragma: no cover - torch is a declared dependency
        raise ImportError("the neural learners (tabnet, mlp) need PyTorch: install torch (see the Makefile pin)") from e
    return torch


def resolve_device(device: str) -> str:
    """`auto` picks CUDA when present, else CPU; anything else is passed through to torch."""
    torch = require_torch()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} asked for, but CUDA is not available; use device='auto' or 'cpu'")
    return device


@contextlib.contextmanager
def deterministic(seed: int):
    """Seed torch and switch on deterministic kernels for the block, restoring the previous mode after.

    NumPy's global generator is left alone and torch's is forked (restored after the block), so fitting a model
    never changes the random state of the caller."""
    torch = require_torch()
    was = torch.are_deterministic_algorithms_enabled()
    with torch.random.fork_rng(devices=list(range(torch.cuda.device_count()))):
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True, warn_only=True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(was)


@dataclass
class TabularEncoder:
    """Numeric columns: median imputation then standardisation (missing indicators where the training part had
    NaN). Category columns: integer codes shifted by one, 0 = missing or a level the training part never saw."""

    numeric: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    median_: dict = field(default_factory=dict)
    mean_: dict = field(default_factory=dict)
    std_: dict = field(default_factory=dict)
    with_nan_: list[str] = field(default_factory=list)
    levels_: dict = field(default_factory=dict)

    @classmethod
    def fit(cls, X: pd.DataFrame, *, indicators: bool = True) -> "TabularEncoder":
        # As for every learner, pandas `category` columns are the categorical features; anything else must be numeric.
        cats = [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)]
        nums = [c for c in X.columns if c not in cats]
        enc = cls(numeric=nums, categorical=cats)
        for c in nums:
            v = _as_float(X[c], c)
            med = float(np.nanmedian(v)) if np.isfinite(v).any() else 0.0
            v = np.where(np.isfinite(v), v, med)
            enc.median_[c], enc.mean_[c] = med, float(v.mean())
            sd = float(v.std())
            enc.std_[c] = sd if sd > 1e-12 else 1.0
            if indicators and not np.isfinite(_as_float(X[c], c)).all():
                enc.with_nan_.append(c)
        for c in cats:
            enc.levels_[c] = list(pd.unique(X[c].dropna()))
        return enc

    def numeric_matrix(self, X: pd.DataFrame, columns: list[str] | None = None) -> np.ndarray:
        cols = self.numeric if columns is None else columns
        out = np.empty((len(X), len(cols) + (len(self.with_nan_) if columns is None else 0)), dtype=np.float32)
        for j, c in enumerate(cols):
            v = _as_float(X[c], c)
            v = np.where(np.isfinite(v), v, self.median_[c])
            out[:, j] = (v - self.mean_[c]) / self.std_[c]
        if columns is None:
            for j, c in enumerate(self.with_nan_):
                out[:, len(cols) + j] = ~np.isfinite(_as_float(X[c], c))
        return out

    def category_codes(self, X: pd.DataFrame) -> np.ndarray:
        out = np.zeros((len(X), len(self.categorical)), dtype=np.int64)
        for j, c in enumerate(self.categorical):
            lookup = {v: i + 1 for i, v in enumerate(self.levels_[c])}
            out[:, j] = X[c].astype(object).map(lookup).fillna(0).to_numpy(dtype=np.int64)
        return out

    def cardinalities(self) -> list[int]:
        return [len(self.levels_[c]) + 1 for c in self.categorical]


def _as_float(s: pd.Series, name: str) -> np.ndarray:
    try:
        return pd.to_numeric(s, errors="raise").to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError) as e:
        bad = s[pd.to_numeric(s, errors="coerce").isna() & s.notna()]
        raise ValueError(f"column {name!r} must be numeric or a pandas category, got value {bad.iloc[0]!r}") from e
