"""TabNet (pytorch-tabnet) regressor: sequential attention over the features, early stopping on the fold's
validation part, category columns as learned embeddings (HyperFusion's second ensemble member)."""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import pandas as pd

from ._base import Model, register_model
from ._neural import TabularEncoder, deterministic, resolve_device


@register_model
class TabNetModel(Model):
    key = "tabnet"
    summary = "TabNet (pytorch-tabnet; category embeddings, early stopping on the validation fold)"
    seed_param = "seed"
    defaults = {
        "n_d": 16,
        "n_a": 16,
        "n_steps": 3,
        "gamma": 1.3,
        "lambda_sparse": 1e-4,
        "cat_emb_dim": 2,
        "learning_rate": 0.02,
        "max_epochs": 200,
        "patience": 20,
        "batch_size": 256,
        "virtual_batch_size": 128,
        "seed": 0,
        "device": "auto",
    }

    @staticmethod
    def search_space(trial):
        width = trial.suggest_categorical("n_d", [8, 16, 32])
        return {
            "n_d": width,
            "n_a": width,  # the TabNet paper ties n_a to n_d
            "n_steps": trial.suggest_int("n_steps", 2, 6),
            "gamma": trial.suggest_float("gamma", 1.0, 2.0),
            "lambda_sparse": trial.suggest_float("lambda_sparse", 1e-6, 1e-2, log=True),
            "learning_rate": trial.suggest_float("learning_rate", 5e-3, 5e-2, log=True),
        }

    def _fit(self, X, y, X_val, y_val, sample_weight):
        from pytorch_tabnet.tab_model import TabNetRegressor
        import torch

        p = self.params
        self.encoder_ = TabularEncoder.fit(X, indicators=False)
        A = self._matrix(X)
        self.y_mean_, self.y_std_ = float(y.mean()), float(y.std() or 1.0)
        target = ((y - self.y_mean_) / self.y_std_).reshape(-1, 1)
        n_cat = len(self.encoder_.categorical)
        eval_set = []
        if X_val is not None:
            eval_set = [(self._matrix(X_val), ((y_val - self.y_mean_) / self.y_std_).reshape(-1, 1))]
        # Batch norm needs two rows per batch; small folds get smaller batches.
        bs = max(2, min(int(p["batch_size"]), len(A)))
        vbs = max(2, min(int(p["virtual_batch_size"]), bs))
        with deterministic(int(p["seed"])):
            self.model_ = TabNetRegressor(
                n_d=p["n_d"], n_a=p["n_a"], n_steps=p["n_steps"], gamma=p["gamma"], lambda_sparse=p["lambda_sparse"],
                cat_idxs=list(range(len(self.encoder_.numeric), len(self.encoder_.numeric) + n_cat)),
                cat_dims=self.encoder_.cardinalities(), cat_emb_dim=p["cat_emb_dim"], seed=int(p["seed"]),
                optimizer_fn=torch.optim.Adam, optimizer_params={"lr": p["learning_rate"]},
                device_name=resolve_device(p["device"]), verbose=0,
            )
            # pytorch-tabnet turns an array of weights into a weighted sampler (its only form of row weights).
            weights = 0 if sample_weight is None else np.asarray(sample_weight, dtype=float) / np.mean(sample_weight)
            # pytorch-tabnet prints its early-stopping summary and warns that it restores the best weights.
            with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                self.model_.fit(A, target, eval_set=eval_set or None, eval_metric=["mse"] if eval_set else None,
                                max_epochs=int(p["max_epochs"]), patience=int(p["patience"]) if eval_set else 0,
                                batch_size=bs, virtual_batch_size=vbs, weights=weights, drop_last=len(A) > bs,
                                pin_memory=False, compute_importance=True)
        self.model_.network.to("cpu")  # fitted state lives on the CPU: pickles load anywhere
        self.model_.device = "cpu"

    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        num = self.encoder_.numeric_matrix(X)
        return np.hstack([num, self.encoder_.category_codes(X).astype(np.float32)])

    def _predict(self, X):
        out = self.model_.predict(self._matrix(X)).reshape(-1)
        return out.astype(float) * self.y_std_ + self.y_mean_

    def feature_importance(self):
        imp = getattr(self.model_, "feature_importances_", None)
        if imp is None:
            return pd.Series(dtype=float)
        names = self.encoder_.numeric + self.encoder_.categorical
        return pd.Series(np.asarray(imp, dtype=float), index=names).reindex(self.columns_).fillna(0.0)
