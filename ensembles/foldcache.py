"""A content-hash cache of fitted folds: a re-run with the same inputs loads each fold's model and predictions.

A fold fit is a pure function of what it reads, so its key hashes exactly that:

- the learner: class, every parameter (seed and threads included) and the early-stopping mode;
- the rows: the static matrix and test matrix (fingerprinted once per call), the labels, sample weights and
  pseudo rows, the fold's training / validation positions, its early-stopping mask and its label-feature frames
  (the fold's fitted target encodings, as the model sees them);
- the code: the source of this package (every model wrapper, the fold loop) and the versions of the libraries
  that fit (LightGBM, CatBoost, scikit-learn, torch, ...).

Change any of these (a parameter, one feature value, a fold, an edited wrapper, an upgraded LightGBM) and the key
changes, so a stale fit is never loaded. Entries are `<learner>-<key>.pkl` with a `.sha256` checksum beside them,
written atomically (checksum last); a corrupt or unreadable entry is refitted and replaced, never used.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from smp.files import atomic_write, sha256_hex
from smp.fingerprint import fingerprint_array, fingerprint_frame

# Libraries whose version can change a fit; absent ones count as "-".
FIT_LIBRARIES = ("numpy", "pandas", "scikit-learn", "scipy", "lightgbm", "catboost", "xgboost", "xgboost-cpu",
                 "torch", "pytorch-tabnet", "pytabkit", "pytorch-lightning", "threadpoolctl")


def code_fingerprint() -> str:
    """Hash of this package's source files and of the fitting libraries' versions."""
    h = hashlib.sha256()
    root = Path(__file__).resolve().parent
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    for lib in FIT_LIBRARIES:
        try:
            v = metadata.version(lib)
        except metadata.PackageNotFoundError:
            v = "-"
        h.update(f"{lib}=={v};".encode())
    return h.hexdigest()


class FoldCache:
    """Fitted folds under `root` (normally `<cache_dir>/folds`), keyed by everything the fit reads."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self.code = code_fingerprint()
        self._digests: dict[int, tuple[pd.DataFrame, str]] = {}  # id -> (the frame, its digest)
        self.hits = 0
        self.misses = 0

    def digest(self, obj: pd.DataFrame | np.ndarray | None) -> str:
        """Fingerprint of a frame or array; a frame's is computed once per object (the static matrix is shared by
        every learner of a run)."""
        if obj is None:
            return "none"
        if not isinstance(obj, pd.DataFrame):
            return fingerprint_array(np.asarray(obj))
        got = self._digests.get(id(obj))
        if got is not None and got[0] is obj:
            return got[1]
        d = fingerprint_frame(obj)
        self._digests[id(obj)] = (obj, d)  # kept alive with it, so the id cannot be reused by another frame
        return d

    def key(self, model: Any, parts: dict[str, str]) -> str:
        payload = {"code": self.code, "class": f"{type(model).__module__}.{type(model).__qualname__}",
                   "params": model.params, **parts}
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=repr).encode()).hexdigest()[:32]

    def _paths(self, name: str, key: str) -> tuple[Path, Path]:
        return self.root / f"{name}-{key}.pkl", self.root / f"{name}-{key}.sha256"

    def load(self, name: str, key: str) -> tuple | None:
        """The cached (fitted model, validation predictions, test predictions), or None."""
        path, sums = self._paths(name, key)
        if not (path.exists() and sums.exists()):
            self.misses += 1
            return None
        try:
            data, want = path.read_bytes(), sums.read_text().strip()
        except OSError:
            self.misses += 1
            return None
        if sha256_hex(data) != want:
            warnings.warn(f"fold cache entry {path} does not match its checksum; refitting it", stacklevel=2)
            sums.unlink(missing_ok=True)
            path.unlink(missing_ok=True)
            self.misses += 1
            return None
        try:
            out = pickle.loads(data)
        except Exception:  # matching checksum but unreadable (another version's pickle): refitted, never trusted
            self.misses += 1
            return None
        self.hits += 1
        return out

    def save(self, name: str, key: str, result: tuple) -> None:
        path, sums = self._paths(name, key)
        sums.unlink(missing_ok=True)  # incomplete until the checksum is written again
        data = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
        atomic_write(path, data)
        atomic_write(sums, sha256_hex(data) + "\n")

    def __getstate__(self) -> dict:  # the digest memo holds whole matrices: never ship it to a worker
        return {**self.__dict__, "_digests": {}}

    def __repr__(self) -> str:
        return f"FoldCache({str(self.root)!r})"
