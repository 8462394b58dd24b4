"""Exact additive explanations: per row, one contribution per input column plus `base`, summing to the prediction.

Tree models give theirs by TreeSHAP (LightGBM `pred_contrib`, CatBoost `ShapValues`), linear models by their
weights. A prediction made from other predictions by a linear map (a blend, a Ridge stacker, a linear calibration)
carries its inputs' contributions through by the map's slopes, so the result is still exact. Nothing here
approximates: a model without an exact path raises `NotExplainable`, saying which and why.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

BASE = "base"


class NotExplainable(ValueError):
    """A model (or a step of the chain that makes a prediction) has no exact additive explanation."""


def carry(own: pd.DataFrame, slopes: pd.Series, inputs: dict[str, pd.DataFrame], features: list[str]) -> pd.DataFrame:
    """Contributions over `features` (+ `base`) of a linear model whose inputs are predictions and features.

    `own` holds the model's contributions over its own input columns (+ `base`), `slopes` the change of its
    prediction per unit of each input, `inputs` the contributions (over `features` + `base`) of each input that is
    another model's prediction. An input prediction p = base_p + sum_f c_f enters as slope * p, so feature f gets
    slope * c_f and everything else of that input's term (its base, the model's centring) goes to `base`. An input
    that is itself a feature keeps its own contribution.
    """
    out = pd.DataFrame(0.0, index=own.index, columns=[*features, BASE])
    base = own[BASE].to_numpy(dtype=float).copy()
    for col in own.columns.drop(BASE):
        term = own[col].to_numpy(dtype=float)
        if col in inputs:
            c = inputs[col][features].to_numpy(dtype=float) * float(slopes[col])
            out[features] += c
            base += term - c.sum(axis=1)
        elif col in out.columns:
            out[col] += term
        else:
            raise KeyError(f"input column {col!r} is neither a prediction nor one of the features")
    out[BASE] = base
    return out


def affine(contributions: pd.DataFrame, slope: float, offset) -> pd.DataFrame:
    """The contributions of `slope * prediction + offset` (offset a number or one per row): every contribution
    scaled by the slope, the offset added to `base`."""
    out = contributions * float(slope)
    out[BASE] = out[BASE].to_numpy() + np.broadcast_to(np.asarray(offset, dtype=float), len(out))
    return out


def mean_frames(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The element-wise mean of equally shaped contribution frames (fold models averaged as their predictions are)."""
    return pd.DataFrame(np.mean([f.to_numpy(dtype=float) for f in frames], axis=0), index=frames[0].index,
                        columns=frames[0].columns)
