"""Models built from other models (a distilled model2vec embedding, an ONNX export), cached as folders.

Distilling MiniLM into a model2vec model or exporting it to ONNX costs seconds to a minute and gives the same folder
every time for the same source, so the folder is built once and reused by every later run. It lives next to the
row cache: ``<cache_dir>/rows`` holds row vectors, ``<cache_dir>/models/<kind>-<hash>/`` the built models (the run's
`RowStore.models`), where the hash covers everything the build depends on (source model identity, build
parameters, library versions).

A folder is built under a temporary name in the same parent and renamed into place, so a killed build never leaves
a folder that a later run would load. A build holds a lock file beside the folder (an OS lock, released if the
builder dies), so a second process that needs the same model waits for the first and loads its folder instead of
building a copy: several runs or test workers sharing one models folder distil MiniLM once, not once each. With no
folder (a memory-only row store: tests, notebooks) models are built into one temporary folder per process, removed
at exit.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from filelock import FileLock

IDENTITY_FILE = "smp_identity.txt"  # written last inside a built folder: what it was built from


@functools.lru_cache(maxsize=1)
def _process_root() -> Path:
    root = Path(tempfile.mkdtemp(prefix="smp-models-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return root


def cached_model_dir(kind: str, identity: str, build: Callable[[Path], None], root: Path | None) -> Path:
    """The folder of the model `identity` under `root`, calling `build(folder)` only when it is not cached yet.

    `kind` names the folder (``<kind>-<hash of identity>``); `build` writes the model's files into the empty folder
    it is given. The identity is written into the folder as its last file and checked on reuse. `root` None: this
    process's temporary folder.
    """
    root = Path(root) if root is not None else _process_root()
    final = root / f"{kind}-{hashlib.sha256(identity.encode()).hexdigest()[:16]}"
    if _complete(final, identity):
        return final
    root.mkdir(parents=True, exist_ok=True)
    lock = root / f".{final.name}.lock"
    with FileLock(str(lock)):
        if not _complete(final, identity):  # else built by the process that held the lock before us
            _build(final, identity, build)
        # Whoever holds the lock with the folder complete removes the lock file, so none is left once every waiter
        # has passed (a waiter polling meanwhile locks a new file and removes that one); a failed build's stays.
        lock.unlink(missing_ok=True)
    return final


def _build(final: Path, identity: str, build: Callable[[Path], None]) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".partial", dir=final.parent))
    try:
        build(tmp)
        (tmp / IDENTITY_FILE).write_text(identity + "\n")
        try:
            os.rename(tmp, final)
        except OSError as e:  # a folder is there that no lock holder built (a non-empty target stays)
            if not _complete(final, identity):
                raise RuntimeError(f"model cache folder {final} exists but was not built from {identity!r} "
                                   f"(no matching {IDENTITY_FILE}); remove it to rebuild") from e
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _complete(folder: Path, identity: str) -> bool:
    marker = folder / IDENTITY_FILE
    return marker.is_file() and marker.read_text().strip() == identity
