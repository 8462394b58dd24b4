"""Per-modality model predictions as features [oof_model] ("stacking features", the 2023 image-track winner).

For each *modality* (a list of column prefixes: the text-embedding block, the user-count features, ...) a small
model sees only that modality's numeric columns and predicts the label; its prediction is a feature of the main
learners, which then weigh one modality's summary against the other columns. Label-using: `fit_transform` gives
the rows it is fitted on the predictions of models fitted on the other inner folds (out of fold), `transform` uses
a model fitted on every fitted row. The models are LightGBM or a ridge regression, fitted with the libraries
directly (`features` does not import `ensembles`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._base import TargetGenerator, register
from ._common import frame_of, param_requires
from ._inputs import FeatureInputs, check_groups, float_matrix, group_columns, group_prefixes

DEFAULT_MODALITIES = {"text": ["sentence__"], "user": ["user_profile__"]}
MODELS = ("lgbm", "ridge")
# Small, fixed-round models: each is fitted (inner folds + 1) times per outer fold, and early stopping on the rows
# it predicts would leak their labels into its own feature.
DEFAULTS = {
    "lgbm": {"n_estimators": 200, "learning_rate": 0.05, "num_leaves": 15, "min_child_samples": 20,
             "subsample": 0.8, "subsample_freq": 1, "colsample_bytree": 0.8, "objective": "regression"},
    "ridge": {"alpha": 10.0},
}


class _RidgeModel:
    """Mean imputation, standardisation and a ridge regression, all fitted on the same rows."""

    def __init__(self, alpha: float) -> None:
        self.alpha = alpha

    def fit(self, M: np.ndarray, y: np.ndarray) -> "_RidgeModel":
        from sklearn.linear_model import Ridge

        with np.errstate(invalid="ignore"):
            mean = np.nanmean(M, axis=0) if len(M) else np.zeros(M.shape[1])
            std = np.nanstd(M, axis=0) if len(M) else np.ones(M.shape[1])
        self.mean_ = np.nan_to_num(mean)
        self.std_ = np.where(np.isfinite(std) & (std > 1e-12), std, 1.0)
        self.ridge_ = Ridge(alpha=float(self.alpha)).fit(self._scale(M), y)
        return self

    def _scale(self, M: np.ndarray) -> np.ndarray:
        return np.nan_to_num((M - self.mean_) / self.std_, nan=0.0)

    def predict(self, M: np.ndarray) -> np.ndarray:
        return self.ridge_.predict(self._scale(M))


@register
class OofModel(FeatureInputs, TargetGenerator):
    """One out-of-fold prediction per modality, `oof_model__{modality}`, from LightGBM or ridge; see module doc.

    `params` override the model's defaults (`DEFAULTS`); rows with no value in a modality get a missing value.
    """

    name = "oof_model"
    group = "oof_model"
    requires_prefix = param_requires(lambda g: group_prefixes(g.modalities, DEFAULT_MODALITIES))
    version = 1

    def __init__(
        self,
        *,
        modalities: dict[str, list[str]] | None = None,
        model: str = "lgbm",
        params: dict | None = None,
        inner_folds: int = 5,
        seed: int = 0,
    ) -> None:
        self.modalities = modalities if modalities is not None else {k: list(v) for k, v in DEFAULT_MODALITIES.items()}
        self.model = model
        self.params = params if params is not None else {}
        self.inner_folds = inner_folds
        self.seed = seed

    def _check(self) -> dict:
        check_groups(self.name, "modalities", self.modalities)
        if self.model not in MODELS:
            raise ValueError(f"oof_model: model must be one of {MODELS}, got {self.model!r}")
        if not isinstance(self.params, dict):
            raise ValueError(f"oof_model: `params` must be a table of model parameters, got {self.params!r}")
        if self.model == "ridge":
            unknown = sorted(set(self.params) - set(DEFAULTS["ridge"]))
            if unknown:
                raise ValueError(f"oof_model: the ridge model takes only {sorted(DEFAULTS['ridge'])}, got {unknown}")
        return {**DEFAULTS[self.model], **self.params}

    def _new_model(self, params: dict):
        if self.model == "ridge":
            return _RidgeModel(params["alpha"])
        import lightgbm as lgb

        # One thread and deterministic histograms: the same rows give the same feature on every machine.
        return lgb.LGBMRegressor(**params, random_state=int(self.seed), n_jobs=1, deterministic=True,
                                 force_row_wise=True, verbose=-1)

    def _fit(self, X: pd.DataFrame, y: pd.Series | None) -> None:
        params = self._check()
        self.columns_: dict[str, list[str]] = {}
        self.models_: dict[str, object] = {}
        target = y.to_numpy(dtype=float)
        for mod, prefixes in self.modalities.items():
            cols = sorted({c for block in group_columns(self.name, X, mod, prefixes) for c in block})
            M = float_matrix(X, cols)
            self.columns_[mod] = cols
            self.models_[mod] = self._new_model(params).fit(M, target) if len(M) else None
        self.inputs_ = sorted({c for cols in self.columns_.values() for c in cols})

    def _transform(self, X: pd.DataFrame) -> pd.DataFrame:
        out: dict[str, np.ndarray] = {}
        for mod, cols in self.columns_.items():
            M = float_matrix(X, cols)
            ok = np.isfinite(M).any(axis=1) if len(M) else np.zeros(0, dtype=bool)
            pred = np.full(len(M), np.nan)
            model = self.models_[mod]
            if model is not None and ok.any():
                pred[ok] = model.predict(M[ok])
            out[mod] = pred
        return frame_of(X.index, self.name, out)
