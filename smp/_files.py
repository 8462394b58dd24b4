"""The one place files and folders are written safely: atomic replace, exclusive create, staged folders.

Every writer of the project goes through these (feature and row caches, run folders, registry state, ablation
summaries, submissions), so a killed process never leaves a half-written file or a folder that looks finished:

- `atomic_write(path, data)`: a temporary file in the same folder, then `os.replace` (readers see the old file or
  the new one, never a mix);
- `write_exclusive(path, text)`: the same, but refuses to replace an existing file (`FileExistsError`);
- `staged_dir(final)`: build a folder under `.<name>.tmp-<pid>` beside `final` and rename it into place when the
  block ends without error; on error the temporary folder is removed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

Writer = Callable[[str], None]


def atomic_write(path: str | os.PathLike, data: str | bytes | Writer, *, mode: int = 0o644, fsync: bool = False) -> Path:
    """Write `data` (text, bytes, or a function that writes the temporary path it is given) to `path` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        if callable(data):
            os.close(fd)
            data(tmp)
        else:
            with os.fdopen(fd, "wb") as f:
                f.write(data.encode() if isinstance(data, str) else data)
                if fsync:
                    f.flush()
                    os.fsync(f.fileno())
        os.chmod(tmp, mode)  # mkstemp makes the file private; outputs are meant to be read by others
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_exclusive(path: str | os.PathLike, data: str | bytes) -> Path:
    """Write a new file atomically; an existing file is never overwritten (`FileExistsError` names it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        os.chmod(tmp, 0o644)
        try:
            os.link(tmp, path)  # atomic, and fails if `path` exists
        except FileExistsError:
            raise FileExistsError(f"{path} already exists; refusing to overwrite it") from None
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def staging_name(final: str | os.PathLike, pid: int | None = None) -> Path:
    """The temporary folder `staged_dir` builds `final` in: `.<name>.tmp-<pid>` beside it."""
    final = Path(final)
    return final.with_name(f".{final.name}.tmp-{os.getpid() if pid is None else pid}")


@contextmanager
def staged_dir(final: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary folder; rename it to `final` when the block succeeds, remove it when it fails.

    `final` must not exist, or be an empty folder (then it is replaced). Raises `FileExistsError` before any work
    when it is not, and again at the end if another process created it meanwhile.
    """
    final = Path(final)
    _check_free(final)
    tmp = staging_name(final)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
        _check_free(final)
        if final.is_dir():
            final.rmdir()
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # nothing half-written stays behind
        raise


def _check_free(final: Path) -> None:
    if final.exists() and (not final.is_dir() or any(final.iterdir())):
        raise FileExistsError(f"{final} already exists and is not empty; refusing to overwrite it")


def code_version() -> str:
    """`git describe` of the code when it is a checkout, else the installed package version."""
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty", "--tags"], capture_output=True, text=True,
                             cwd=Path(__file__).parent, timeout=5)
        if out.returncode == 0 and out.stdout.strip():
            return f"git:{out.stdout.strip()}"
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        from importlib.metadata import version

        return f"smp=={version('smp')}"
    except Exception:
        return "unknown"


def json_text(obj) -> str:
    """Indented JSON of run outputs: NumPy scalars become numbers, non-finite floats become null (strict JSON
    readers reject NaN / Infinity), anything else unknown its str()."""
    import json
    import math

    import numpy as np

    def clean(v):
        if isinstance(v, dict):
            return {str(k): clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        if isinstance(v, np.generic):
            v = v.item()
        if isinstance(v, float) and not math.isfinite(v):
            return None
        return v

    return json.dumps(clean(obj), indent=2, default=str, allow_nan=False) + "\n"
