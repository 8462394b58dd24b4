"""Per-row embedding cache: one vector per (model key, hash of the row's content).

The feature cache (`_cache.py`) stores a generator's whole output, so any changed row, a grown data set or a new
PCA size recomputes it. Embeddings are by far the most expensive part of those outputs, and each row's vector depends
only on the encoder and that row's input, so they get a second cache level: a re-run, a retrain on grown data or a
different reduction embeds only rows whose content the encoder has never seen.

Layout: ``<root>/<model-hash>/model.txt`` names the model key; every `put` appends one shard,
``<shard>.vals.npy`` (float32, rows x dim) and ``<shard>.keys.npy`` (16-byte row hashes), the keys written last and
both renamed into place, so a reader never sees half a shard and concurrent writers (several processes, Ray
workers) never touch each other's files. With no root the cache lives in this process's memory only.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from ._cache import _atomic_write

KEY_BYTES = 16
_MEMORY: dict[str, dict[bytes, np.ndarray]] = {}
_MEMORY_LIMIT_BYTES = 512 * 2**20
_ACTIVE_ROOT: Path | None = None
_MODELS_ROOT: Path | None = None
_PROGRESS = False


def row_hashes(model_key: str, contents: Sequence[bytes | str]) -> list[bytes]:
    """16-byte sha256 digests of (model key, row content); str contents are UTF-8 encoded."""
    prefix = model_key.encode() + b"\x1f"
    return [
        hashlib.sha256(prefix + (c if isinstance(c, bytes) else str(c).encode("utf-8"))).digest()[:KEY_BYTES]
        for c in contents
    ]


@contextmanager
def use_row_cache(root: str | os.PathLike | None, *, progress: bool = False,
                  models: str | os.PathLike | None = None) -> Iterator[None]:
    """Make `root` the row cache of every embedding generator inside the block (None: memory only).

    `progress` shows a bar per encoder while it embeds cache misses. `models` is where models built from other
    models are cached (`_modelcache.py`; default: ``models`` beside `root`), so a benchmark can embed without a row
    cache and still reuse the distilled and exported models. None is a generator parameter: where caches live and
    whether bars show must not change a generator's cache key.
    """
    global _ACTIVE_ROOT, _MODELS_ROOT, _PROGRESS
    before = _ACTIVE_ROOT, _MODELS_ROOT, _PROGRESS
    _ACTIVE_ROOT = Path(root) if root is not None else None
    _MODELS_ROOT = Path(models) if models is not None else None
    _PROGRESS = bool(progress)
    try:
        yield
    finally:
        _ACTIVE_ROOT, _MODELS_ROOT, _PROGRESS = before


def progress_enabled() -> bool:
    return _PROGRESS


def models_root() -> Path | None:
    """The model folder cache: `use_row_cache(models=...)`, else ``models`` beside the row cache folder, else None."""
    if _MODELS_ROOT is not None:
        return _MODELS_ROOT
    rows = active_root()
    return rows.parent / "models" if rows is not None else None


def active_root() -> Path | None:
    """The row cache folder set by `use_row_cache` (or the SMP_ROW_CACHE environment variable), else None."""
    if _ACTIVE_ROOT is not None:
        return _ACTIVE_ROOT
    env = os.environ.get("SMP_ROW_CACHE")
    return Path(env) if env else None


class RowCache:
    """Vectors of one model key, looked up by row hash; misses are computed in batches and stored."""

    def __init__(self, model_key: str, root: str | os.PathLike | None = None) -> None:
        self.model_key = model_key
        self.root = Path(root) if root is not None else None
        self.dir = (
            self.root / hashlib.sha256(model_key.encode()).hexdigest()[:24] if self.root is not None else None
        )

    # ------------------------------------------------------------------------------------------------ reading
    def _load(self, wanted: set[bytes]) -> dict[bytes, np.ndarray]:
        if self.dir is None:
            mem = _MEMORY.get(self.model_key, {})
            return {k: mem[k] for k in wanted if k in mem}
        found: dict[bytes, np.ndarray] = {}
        if not self.dir.is_dir():
            return found
        for keys_path in sorted(self.dir.glob("*.keys.npy")):
            try:
                keys = np.load(keys_path)
                vals = np.load(keys_path.with_name(keys_path.name.replace(".keys.npy", ".vals.npy")), mmap_mode="r")
            except (OSError, ValueError):  # a corrupt shard is ignored (its rows are recomputed), never trusted
                continue
            if len(keys) != len(vals):
                continue
            for i, k in enumerate(keys.tolist()):
                k = k.ljust(KEY_BYTES, b"\0")  # numpy's fixed-width bytes drop trailing NUL bytes of a digest
                if k in wanted and k not in found:
                    found[k] = np.array(vals[i], dtype=np.float32)
            if len(found) == len(wanted):
                break
        return found

    # ------------------------------------------------------------------------------------------------ writing
    def _store(self, keys: list[bytes], values: np.ndarray) -> None:
        if not keys:
            return
        values = np.ascontiguousarray(values, dtype=np.float32)
        # Rows that failed (NaN, e.g. an undecodable image) are not stored: they are retried, and warned about, again.
        ok = np.isfinite(values).all(axis=1) if values.ndim == 2 else np.ones(len(keys), dtype=bool)
        if not ok.all():
            keys = [k for k, good in zip(keys, ok) if good]
            values = values[ok]
            if not keys:
                return
        if self.dir is None:
            mem = _MEMORY.setdefault(self.model_key, {})
            if sum(v.nbytes for m in _MEMORY.values() for v in m.values()) + values.nbytes > _MEMORY_LIMIT_BYTES:
                _MEMORY.clear()  # a memory-only cache is a convenience; start afresh rather than grow unbounded
                mem = _MEMORY.setdefault(self.model_key, {})
            mem.update(zip(keys, values))
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        info = self.dir / "model.txt"
        if not info.exists():
            _atomic_write(info, lambda p: Path(p).write_text(self.model_key + "\n"))
        shard = uuid.uuid4().hex
        key_arr = np.array(keys, dtype=f"S{KEY_BYTES}")
        _atomic_write(self.dir / f"{shard}.vals.npy", lambda p: _save_npy(p, values))
        _atomic_write(self.dir / f"{shard}.keys.npy", lambda p: _save_npy(p, key_arr))

    # ------------------------------------------------------------------------------------------------- public
    def get_or_compute(
        self,
        keys: list[bytes],
        compute: Callable[[list[int]], np.ndarray],
        *,
        batch_size: int = 256,
    ) -> tuple[np.ndarray | None, int, int]:
        """Vectors for `keys` (rows x dim), computing misses with `compute(positions)` in batches of `batch_size`.

        Duplicate keys (identical rows) are encoded once. Returns the matrix (None when there are no rows), the
        number of rows whose vector was computed in this call and the number taken from the cache (they add up to
        the number of rows).
        """
        unique = list(dict.fromkeys(keys))
        found = self._load(set(unique))
        first_pos: dict[bytes, int] = {}
        for i, k in enumerate(keys):
            first_pos.setdefault(k, i)
        missing = [k for k in unique if k not in found]
        for lo in range(0, len(missing), max(int(batch_size), 1)):
            chunk = missing[lo : lo + batch_size]
            vals = np.asarray(compute([first_pos[k] for k in chunk]), dtype=np.float32)
            if vals.shape[0] != len(chunk):
                raise RuntimeError(f"encoder {self.model_key!r} returned {vals.shape[0]} rows for {len(chunk)} inputs")
            self._store(chunk, vals)
            found.update(zip(chunk, vals))
        fresh = set(missing)
        cached = sum(1 for k in keys if k not in fresh)
        if not keys:
            return None, 0, 0
        return np.stack([found[k] for k in keys]).astype(np.float32), len(keys) - cached, cached


def _save_npy(path: str, arr: np.ndarray) -> None:
    with open(path, "wb") as f:
        np.save(f, arr)

