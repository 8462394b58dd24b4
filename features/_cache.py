"""Content-hash cache of static generator outputs.

Key = hash of (generator name, class, version, parameters, the source of the generator's modules, fingerprint of the
input columns). Unlike a cache keyed on the feature name alone, a changed parameter, version, source or input value
can never load a stale file: an edit of the generator's module (or of `_base.py`) that renames what its fitted state
holds would otherwise load a pickle the new code reads differently. Each entry is the output as parquet plus the
fitted generator (pickled, needed again by `smp predict`) plus `<stem>.sha256`, the checksums of both files' bytes.
Writes go to a temporary name and are renamed into place, the checksums last, so a killed run leaves no entry that
looks complete; an entry whose bytes no longer match its checksums (a flipped bit, a file of the right size with the
wrong content) is reported, recomputed and replaced, never used.
"""

from __future__ import annotations

import hashlib
import inspect
import io
import json
import os
import pickle
import warnings
from pathlib import Path

import pandas as pd

from smp.files import atomic_write, sha256_hex
from smp.fingerprint import fingerprint_frame

from ._base import FeatureGenerator


def source_fingerprint(cls: type) -> str:
    """Hash of the source files of the modules that define `cls` and its base classes (within this project)."""
    h = hashlib.sha256()
    for path in sorted({inspect.getsourcefile(c) for c in cls.__mro__ if c.__module__.startswith("smp.")}):
        h.update(Path(path).read_bytes())
    return h.hexdigest()


def generator_key(gen: FeatureGenerator, frame: pd.DataFrame) -> str:
    payload = {
        "name": gen.name,
        "class": f"{type(gen).__module__}.{type(gen).__qualname__}",
        "version": gen.version,
        "source": source_fingerprint(type(gen)),
        "params": gen.get_params(),
        "input": fingerprint_frame(frame.loc[:, gen.input_columns(frame)]),
    }
    identity = gen.cache_identity()
    if identity is not None:  # what the parameters leave open (an `auto` backend resolved on this machine)
        payload["identity"] = identity
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:32]


class FeatureCache:
    """A folder of `<name>-<key>.parquet` outputs, `<name>-<key>.pkl` fitted generators and `<name>-<key>.sha256`
    checksums of both."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    def _paths(self, gen: FeatureGenerator, key: str) -> tuple[Path, Path, Path]:
        stem = f"{gen.name}-{key}"
        return self.root / f"{stem}.parquet", self.root / f"{stem}.pkl", self.root / f"{stem}.sha256"

    def load(self, gen: FeatureGenerator, key: str) -> tuple[pd.DataFrame, FeatureGenerator] | None:
        """The cached (output, fitted generator), or None: absent, without checksums (written before they existed
        or half-written), or corrupt (warned about and removed, so the caller recomputes and replaces it)."""
        out_path, gen_path, sum_path = self._paths(gen, key)
        if not (out_path.exists() and gen_path.exists() and sum_path.exists()):
            return None
        try:
            want = sum_path.read_text().split()
            out_bytes, gen_bytes = out_path.read_bytes(), gen_path.read_bytes()
        except OSError:
            return None
        got = [sha256_hex(out_bytes), sha256_hex(gen_bytes)]
        if want != got:
            bad = [p.name for p, w, g in zip((out_path, gen_path), want + ["", ""], got) if w != g] or [sum_path.name]
            warnings.warn(f"feature cache entry {self.root / (out_path.stem)} is corrupt ({', '.join(bad)} does not "
                          "match its checksum); recomputing it", stacklevel=2)
            for path in (sum_path, out_path, gen_path):
                path.unlink(missing_ok=True)
            return None
        try:
            out = pd.read_parquet(io.BytesIO(out_bytes))
            fitted = pickle.loads(gen_bytes)
        except Exception:  # matching checksums but unreadable (another version's pickle): recomputed, never trusted
            return None
        return out, fitted

    def save(self, gen: FeatureGenerator, key: str, out: pd.DataFrame) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        out_path, gen_path, sum_path = self._paths(gen, key)
        sum_path.unlink(missing_ok=True)  # the entry is incomplete until its checksums are written again
        buf = io.BytesIO()
        out.to_parquet(buf)
        # The checksums are of exactly the bytes renamed into place, never of a file read back.
        out_bytes, gen_bytes = buf.getvalue(), pickle.dumps(gen)
        atomic_write(out_path, out_bytes)
        atomic_write(gen_path, gen_bytes)
        atomic_write(sum_path, f"{sha256_hex(out_bytes)} {sha256_hex(gen_bytes)}\n")
