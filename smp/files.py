"""The one place files and folders are written safely: atomic replace, exclusive create, staged folders.

Every writer of the project goes through these (feature and row caches, run folders, registry state, ablation
summaries, submissions), so a killed process never leaves a half-written file or a folder that looks finished:

- `atomic_write(path, data)`: a temporary file in the same folder, then `os.replace` (readers see the old file or
  the new one, never a mix);
- `write_exclusive(path, text)`: the same, but refuses to replace an existing file (`FileExistsError`);
- `new_folder(out, parent, stem)`: the folder a job creates: `out` when it is new or empty, else a new
  `<parent>/<timestamp>-<stem>` that no finished folder, live writer or resumable unfinished job holds;
- `staged_dir(final)`: build a folder under `.<name>.tmp-<pid>` beside `final` (claimed by this process: a second
  live writer of the same folder gets a clean `FolderBusy`, staging folders of dead processes are removed) and
  rename it into place when the block ends without error, optionally with a manifest of checksums; on error the
  temporary folder is removed. A job that must survive being killed and resume (an ablation) builds its folder
  under `partial_name(final)` instead, kept on error, and renames it at the end.
"""

from __future__ import annotations

import errno
import glob
import hashlib
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import tempfile
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

log = logging.getLogger("smp")

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


MANIFEST = "manifest.json"  # size and sha256 of every file of a staged folder, written last, just before the rename
CLAIM = ".smp-claim.json"  # inside a staging folder: which process is writing it
STAGING = re.compile(r"^\.(?P<name>.+)\.tmp-(?P<pid>\d+)$")


class FolderBusy(FileExistsError):
    """Another live process is writing the same folder (or wrote it first)."""


def staging_name(final: str | os.PathLike, pid: int | None = None) -> Path:
    """The temporary folder `staged_dir` builds `final` in: `.<name>.tmp-<pid>` beside it."""
    final = Path(final)
    return final.with_name(f".{final.name}.tmp-{os.getpid() if pid is None else pid}")


@contextmanager
def staged_dir(final: str | os.PathLike, *, manifest: bool = False) -> Iterator[Path]:
    """Yield an empty temporary folder beside `final`; rename it to `final` when the block succeeds, remove it when
    it fails. `final` must not exist, or be an empty folder (then it is replaced).

    Before any work: staging folders in the same parent whose process is gone (killed jobs) are removed, and a live
    process staging the same `final` makes this raise `FolderBusy` at once; the folder is claimed (a claim file
    names this process). At the end, `manifest` writes `manifest.json` (size and sha256 of every file, so readers
    can tell a damaged folder), then the rename; a `final` another process created meanwhile is a `FolderBusy`.
    """
    final = Path(final)
    check_free(final)
    parent = final.parent
    parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(parent)
    busy = live_claims(parent, final.name)
    if busy:
        raise FolderBusy(f"another smp process (pid {busy[0]}) is writing {final}; wait for it to finish or "
                         "choose another folder")
    tmp = staging_name(final)
    shutil.rmtree(tmp, ignore_errors=True)  # an earlier failed attempt of this very process
    tmp.mkdir()
    (tmp / CLAIM).write_text(json.dumps(_me()))
    # Two processes may have looked at the same moment: the one with the lower pid keeps the name.
    rivals = [pid for pid in live_claims(parent, final.name) if pid < os.getpid()]
    if rivals:
        shutil.rmtree(tmp, ignore_errors=True)
        raise FolderBusy(f"another smp process (pid {rivals[0]}) started writing {final} at the same moment; "
                         "choose another folder")
    try:
        yield tmp
        (tmp / CLAIM).unlink(missing_ok=True)
        if manifest:
            files = {p.relative_to(tmp).as_posix(): {"bytes": p.stat().st_size, "sha256": file_sha256(p)}
                     for p in sorted(tmp.rglob("*")) if p.is_file()}
            (tmp / MANIFEST).write_text(json.dumps({"files": files}, indent=1) + "\n")
        try:
            if final.is_dir() and not any(final.iterdir()):
                final.rmdir()
            os.rename(tmp, final)
        except OSError as e:
            if e.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):
                raise FolderBusy(f"{final} was written by another smp process while this one was running; these "
                                 "results are not kept: rerun with another folder") from None
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # nothing half-written stays behind (gone already after the rename)


