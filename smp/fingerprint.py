"""Content fingerprints of tables, shared by the feature cache (its keys, `data.json`) and the fold-result cache."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd


def fingerprint_frame(frame: pd.DataFrame) -> str:
    """A stable hash of column names, dtypes, index and values (list cells are hashed element-wise)."""
    h = hashlib.sha256()
    h.update(repr(list(map(str, frame.columns))).encode())
    h.update(pd.util.hash_pandas_object(frame.index, index=False).to_numpy().tobytes())
    for col in frame.columns:
        s = frame[col]
        h.update(f"{col}:{s.dtype}".encode())
        if s.dtype == object and s.map(lambda v: isinstance(v, (list, tuple, np.ndarray))).any():
            s = s.map(lambda v: "\x1f".join(map(str, v)) if isinstance(v, (list, tuple, np.ndarray)) else repr(v))
        h.update(pd.util.hash_pandas_object(s, index=False).to_numpy().tobytes())
    return h.hexdigest()


def fingerprint_array(a: np.ndarray | None) -> str:
    """Hash of an array's dtype, shape and bytes ("none" for None)."""
    if a is None:
        return "none"
    a = np.ascontiguousarray(a)
    h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    h.update(a.view(np.uint8).reshape(-1) if a.size else b"")
    return h.hexdigest()
