"""A linear label trend over time that a model fits on its own training rows and extrapolates to later posts.

Trees predict a post later than every training post at the level of the latest training posts: they cannot follow
a label level that keeps moving (views accumulated since publication, a platform that grows). With a model's
`trend = {column = "time__days_since_start"}`, the model is fitted on the label minus a straight line in that column
(a Huber fit, robust to a few extreme labels), and the line is added back to its predictions. The line is fitted on
the rows the model is fitted on, so inside a fold it never sees the rows the fold scores. `share` fits it on the
latest part of those rows only (by the column), for a level that moved differently in the early years.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

TREND_KEYS = ("column", "share")


@dataclass
class TimeTrend:
    column: str = "time__days_since_start"
    share: float = 1.0

    def fit(self, X: pd.DataFrame, y: np.ndarray, sample_weight: np.ndarray | None = None) -> "TimeTrend":
        from sklearn.linear_model import HuberRegressor

        t = self._values(X)
        ok = np.isfinite(t)
        if self.share < 1.0 and ok.any():
            ok &= t >= np.quantile(t[ok], 1.0 - self.share)
        if ok.sum() < 10 or np.ptp(t[ok]) == 0:  # too few dated rows for a slope: a flat line at the median
            self.center_, self.scale_, self.slope_ = 0.0, 1.0, 0.0
            self.intercept_ = float(np.median(y))
            return self
        self.center_, self.scale_ = float(np.median(t[ok])), float(np.std(t[ok]))
        w = None if sample_weight is None else sample_weight[ok]
        fit = HuberRegressor(alpha=0.0, max_iter=500).fit(((t[ok] - self.center_) / self.scale_)[:, None], y[ok], w)
        self.slope_, self.intercept_ = float(fit.coef_[0]), float(fit.intercept_)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """The line at each row's value of the column; a row without one gets the line's centre."""
        z = (self._values(X) - self.center_) / self.scale_
        return self.intercept_ + self.slope_ * np.where(np.isfinite(z), z, 0.0)

    def per_unit(self) -> float:
        """The line's change per unit of the column (what a linear model's slope on it gains)."""
        return self.slope_ / self.scale_

    def _values(self, X: pd.DataFrame) -> np.ndarray:
        if self.column not in X.columns:
            raise KeyError(f"trend: column {self.column!r} is not among the model's inputs; add the generator that "
                           f"makes it (`time` makes time__days_since_start) or name another numeric column")
        return pd.to_numeric(X[self.column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
