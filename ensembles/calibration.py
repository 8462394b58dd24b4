"""Post-processing of the final prediction for later posts, fitted on out-of-fold predictions only.

SMP test posts are later than the training posts and the label drifts (SMP-Video: the mean rose from 7.65 in
2022 H1 to 8.28 in 2023 H1). Three switches, each measured by the forward evaluation:

- `method`: a monotone (``isotonic``) or ``linear`` map from the out-of-fold prediction to the label;
- `trend`: a linear trend of the out-of-fold residual over time, added at the new posts' times (trees cannot
  extrapolate a drift the training posts show);
- `median_guard`: a shrinkage towards the training median, w * pred + (1 - w) * median with w in [0, 1] chosen
  for MAE: with w = 0 allowed, the calibrated prediction is never worse on out-of-fold MAE than the constant.

Out-of-fold honesty: the calibrator applied to the test rows is fitted on every OOF prediction; the CV score of
the calibrated model comes from cross-fitting it (fold k's rows calibrated by a calibrator fitted on the other
folds' OOF rows), so nothing is fitted on the rows it is scored on.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from .explain import NotExplainable

METHODS = ("none", "isotonic", "linear")


def _days(times) -> np.ndarray:
    """Days since the epoch, whatever the datetime resolution (pandas 3 keeps microseconds for many sources)."""
    t = pd.to_datetime(pd.Series(times), utc=True)
    return ((t - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(days=1)).to_numpy(dtype=float)


@dataclass
class Calibrator:
    """Fitted on (OOF prediction, label, post time) of training rows; `__call__(pred, posts)` maps new predictions."""

    method: str = "none"
    trend: bool = False
    median_guard: bool = False
    absolute: bool = False  # the run's metric is an absolute error (MAE, MAPE, SMP): fit the linear map for it
    relative: bool = False  # ... relative to the label (MAPE): the guard weighs each error by 1 / |label|
    params_: dict = field(default_factory=dict)

    def fit(self, pred: np.ndarray, y: np.ndarray, times) -> "Calibrator":
        if self.method not in METHODS:
            raise ValueError(f"calibration method must be one of {METHODS}, got {self.method!r}")
        pred, y = np.asarray(pred, dtype=float), np.asarray(y, dtype=float)
        ok = np.isfinite(pred) & np.isfinite(y)
        pred, y, t = pred[ok], y[ok], _days(times)[ok]
        self.params_ = {}
        z = self._map_fit(pred, y)
        if self.trend:
            t0 = float(np.median(t))
            r = y - z
            slope, intercept = _line(t - t0, r, absolute=self.absolute, weight=self._weight(y))
            self.params_["trend"] = (t0, float(slope), float(intercept), float(t.max()))
            z = z + intercept + slope * (t - t0)
        if self.median_guard:
            med = float(np.median(y))
            grid = np.linspace(0.0, 1.0, 101)
            scale = 1.0 / np.maximum(np.abs(y), 1e-12) if self.relative else np.ones(len(y))
            errs = [np.mean(scale * np.abs(w * z + (1 - w) * med - y)) for w in grid]
            self.params_["guard"] = (float(grid[int(np.argmin(errs))]), med)
        return self

    def _map_fit(self, pred: np.ndarray, y: np.ndarray) -> np.ndarray:
        if self.method == "isotonic":
            from sklearn.isotonic import IsotonicRegression

            iso = IsotonicRegression(out_of_bounds="clip").fit(pred, y)
            self.params_["isotonic"] = iso
            return iso.predict(pred)
        if self.method == "linear":
            slope, intercept = _line(pred, y, absolute=self.absolute, weight=self._weight(y))
            self.params_["linear"] = (float(slope), float(intercept))
            return intercept + slope * pred
        return pred

    def _weight(self, y: np.ndarray) -> np.ndarray | None:
        """Per-row weights of the fitted lines: 1 / |label| for a relative metric (least absolute deviations so
        weighted minimise MAPE), none otherwise."""
        return 1.0 / np.maximum(np.abs(y), 1e-12) if self.relative else None

    def __call__(self, pred: np.ndarray, posts: pd.DataFrame) -> np.ndarray:
        z = np.asarray(pred, dtype=float)
        if "isotonic" in self.params_:
            z = self.params_["isotonic"].predict(z)
        elif "linear" in self.params_:
            slope, intercept = self.params_["linear"]
            z = intercept + slope * z
        if "trend" in self.params_:
            t0, slope, intercept, _ = self.params_["trend"]
            z = z + intercept + slope * (_days(posts["post_time"]) - t0)
        if "guard" in self.params_:
            w, med = self.params_["guard"]
            z = w * z + (1 - w) * med
        return z

    def affine(self, posts: pd.DataFrame) -> tuple[float, np.ndarray]:
        """(a, b) with `self(pred, posts) == a * pred + b` (b one value per post: the trend depends on its time),
        which carries explanations through exactly; an isotonic map is a step function and has no such form."""
        if "isotonic" in self.params_:
            raise NotExplainable("isotonic calibration is a step function of the prediction, not a linear map, so "
                                 "contributions cannot be carried through it exactly")
        a, b = 1.0, np.zeros(len(posts))
        if "linear" in self.params_:
            a, intercept = self.params_["linear"]
            b = b + intercept
        if "trend" in self.params_:
            t0, slope, intercept, _ = self.params_["trend"]
            b = b + intercept + slope * (_days(posts["post_time"]) - t0)
        if "guard" in self.params_:
            w, med = self.params_["guard"]
            a, b = w * a, w * b + (1 - w) * med
        return float(a), b

    def describe(self) -> dict:
        out = {"method": self.method, "trend": self.trend, "median_guard": self.median_guard}
        if "linear" in self.params_:
            out["linear"] = {"slope": self.params_["linear"][0], "intercept": self.params_["linear"][1]}
        if "trend" in self.params_:
            t0, slope, intercept, _ = self.params_["trend"]
            out["trend_per_year"] = slope * 365.25
        if "guard" in self.params_:
            out["guard_weight"] = self.params_["guard"][0]
        return out


def _line(x: np.ndarray, y: np.ndarray, *, absolute: bool, weight: np.ndarray | None = None) -> tuple[float, float]:
    """(slope, intercept) of y on x: least squares, or (weighted) least absolute deviations for absolute-error
    metrics."""
    if len(x) < 3 or np.ptp(x) == 0:
        return 0.0, float(np.median(y) if absolute else np.mean(y)) if len(y) else 0.0
    if absolute:
        from sklearn.linear_model import QuantileRegressor

        m = QuantileRegressor(quantile=0.5, alpha=0.0, solver="highs").fit(x.reshape(-1, 1), y, sample_weight=weight)
        return float(m.coef_[0]), float(m.intercept_)
    slope, intercept = np.polyfit(x, y, 1, w=None if weight is None else np.sqrt(weight))
    return float(slope), float(intercept)


def cross_fit_calibration(template: Calibrator, oof: np.ndarray, y: np.ndarray, times, folds) -> np.ndarray:
    """Honest calibrated OOF predictions: fold k's rows mapped by a calibrator fitted on the other folds' OOF rows
    (rows without an OOF prediction stay NaN)."""
    oof, y = np.asarray(oof, dtype=float), np.asarray(y, dtype=float)
    times = pd.Series(pd.to_datetime(pd.Series(times), utc=True).to_numpy())
    out = np.full(len(oof), np.nan)
    posts = pd.DataFrame({"post_time": times})
    for _, va in folds:
        va = va[np.isfinite(oof[va])]  # a stack fitted on the latest posts only predicts those
        others = np.ones(len(oof), dtype=bool)
        others[va] = False
        others &= np.isfinite(oof)
        if others.sum() < 3:
            out[va] = oof[va]
            continue
        cal = replace(template, params_={})
        cal.fit(oof[others], y[others], times[others])
        out[va] = cal(oof[va], posts.iloc[va])
    return out
