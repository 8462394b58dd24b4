"""The model registry: versioned finished runs with manifests, and the champion pointer.

    registry/
      registry.json            the state: committed versions, the champion, the history of switches
      v0001/manifest.json      config, data fingerprint, code version, metrics, parent, validation, created
      v0001/run/               the finished run folder (what `smp predict` loads)
      .staging/<job>/          a job in progress (never listed; removed by the next job)
      .retrain.lock            held by `smp retrain` and `smp registry rollback` (never two at once)

`registry.json` is the single source of truth and is only ever replaced whole (temporary file + `os.replace`,
atomic on POSIX). A new version is built under `.staging/`, renamed to `vNNNN/` (still not listed), and becomes
part of the registry (and, when promoted, the champion) in one `os.replace` of `registry.json`. A job killed at
any point therefore leaves either the previous state or the complete new one; folders of killed jobs that never
reached the commit are ignored by every reader and deleted by the next job that holds the lock.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from smp.files import atomic_write, json_text

STATE = "registry.json"
LOCK = ".retrain.lock"
_VERSION = re.compile(r"^v(\d{4,})$")
FAULT_ENV = "SMP_FAULT"  # tests: name a fault point to SIGKILL the process there (see `fault_point`)


class RegistryError(ValueError):
    """A registry request that cannot be served (unknown version, no champion, corrupt state)."""


class RegistryLocked(RuntimeError):
    """Another job holds the registry lock."""


def fault_point(name: str) -> None:
    """Fault injection for the kill tests: `SMP_FAULT=name` kills this process here with SIGKILL (no cleanup
    handlers run, as with `kill -9` or an out-of-memory kill)."""
    if os.environ.get(FAULT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def now_utc() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@contextmanager
def registry_lock(path: str | os.PathLike) -> Iterator[Path]:
    """Hold an exclusive, non-blocking lock on `path` (flock: released by the OS if the process dies)."""
    from filelock import FileLock, Timeout

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise RegistryLocked(f"another job holds the lock {path}; not starting a second one "
                             "(it is released when that job ends or dies)") from None
    try:
        yield path
    finally:
        lock.release()


def _atomic_json(path: Path, obj: Any) -> None:
    atomic_write(path, json_text(obj), fsync=True)


class Registry:
    """A registry folder; created on first write. Readers never see uncommitted versions."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    # --- reading -------------------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        path = self.root / STATE
        if not path.is_file():
            return {"versions": [], "champion": None, "history": []}
        try:
            state = json.loads(path.read_text())
        except json.JSONDecodeError as e:  # cannot happen through os.replace; a hand edit can break it
            raise RegistryError(f"{path}: not valid JSON ({e}); restore it from the version folders' manifests") from e
        if not isinstance(state.get("versions"), list):
            raise RegistryError(f"{path}: 'versions' must be a list, got {state.get('versions')!r}")
        return state

    def versions(self) -> list[str]:
        return list(self.state()["versions"])

    def champion(self) -> str | None:
        return self.state().get("champion")

    def check(self, version: str) -> str:
        versions = self.versions()
        if version == "champion":
            champ = self.champion()
            if champ is None:
                raise RegistryError(f"registry {self.root} has no champion yet (run `smp retrain` first)")
            return champ
        if version not in versions:
            raise RegistryError(f"registry {self.root} has no version {version!r}; versions: {versions or 'none'}")
        return version

    def manifest(self, version: str) -> dict[str, Any]:
        version = self.check(version)
        return json.loads((self.root / version / "manifest.json").read_text())

    def run_dir(self, version: str = "champion") -> Path:
        """The finished run folder of a version (default: the champion's)."""
        return self.root / self.check(version) / "run"

    # --- writing (callers hold the lock) ------------------------------------------------------------------
    def lock(self, lock_file: str | os.PathLike | None = None):
        return registry_lock(lock_file or self.root / LOCK)

    def clean(self) -> list[Path]:
        """Remove what killed jobs left: staging folders and version folders never committed."""
        removed = []
        committed = set(self.versions())
        staging = self.root / ".staging"
        for p in sorted(staging.iterdir()) if staging.is_dir() else []:
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
        for p in sorted(self.root.iterdir()) if self.root.is_dir() else []:
            if p.is_dir() and _VERSION.match(p.name) and p.name not in committed:
                shutil.rmtree(p, ignore_errors=True)
                removed.append(p)
        return removed

    def stage(self) -> Path:
        """A fresh staging folder for one job."""
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        path = self.root / ".staging" / f"{stamp}-{os.getpid()}"
        path.mkdir(parents=True)
        return path

    def next_version(self) -> str:
        taken = [int(m.group(1)) for p in (self.root.iterdir() if self.root.is_dir() else [])
                 if (m := _VERSION.match(p.name))]
        taken += [int(_VERSION.match(v).group(1)) for v in self.versions()]
        return f"v{max(taken, default=0) + 1:04d}"

    def commit(self, staging: Path, manifest: dict[str, Any], *, promote: bool) -> str:
        """Turn a staging folder (holding `run/`) into the next version; switch the champion when `promote`.

        The only step that changes what readers see is the final `os.replace` of `registry.json`.
        """
        state = self.state()
        version = self.next_version()
        manifest = {**manifest, "version": version, "promoted": bool(promote)}
        (staging / "manifest.json").write_text(json_text(manifest))
        fault_point("before_version")
        os.rename(staging, self.root / version)  # not listed yet: registry.json does not name it
        entry = {"at": now_utc(), "event": "add", "version": version, "champion": state.get("champion")}
        new = {
            "versions": [*state["versions"], version],
            "champion": version if promote else state.get("champion"),
            "history": [*state.get("history", []), entry],
        }
        if promote:
            entry.update(event="promote", champion=version, previous=state.get("champion"))
        fault_point("before_switch")
        _atomic_json(self.root / STATE, new)
        fault_point("after_switch")
        return version

    def rollback(self, version: str) -> str:
        """Make an earlier committed version the champion again (recorded in the history)."""
        version = self.check(version)
        state = self.state()
        previous = state.get("champion")
        state["champion"] = version
        state.setdefault("history", []).append(
            {"at": now_utc(), "event": "rollback", "champion": version, "previous": previous})
        _atomic_json(self.root / STATE, state)
        return version

    # --- presenting ---------------------------------------------------------------------------------------
    def table(self) -> list[dict[str, Any]]:
        """One summary row per committed version, oldest first."""
        champ = self.champion()
        rows = []
        for v in self.versions():
            m = self.manifest(v)
            val = m.get("validation", {})
            rows.append({
                "version": v, "champion": v == champ, "created": m.get("created"), "parent": m.get("parent"),
                "promoted": m.get("promoted"), "metric": val.get("metric"), "challenger": val.get("challenger"),
                "champion_score": val.get("champion"), "window_rows": val.get("rows"),
                "train_rows": m.get("data", {}).get("rows", {}).get("train"),
                "data": str(m.get("data", {}).get("fingerprint", ""))[:12], "retuned": m.get("retuned"),
            })
        return rows