def check_free(final: str | os.PathLike) -> Path:
    """`final` if nothing is there or it is an empty folder; else a `FileExistsError` (nothing is overwritten)."""
    final = Path(final)
    if final.exists() and (not final.is_dir() or any(final.iterdir())):
        raise FileExistsError(f"{final} already exists and is not empty; refusing to overwrite it")
    return final


def partial_name(final: str | os.PathLike) -> Path:
    """The resumable work folder of `final`: `.<name>.partial` beside it (kept when the job is killed)."""
    final = Path(final)
    return final.with_name(f".{final.name}.partial")


def new_folder(out: str | os.PathLike | None, parent: str | os.PathLike, stem: str) -> Path:
    """The folder a job writes: `out` when given (new or empty, see `check_free`), else a new
    `<parent>/<UTC timestamp>-<stem>` (with `-2`, `-3`, ... when taken: by a folder, by a live process staging it,
    or by an unfinished resumable job's `partial_name`)."""
    if out is not None:
        return check_free(out)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    base = Path(parent) / f"{stamp}-{stem}"
    path, i = base, 2
    while path.exists() or partial_name(path).exists() or live_claims(path.parent, path.name):
        path, i = base.with_name(f"{base.name}-{i}"), i + 1
    return path


def remove_stale_staging(parent: Path) -> list[Path]:
    """Remove staging folders in `parent` whose process is gone (killed jobs); returns what was removed.

    Only folders this code writes are touched: those holding a claim file, and (from before claim files) hidden
    `.NAME.tmp-PID` run folders that hold run files.
    """
    removed = []
    if not parent.is_dir():
        return removed
    for path in parent.iterdir():
        m = STAGING.match(path.name)
        if not m or not path.is_dir():
            continue
        info = claim_of(path)
        if info is None:
            if not ((path / "config.resolved.toml").exists() or (path / "models").is_dir()):
                continue
            info = {"pid": int(m.group("pid")), "host": socket.gethostname()}
        if alive(info):
            continue
        shutil.rmtree(path, ignore_errors=True)
        log.warning("removed %s: the temporary folder of a job whose process (pid %s) is gone", path, info["pid"])
        removed.append(path)
    return removed


def live_claims(parent: Path, name: str) -> list[int]:
    """Pids of other live processes staging `parent/name` (this process excluded)."""
    pids = []
    for path in parent.glob(f".{glob.escape(name)}.tmp-*"):
        m = STAGING.match(path.name)
        if not m or m.group("name") != name or int(m.group("pid")) == os.getpid():
            continue
        info = claim_of(path) or {"pid": int(m.group("pid")), "host": socket.gethostname()}
        if alive(info):
            pids.append(int(m.group("pid")))
    return sorted(pids)


def claim_of(path: Path) -> dict | None:
    """The claim (pid, host, start time) of a staging folder, None when it has none."""
    try:
        info = json.loads((path / CLAIM).read_text())
        return info if isinstance(info, dict) and "pid" in info else None
    except (OSError, ValueError):
        return None


def alive(info: dict) -> bool:
    """Is the claiming process still running? Another host's process cannot be checked: taken as alive."""
    if info.get("host") != socket.gethostname():
        return True
    pid = int(info["pid"])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    started = info.get("started")
    return started is None or _process_start(pid) in (None, started)  # a reused pid has another start time


def _me() -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname(), "started": _process_start(os.getpid())}


def _process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), to tell a reused pid from the original."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def sha256_hex(data: bytes) -> str:
    """Hex sha256 of bytes (cache entries and row-cache shards store it beside them to detect corruption)."""
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes, read in blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


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
