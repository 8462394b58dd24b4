"""Per-row embedding cache: one vector per (model key, hash of the row's content), or one text (captions, speech
transcripts: `get_or_compute(..., text=True)`, stored as numpy unicode arrays in the same shards).

The feature cache (`_cache.py`) stores a generator's whole output, so any changed row, a grown data set or a new
PCA size recomputes it. Embeddings are by far the most expensive part of those outputs, and each row's vector depends
only on the encoder and that row's input, so they get a second cache level: a re-run, a retrain on grown data or a
different reduction embeds only rows whose content the encoder has never seen.

Where the cache lives is a `RowStore` the run hands to its generators (a folder, or memory only); nothing about it
is module state. Layout: ``<root>/<model-hash>/model.txt`` names the model key; every `put` appends one shard,
``<shard>.vals.npy`` (float32, rows x dim), ``<shard>.sha256`` (checksums of both files' bytes) and
``<shard>.keys.npy`` (16-byte row hashes), the keys written last and all renamed into place, so a reader never sees
half a shard and concurrent writers (several processes, Ray workers) never touch each other's files. A shard whose
bytes no longer match its checksums is reported and deleted, and its rows are embedded again; a shard from before
checksums existed gets them on first read. With no root the vectors live in the store object's memory only.
"""

from __future__ import annotations

import hashlib
import io
import os
import uuid
import warnings
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from smp.files import atomic_write, sha256_hex

KEY_BYTES = 16
MEMORY_LIMIT_BYTES = 512 * 2**20


def row_hashes(model_key: str, contents: Sequence[bytes | str]) -> list[bytes]:
    """16-byte sha256 digests of (model key, row content); str contents are UTF-8 encoded."""
    prefix = model_key.encode() + b"\x1f"
    return [
        hashlib.sha256(prefix + (c if isinstance(c, bytes) else str(c).encode("utf-8"))).digest()[:KEY_BYTES]
        for c in contents
    ]


class RowStore:
    """Where embedding generators keep their per-row vectors: a folder shared by runs and processes, or (no root)
    this object's own memory, bounded by `memory_limit_bytes`. `progress` shows a bar per encoder while it embeds
    cache misses. Neither is a generator parameter: where vectors live and whether bars show must not change a
    generator's cache key. The run hands its store to each generator (`FeatureGenerator.use_rows`).

    `models` is where models built from other models are kept (the distilled model2vec model, ONNX exports;
    `model_folders.py`): by default ``models`` beside a folder `root` (``<cache_dir>/rows`` -> ``<cache_dir>/models``),
    else a temporary folder of this process. Naming it lets a benchmark embed with an empty memory store and still
    reuse the built models."""

    def __init__(self, root: str | os.PathLike | None = None, *, progress: bool = False,
                 memory_limit_bytes: int = MEMORY_LIMIT_BYTES, models: str | os.PathLike | None = None) -> None:
        self.root = Path(root) if root is not None else None
        self.progress = bool(progress)
        self.memory_limit_bytes = int(memory_limit_bytes)
        self.memory: dict[str, dict[bytes, np.ndarray]] = {}
        self.models = Path(models) if models is not None else (self.root.parent / "models" if self.root else None)

    def cache(self, model_key: str) -> "RowCache":
        return RowCache(model_key, self)

    def memory_bytes(self) -> int:
        return sum(v.nbytes for m in self.memory.values() for v in m.values())

    def __getstate__(self) -> dict:
        # A pickled generator (feature cache, run folder) must not carry a memory cache's vectors along.
        return {**self.__dict__, "memory": {}}

    def __repr__(self) -> str:
        return f"RowStore({str(self.root) if self.root else 'memory'!r})"


