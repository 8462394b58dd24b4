"""Inputs of label-using generators that read *static feature columns* (an embedding block, cluster ids) by prefix.

The feature build hands such generators the PostFrame columns plus every static feature column. A prefix that matches no
column is a configuration mistake (a generator missing from `[[features]]`, a misspelt prefix), so it fails with the
usual `KeyError` naming the prefix and the available columns instead of silently giving no features. Once fitted,
a generator reads exactly the columns it was fitted on: a transform frame lacking one fails the same way, and extra
columns that happen to share a prefix cannot change its output.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ._base import FeatureGenerator
from ._common import check_fitted_columns


def prefixed(columns, prefixes: tuple[str, ...] | list[str]) -> list[str]:
    """The string column names starting with any of `prefixes`, sorted (so column order never matters)."""
    prefixes = tuple(prefixes)
    return sorted(c for c in columns if isinstance(c, str) and prefixes and c.startswith(prefixes))


def numeric_columns(X: pd.DataFrame, columns: list[str]) -> list[str]:
    """The numeric (or boolean) columns among `columns`; categorical and text columns are left out."""
    return [c for c in columns if pd.api.types.is_numeric_dtype(X[c]) or pd.api.types.is_bool_dtype(X[c])]


_GROUP_NAME = re.compile(r"^[a-z0-9_]+$")


def group_prefixes(groups: object, default: dict[str, list[str]]) -> tuple[str, ...]:
    """Every prefix of a name -> prefixes table (`spaces`, `modalities`; None = `default`), for `requires_prefix`."""
    groups = default if groups is None else groups
    if not isinstance(groups, dict):
        return ()  # `check_groups` names the mistake at fit
    return tuple(dict.fromkeys(p for ps in groups.values() if not isinstance(ps, str) for p in ps))


def check_groups(owner: str, what: str, groups: object) -> None:
    """`ValueError` unless `groups` maps names ([a-z0-9_]+, they name output columns) to non-empty prefix lists."""
    if not isinstance(groups, dict) or not groups:
        raise ValueError(f"{owner}: `{what}` must map names to lists of column prefixes, got {groups!r}")
    for name, prefixes in groups.items():
        if not _GROUP_NAME.match(str(name)):
            raise ValueError(f"{owner}: a name in `{what}` must match [a-z0-9_]+, got {name!r}")
        if isinstance(prefixes, str) or not prefixes or not all(isinstance(p, str) and p for p in prefixes):
            raise ValueError(f"{owner}: {what}[{name!r}] must list one or more column prefixes, got {prefixes!r}")


def group_columns(owner: str, X: pd.DataFrame, name: str, prefixes: list[str]) -> list[list[str]]:
    """The numeric columns of each prefix of group `name`; `ValueError` for a prefix with none."""
    blocks = [numeric_columns(X, prefixed(X.columns, (p,))) for p in prefixes]
    empty = [p for p, b in zip(prefixes, blocks) if not b]
    if empty:
        raise ValueError(
            f"{owner}: {name!r} has no numeric column starting with {empty}; "
            f"columns with those prefixes: {prefixed(X.columns, tuple(empty))}"
        )
    return blocks


def float_matrix(X: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """`X[columns]` as a new float64 matrix, with missing and infinite values as NaN."""
    M = np.array(X[columns].to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
    M[~np.isfinite(M)] = np.nan
    return M


class FeatureInputs(FeatureGenerator):
    """Base for generators whose `requires_prefix` names feature blocks: every prefix must match, fits pin columns.

    A subclass sets ``self.inputs_`` in `_fit` to the columns it actually uses (e.g. the numeric ones of a block).
    """

    def input_columns(self, frame: pd.DataFrame) -> list[str]:
        pinned = getattr(self, "inputs_", None)
        if pinned is not None:
            check_fitted_columns(self.name, frame, list(pinned))
            return list(pinned)
        cols = super().input_columns(frame)
        empty = [p for p in self.requires_prefix if not prefixed(frame.columns, (p,))]
        if empty:
            raise KeyError(
                f"feature generator {self.name!r} reads columns starting with {empty}, but the frame has none "
                f"(is the generator that makes them in [[features]]?); available columns: "
                f"{sorted(map(str, frame.columns))}"
            )
        return cols

    def _unpin(self) -> None:
        # A refit reads the new frame's columns, not the ones an earlier fit pinned.
        self.__dict__.pop("inputs_", None)
        self.fitted_ = False

    def fit(self, frame: pd.DataFrame, y: pd.Series | None = None) -> "FeatureInputs":
        self._unpin()
        return super().fit(frame, y)

    def fit_transform(self, frame: pd.DataFrame, y: pd.Series | None = None, **kwargs) -> pd.DataFrame:
        self._unpin()
        return super().fit_transform(frame, y, **kwargs)
