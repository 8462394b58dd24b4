"""Content-hash cache of static generator outputs.

Key = hash of (generator name, class, version, parameters, fingerprint of the input columns). Unlike a cache keyed
on the feature name alone, a changed parameter, version or input value can never load a stale file. Each entry is
the output as parquet plus the fitted generator (pickled, needed again by `smp predict`). Writes go to a temporary
name and are renamed into place, so a killed run leaves no half-written entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd

from smp._files import atomic_write

from ._base import FeatureGenerator


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


def generator_key(gen: FeatureGenerator, frame: pd.DataFrame) -> str:
    payload = {
        "name": gen.name,
        "class": f"{type(gen).__module__}.{type(gen).__qualname__}",
        "version": gen.version,
        "params": gen.get_params(),
        "input": fingerprint_frame(frame.loc[:, gen.input_columns(frame)]),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:32]


class FeatureCache:
    """A folder of `<name>-<key>.parquet` outputs and `<name>-<key>.pkl` fitted generators."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    def _paths(self, gen: FeatureGenerator, key: str) -> tuple[Path, Path]:
        stem = f"{gen.name}-{key}"
        return self.root / f"{stem}.parquet", self.root / f"{stem}.pkl"

    def load(self, gen: FeatureGenerator, key: str) -> tuple[pd.DataFrame, FeatureGenerator] | None:
        out_path, gen_path = self._paths(gen, key)
        if not (out_path.exists() and gen_path.exists()):
            return None
        try:
            out = pd.read_parquet(out_path)
            with open(gen_path, "rb") as f:
                fitted = pickle.load(f)
        except Exception:  # a corrupt entry is recomputed, never trusted
            return None
        return out, fitted

    def save(self, gen: FeatureGenerator, key: str, out: pd.DataFrame) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        out_path, gen_path = self._paths(gen, key)
        atomic_write(out_path, lambda p: out.to_parquet(p))
        atomic_write(gen_path, pickle.dumps(gen))