class RowCache:
    """Vectors of one model key, looked up by row hash; misses are computed in batches and stored."""

    def __init__(self, model_key: str, store: RowStore | str | os.PathLike | None = None) -> None:
        self.model_key = model_key
        self.store = store if isinstance(store, RowStore) else RowStore(store)
        root = self.store.root
        self.dir = root / hashlib.sha256(model_key.encode()).hexdigest()[:24] if root is not None else None

    # ------------------------------------------------------------------------------------------------ reading
    def _load(self, index: dict[bytes, int], put: Callable[[np.ndarray, np.ndarray], None],
              done: np.ndarray) -> None:
        """Hand every cached vector of the keys in `index` (key -> its number) to `put(numbers, vectors)`, one
        shard at a time, marking them in `done`: only one shard's vectors are in memory besides the result."""
        if self.dir is None:
            mem = self.store.memory.get(self.model_key, {})
            hits = [(u, mem[k]) for k, u in index.items() if k in mem]
            if hits:
                nums = np.array([u for u, _ in hits], dtype=np.int64)
                put(nums, np.stack([v for _, v in hits]))
                done[nums] = True
            return
        if not self.dir.is_dir():
            return
        for keys_path in sorted(self.dir.glob("*.keys.npy")):
            shard = _read_shard(keys_path)
            if shard is None:  # corrupt: reported and removed, its rows are recomputed
                continue
            keys, vals = shard
            nums, rows = [], []
            for i, k in enumerate(keys.tolist()):
                u = index.get(k.ljust(KEY_BYTES, b"\0"))  # numpy's fixed-width bytes drop trailing NUL bytes
                if u is not None and not done[u]:
                    done[u] = True
                    nums.append(u)
                    rows.append(i)
            if nums:
                put(np.array(nums, dtype=np.int64), vals[rows])
            if done.all():
                break

    # ------------------------------------------------------------------------------------------------ writing
    def _store(self, keys: list[bytes], values: np.ndarray) -> None:
        if not keys:
            return
        if values.dtype == object:  # texts (captions, transcripts): None marks a row that failed
            ok = np.array([isinstance(v, str) for v in values], dtype=bool)
            values = np.array([v if isinstance(v, str) else "" for v in values], dtype=str)
        else:
            values = np.ascontiguousarray(values, dtype=np.float32)
        # Rows that failed (NaN, e.g. an undecodable image) are not stored: they are retried, and warned about, again.
        if values.dtype.kind != "U":
            ok = np.isfinite(values).all(axis=1) if values.ndim == 2 else np.ones(len(keys), dtype=bool)
        if not ok.all():
            keys = [k for k, good in zip(keys, ok) if good]
            values = values[ok]
            if not keys:
                return
        if self.dir is None:
            memory = self.store.memory
            if self.store.memory_bytes() + values.nbytes > self.store.memory_limit_bytes:
                memory.clear()  # a memory-only cache is a convenience; start afresh rather than grow unbounded
            mem = memory.setdefault(self.model_key, {})
            mem.update(zip(keys, values))
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        info = self.dir / "model.txt"
        if not info.exists():
            atomic_write(info, self.model_key + "\n")
        shard = uuid.uuid4().hex
        vals_bytes, keys_bytes = _npy_bytes(values), _npy_bytes(np.array(keys, dtype=f"S{KEY_BYTES}"))
        atomic_write(self.dir / f"{shard}.vals.npy", vals_bytes)
        atomic_write(self.dir / f"{shard}.sha256", f"{sha256_hex(vals_bytes)} {sha256_hex(keys_bytes)}\n")
        atomic_write(self.dir / f"{shard}.keys.npy", keys_bytes)

    # ------------------------------------------------------------------------------------------------- public
    def get_or_compute(
        self,
        keys: list[bytes],
        compute: Callable[[list[int]], np.ndarray],
        *,
        batch_size: int = 256,
        text: bool = False,
        on_misses: Callable[[int], None] | None = None,
    ) -> tuple[np.ndarray | None, int, int]:
        """Vectors for `keys` (rows x dim), computing misses with `compute(positions)` in batches of `batch_size`;
        with `text`, one string per key instead (an object array; `compute` returns str, or None for a failed row).
        `on_misses(n)` is told how many distinct rows are about to be computed, once, before the first batch.

        Duplicate keys (identical rows) are encoded once. Returns the matrix (None when there are no rows), the
        number of rows whose vector was computed in this call and the number taken from the cache (they add up to
        the number of rows). Cached and computed vectors go straight into the result matrix: at 305k rows of a
        1,280-wide image block that is one 1.6 GB array, not a second copy of it in per-row pieces.
        """
        if not keys:
            return None, 0, 0
        index: dict[bytes, int] = {}  # distinct key -> its number, in order of first appearance
        inverse = np.fromiter((index.setdefault(k, len(index)) for k in keys), dtype=np.int64, count=len(keys))
        first = np.unique(inverse, return_index=True)[1]  # position of each distinct key's first row
        done = np.zeros(len(index), dtype=bool)
        out: list[np.ndarray] = []

        def put(nums: np.ndarray, vals: np.ndarray) -> None:
            if not out:
                out.append(np.empty((len(keys), *vals.shape[1:]), dtype=object if text else np.float32))
            out[0][first[nums]] = vals

        self._load(index, put, done)
        missing = np.flatnonzero(~done)
        if on_misses is not None and len(missing):
            on_misses(len(missing))
        unique = list(index)
        step = max(int(batch_size), 1)
        for lo in range(0, len(missing), step):
            chunk = missing[lo : lo + step]
            got = compute(first[chunk].tolist())
            vals = np.array(list(got), dtype=object) if text else np.asarray(got, dtype=np.float32)
            if vals.shape[0] != len(chunk):
                raise RuntimeError(f"encoder {self.model_key!r} returned {vals.shape[0]} rows for {len(chunk)} inputs")
            self._store([unique[u] for u in chunk], vals)
            put(chunk, vals)
        E = out[0]
        dup = np.flatnonzero(first[inverse] != np.arange(len(keys)))
        if len(dup):
            E[dup] = E[first[inverse[dup]]]
        computed = int(np.isin(inverse, missing).sum()) if len(missing) else 0
        return E, computed, len(keys) - computed


def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def _read_shard(keys_path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """(keys, vectors) of one shard, or None when it is unreadable or fails its checksums (then it is deleted)."""
    stem = keys_path.name[: -len(".keys.npy")]
    vals_path, sum_path = keys_path.with_name(f"{stem}.vals.npy"), keys_path.with_name(f"{stem}.sha256")
    try:
        keys_bytes, vals_bytes = keys_path.read_bytes(), vals_path.read_bytes()
    except OSError:
        return None
    got = f"{sha256_hex(vals_bytes)} {sha256_hex(keys_bytes)}"
    try:
        want = sum_path.read_text().strip()
    except FileNotFoundError:  # written before shards had checksums: adopt it (its rows cost an encoder pass each)
        want = got
        try:
            atomic_write(sum_path, got + "\n")
        except OSError:
            pass
    except OSError:
        return None
    try:
        keys = np.load(io.BytesIO(keys_bytes)) if want == got else None
        vals = np.load(io.BytesIO(vals_bytes)) if want == got else None
    except (OSError, ValueError):
        keys = vals = None
    if keys is None or vals is None or len(keys) != len(vals):
        warnings.warn(f"row cache shard {keys_path.parent / stem} is corrupt (its bytes do not match its checksums "
                      "or cannot be read); its rows are embedded again", stacklevel=3)
        for path in (keys_path, vals_path, sum_path):
            path.unlink(missing_ok=True)
        return None
    return keys, vals
