"""Outlier filtering (HyperFusion): drop training rows outside the IQR fences of the label or of chosen features.

The filter rewrites the folds, not the data: each fold's training part loses the rows whose label (or a chosen
column) lies outside ``[Q1 - k * IQR, Q3 + k * IQR]``, with the quartiles computed on that training part only.
Validation parts are never touched, so every row is still predicted out of fold and CV scores stay comparable
with an unfiltered run; label-using features (fitted on the training part), level-1 learners and the level-2
stack all see the filtered training parts because they all run on the same folds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .folds import Folds


def iqr_keep(values, k: float = 1.5) -> np.ndarray:
    """Boolean mask of the values inside the IQR fences (NaN values are kept: missing is not extreme)."""
    if not k > 0:
        raise ValueError(f"`k > 0` must hold for the IQR rule, but got k={k!r}")
    v = np.asarray(values, dtype=float)
    finite = v[np.isfinite(v)]
    if len(finite) < 4:
        return np.ones(len(v), dtype=bool)
    q1, q3 = np.percentile(finite, [25, 75])
    lo, hi = q1 - k * (q3 - q1), q3 + k * (q3 - q1)
    return ~((v < lo) | (v > hi))


@dataclass
class FilterReport:
    """How many training rows each fold dropped, and why (label or a column name)."""

    dropped: list[int] = field(default_factory=list)
    by_rule: list[dict[str, int]] = field(default_factory=list)

    def summary(self) -> dict:
        return {"dropped_per_fold": self.dropped, "by_rule": self.by_rule}


def filter_folds(
    folds: Folds,
    y,
    data: pd.DataFrame | None = None,
    *,
    k: float = 1.5,
    columns: list[str] | tuple[str, ...] = (),
    label: bool = True,
) -> tuple[Folds, FilterReport]:
    """The same folds with IQR outliers removed from each training part; validation parts unchanged.

    `y` are the labels of the labelled rows (positional, as the folds); `data` holds the `columns` to filter on
    (static features or PostFrame columns, same rows). Fences are computed per fold on its training part.
    """
    y = np.asarray(y, dtype=float)
    columns = list(columns)
    values: dict[str, np.ndarray] = {}
    if label:
        values["label"] = y
    if columns:
        if data is None:
            raise ValueError(f"outlier filter on columns {columns} needs the feature data")
        missing = [c for c in columns if c not in data.columns]
        if missing:
            raise KeyError(f"outlier filter: columns {missing} are not feature or post columns; "
                           f"available: {sorted(map(str, data.columns))}")
        for c in columns:
            col = data[c]
            if not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
                raise TypeError(f"outlier filter: column {c!r} must be numeric, got dtype {col.dtype}")
            values[c] = col.to_numpy(dtype=float, na_value=np.nan)
    if len(y) != (len(data) if data is not None else len(y)):
        raise ValueError(f"outlier filter: y has {len(y)} rows but the data has {len(data)}")
    out, report = [], FilterReport()
    for tr, va in folds:
        keep = np.ones(len(tr), dtype=bool)
        counts = {}
        for name, v in values.items():
            ok = iqr_keep(v[tr], k)
            counts[name] = int((~ok).sum())
            keep &= ok
        out.append((tr[keep], va))
        report.dropped.append(int((~keep).sum()))
        report.by_rule.append(counts)
    return out, report
