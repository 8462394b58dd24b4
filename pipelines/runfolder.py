"""Write the documented files of a run folder: data/feature descriptions, metrics, predictions, importances,
fitted objects, plots and the markdown report."""

from __future__ import annotations

import errno
import glob
import hashlib
import json
import logging
import os
import platform
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from smp.ensembles import CVResult, fold_ids
from smp.features import FeatureSet, fingerprint_frame

from .config import RunConfig

log = logging.getLogger("smp")


def _json(path: Path, obj) -> None:
    """Strict JSON: a non-finite float is written as null, never as the `Infinity` / `NaN` JSON has no word for."""
    path.write_text(json.dumps(_finite(obj), indent=2, default=_jsonable, allow_nan=False) + "\n")


def _finite(v):
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_finite(x) for x in v]
    if isinstance(v, (float, np.floating)):
        return float(v) if np.isfinite(v) else None
    return v


def _jsonable(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, float) and not np.isfinite(v):
        return None
    return str(v)


def _code_version() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, timeout=5).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def metrics_table(results: dict[str, CVResult], level1: dict[str, CVResult]) -> pd.DataFrame:
    rows = []
    for name, r in results.items():
        fold_src = [f["src"] for f in r.fold_scores]
        rows.append({"model": name, "level": 1 if name in level1 else int(name.rsplit("_", 1)[-1]),
                     **{k: r.scores[k] for k in ("src", "mae", "mse", "mape")},
                     "src_fold_std": float(np.nanstd(fold_src)), "rows": r.scores["n"],
                     "seconds": r.info.get("seconds", float("nan"))})
    return pd.DataFrame(rows)


def importance_table(level1: dict[str, CVResult], fs: FeatureSet) -> pd.DataFrame:
    """Gain importance per feature: each model's fold mean normalised to sum 1, then averaged over models."""
    cols = {}
    for name, r in level1.items():
        imp = r.importances.mean(axis=1)
        total = imp.sum()
        if total > 0:
            cols[name] = imp / total
    if not cols:
        return pd.DataFrame(columns=["feature", "generator", "group", "importance"])
    table = pd.DataFrame(cols).fillna(0.0)
    table["importance"] = table.mean(axis=1)
    table = table.sort_values("importance", ascending=False)
    table.insert(0, "feature", table.index)
    table.insert(1, "generator", [fs.columns.get(c, {}).get("generator", "") for c in table.index])
    table.insert(2, "group", [fs.columns.get(c, {}).get("group", "") for c in table.index])
    return table.reset_index(drop=True)


def write_run_folder(
    d: Path, *, cfg: RunConfig, frame: pd.DataFrame, train: pd.DataFrame, test: pd.DataFrame, y: np.ndarray,
    folds, fs: FeatureSet, results: dict[str, CVResult], level1: dict[str, CVResult], final: str, fitted,
    timings: dict[str, float], peak_rss_mb: float, data_path: str | None, labels_permuted: bool = False,
) -> None:
    (d / "models").mkdir(parents=True)
    (d / "plots").mkdir()
    (d / "config.resolved.toml").write_text(cfg.to_toml())
    times = frame["post_time"]
    _json(d / "data.json", {
        "format": cfg.data.format, "path": data_path, "fingerprint": fingerprint_frame(frame),
        "labels_permuted": labels_permuted,
        "rows": {"total": len(frame), "train": len(train), "test": len(test)},
        "users": int(frame["user_id"].nunique()),
        "time_range": [str(times.min()), str(times.max())],
        "label": {"mean": float(np.mean(y)), "std": float(np.std(y)), "min": float(np.min(y)), "max": float(np.max(y))},
    })
    _json(d / "features.json", {
        "generators": [{"name": g.name, "group": g.group, "version": g.version, "uses_target": g.uses_target,
                        "params": g.get_params(), **_row_counts(g)} for g in fs.static_generators + fs.target_generators],
        "columns": fs.columns,
        "categorical": fs.categorical_columns(),
        "cache": {"static_generators": len(fs.static_generators), "from_cache": fs.cache_hits},
    })
    table = metrics_table(results, level1)
    _json(d / "metrics.json", {
        "final": final, "metric": cfg.metric, "cv": {"scheme": cfg.cv.scheme, "n_splits": cfg.cv.n_splits},
        "models": {name: {"overall": r.scores, "folds": r.fold_scores} for name, r in results.items()},
        "blend_weights": {k: r.models[0].feature_importance().to_dict() for k, r in results.items()
                          if k.startswith("blend_")},
        "timings_s": timings, "peak_rss_mb": peak_rss_mb,
        "environment": {"python": platform.python_version(), "code_version": _code_version()},
    })
    oof = pd.DataFrame({"post_id": train["post_id"], "label": y, "fold": fold_ids(folds, len(y))})
    for name, r in results.items():
        oof[name] = r.oof
    oof["final"] = results[final].oof
    oof.to_parquet(d / "oof.parquet", index=False)
    tp = pd.DataFrame({"post_id": test["post_id"]})
    for name, r in results.items():
        tp[name] = r.test_pred
    tp["final"] = results[final].test_pred
    tp.to_parquet(d / "test_pred.parquet", index=False)
    imp = importance_table(level1, fs)
    imp.to_csv(d / "importance.csv", index=False)
    joblib.dump(fitted, d / "models" / "fitted.joblib", compress=3)
    train.to_parquet(d / "models" / "train_posts.parquet", index=False)

    from .report import plot_importance, plot_predictions, write_report

    plot_predictions(y, results[final].oof, d / "plots" / "pred_vs_true.png", title=f"{cfg.name}: {final} (OOF)")
    plot_importance(imp, d / "plots" / "importance.png")
    write_report(d / "report.md", cfg=cfg, table=table, final=final, imp=imp, timings=timings,
                 peak_rss_mb=peak_rss_mb, n_train=len(train), n_test=len(test), n_features=fs.static.shape[1])


def _row_counts(gen) -> dict[str, int]:
    """Embedding generators: rows embedded in this run vs taken from the per-row cache (features/_rowcache.py)."""
    if not hasattr(gen, "rows_computed_"):
        return {}
    return {"rows_computed": int(gen.rows_computed_), "rows_cached": int(gen.rows_cached_)}


# ------------------------------------------------------------------------------------------------------------------
# Destinations, claiming, publishing and checking run folders (issue 13): every problem visible up front is found
# before any data is loaded; a folder is only ever a finished run or a temporary folder with a live or dead owner.

# What `smp predict` (and analyze / retrain) needs from a finished run folder.
FINISHED_RUN_FILES = ("config.resolved.toml", "data.json", "features.json", "metrics.json", "oof.parquet",
                      "test_pred.parquet", "models/fitted.joblib", "models/train_posts.parquet")
MODEL_FILES = ("models/fitted.joblib", "models/train_posts.parquet")  # what `load_fitted` reads
MANIFEST = "manifest.json"  # sha256 and size of every file, written last, just before the folder is renamed in
CLAIM = ".smp-claim.json"  # inside a temporary run folder: which process is writing it
TMP_NAME = re.compile(r"^\.(?P<name>.+)\.tmp-(?P<pid>\d+)$")


class RunFolderError(ValueError):
    """A destination that cannot be written, or a folder that is not a finished, intact run; says what is wrong."""


class RunFolderBusy(FileExistsError):
    """Another live `smp run` is writing the same run folder."""


def check_destinations(cfg: RunConfig, final_dir: Path, *, submit: bool) -> None:
    """Everything a run will write, checked before any data is loaded: the run folder's parent, the cache and (when
    it submits) the submissions folder must be writable, and the submission's name must be free."""
    default = final_dir.parent == Path(cfg.output.runs_dir)
    check_writable(final_dir.parent, "[output].runs_dir" if default else "the run folder's parent")
    check_writable(Path(cfg.output.cache_dir), "[output].cache_dir")
    if submit:
        sub = Path(cfg.output.submissions_dir) / f"{final_dir.name}.json"
        if sub.exists():
            raise FileExistsError(f"{sub} already exists (a run named {final_dir.name!r} was submitted before); "
                                  "choose another --out or name, or move that file away")
        check_writable(sub.parent, "[output].submissions_dir")


def check_writable(path: Path, what: str) -> None:
    """Raise `RunFolderError` unless `path` (or, when it does not exist yet, its nearest existing ancestor) is a
    folder this process can create files in. Tried for real with a probe file: permission bits say nothing for
    root, a read-only mount or an immutable folder."""
    path = Path(path)
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise RunFolderError(f"{what} {path}: cannot create it, {existing} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".smp-write-probe-")
    except OSError as e:
        raise RunFolderError(f"{what} {path}: cannot write in {existing} ({e.strerror}); "
                             "choose a writable folder") from None
    os.close(fd)
    os.unlink(probe)


@contextmanager
def claim_run_dir(final_dir: Path, *, renumber: bool = False) -> Iterator[tuple[Path, Path]]:
    """Claim `final_dir` for this process: yields (final_dir, its temporary folder) and removes the temporary
    folder on the way out (after `publish_run_dir` it is gone already).

    Temporary folders in the same parent whose process is gone (a killed run) are removed first. A live run writing
    the same folder makes this raise `RunFolderBusy` at once, or, with `renumber` (a default timestamped name),
    picks the next free name, so two runs never discover the clash only after training.
    """
    final_dir = Path(final_dir)
    parent = final_dir.parent
    parent.mkdir(parents=True, exist_ok=True)
    remove_stale_tmp_dirs(parent)
    base, i = final_dir, 2
    while True:
        busy = _live_claims(parent, final_dir.name)
        if not busy and not (renumber and final_dir.exists()):
            break
        if not renumber:
            raise RunFolderBusy(f"another smp run (pid {busy[0]}) is writing {final_dir}; wait for it to finish or "
                                "choose another --out")
        final_dir, i = base.with_name(f"{base.name}-{i}"), i + 1
    tmp = parent / f".{final_dir.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)  # an earlier failed attempt of this very process
    tmp.mkdir()
    (tmp / CLAIM).write_text(json.dumps(_me()))
    # Two runs may have looked at the same moment: the one with the lower pid keeps the name.
    rivals = [pid for pid in _live_claims(parent, final_dir.name) if pid < os.getpid()]
    if rivals:
        shutil.rmtree(tmp, ignore_errors=True)
        raise RunFolderBusy(f"another smp run (pid {rivals[0]}) started writing {final_dir} at the same moment; "
                            "choose another --out")
    try:
        yield final_dir, tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def publish_run_dir(tmp: Path, final_dir: Path) -> Path:
    """Write the manifest (size and sha256 of every file) and rename `tmp` into place as `final_dir`.

    `final_dir` may exist only as an empty folder (`--out` named one); anything else there means another run got
    there first, which is a `RunFolderBusy` naming the folder, never an OSError traceback.
    """
    (tmp / CLAIM).unlink(missing_ok=True)
    files = {p.relative_to(tmp).as_posix(): {"bytes": p.stat().st_size, "sha256": _sha256(p)}
             for p in sorted(tmp.rglob("*")) if p.is_file()}
    (tmp / MANIFEST).write_text(json.dumps({"files": files}, indent=1) + "\n")
    taken = f"{final_dir} was written by another run while this one was running; this run's results are not kept"
    try:
        if final_dir.is_dir() and not any(final_dir.iterdir()):
            final_dir.rmdir()
        os.rename(tmp, final_dir)
    except OSError as e:
        if e.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):
            raise RunFolderBusy(f"{taken}; rerun with another --out") from None
        raise
    return final_dir


def check_finished_run(run_dir: str | Path, needs: tuple[str, ...] = FINISHED_RUN_FILES) -> Path:
    """`run_dir` if it is a finished, intact run folder; otherwise a `RunFolderError` that says what is wrong:
    a temporary folder of a run still writing (or killed), missing files (of `needs`, what the caller reads), or
    files changed since the run finished (their sha256 no longer matches the manifest)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunFolderError(f"{run_dir} is not a folder (expected a run folder written by `smp run`)")
    m = TMP_NAME.match(run_dir.name)
    if m:
        info = _claim_of(run_dir)
        state = "is still writing it" if info and _alive(info) else "is gone (killed); the next run removes it"
        raise RunFolderError(f"{run_dir} is the temporary folder of an unfinished run: process {m.group('pid')} "
                             f"{state}; predict with the finished folder {run_dir.parent / m.group('name')}")
    missing = [f for f in needs if not (run_dir / f).is_file()]
    if missing and len(missing) == len(needs):
        raise RunFolderError(f"{run_dir} is not a run folder: it has none of the files `smp run` writes "
                             f"({', '.join(needs)})")
    if missing:
        raise RunFolderError(f"{run_dir} is not a finished run folder: missing {', '.join(missing)} "
                             f"(a run folder written by `smp run` has {', '.join(FINISHED_RUN_FILES)})")
    manifest = run_dir / MANIFEST
    if manifest.is_file():  # folders written before manifests existed are checked for their files only
        try:
            files = json.loads(manifest.read_text())["files"]
        except (ValueError, KeyError, TypeError) as e:
            raise RunFolderError(f"{manifest}: unreadable ({e}); the run folder is damaged") from None
        for rel, meta in files.items():
            path = run_dir / rel
            if not path.is_file():
                raise RunFolderError(f"{run_dir} is damaged: {rel} is listed in {MANIFEST} but missing")
            size = path.stat().st_size
            if size != meta["bytes"] or _sha256(path) != meta["sha256"]:
                raise RunFolderError(f"{path}: changed or corrupted since the run finished ({size} bytes, sha256 "
                                     f"differs from {MANIFEST}, which recorded {meta['bytes']} bytes); rerun `smp run`")
    return run_dir


def read_fitted(run_dir: Path):
    """(fitted run, training posts) of a finished run folder; an unreadable file is a `RunFolderError`."""
    path = run_dir / "models" / "fitted.joblib"
    try:
        fitted = joblib.load(path)
    except Exception as e:  # a truncated or foreign pickle fails in many ways (EOFError, UnpicklingError, zlib, ...)
        raise RunFolderError(f"{path}: cannot be loaded ({type(e).__name__}: {e}); the file is truncated or "
                             "corrupt, or was written by an incompatible smp version; rerun `smp run`") from None
    posts = run_dir / "models" / "train_posts.parquet"
    try:
        train_posts = pd.read_parquet(posts)
    except Exception as e:  # pyarrow raises ArrowInvalid, OSError, ...
        raise RunFolderError(f"{posts}: cannot be read ({type(e).__name__}: {e}); rerun `smp run`") from None
    return fitted, train_posts


def remove_stale_tmp_dirs(parent: Path) -> list[Path]:
    """Remove temporary run folders in `parent` whose process is gone (killed runs); returns what was removed.

    Only folders this code writes are touched: those holding a claim file, and (from before claim files) hidden
    `.NAME.tmp-PID` folders that hold run files.
    """
    removed = []
    if not parent.is_dir():
        return removed
    for path in parent.iterdir():
        m = TMP_NAME.match(path.name)
        if not m or not path.is_dir():
            continue
        info = _claim_of(path)
        if info is None:
            if not ((path / "config.resolved.toml").exists() or (path / "models").is_dir()):
                continue
            info = {"pid": int(m.group("pid")), "host": socket.gethostname()}
        if _alive(info):
            continue
        shutil.rmtree(path, ignore_errors=True)
        log.warning("removed %s: the temporary folder of a run whose process (pid %s) is gone", path, info["pid"])
        removed.append(path)
    return removed


def _live_claims(parent: Path, name: str) -> list[int]:
    """Pids of other live processes writing `parent/name` (this process excluded)."""
    pids = []
    for path in parent.glob(f".{glob.escape(name)}.tmp-*"):
        m = TMP_NAME.match(path.name)
        if not m or m.group("name") != name or int(m.group("pid")) == os.getpid():
            continue
        info = _claim_of(path) or {"pid": int(m.group("pid")), "host": socket.gethostname()}
        if _alive(info):
            pids.append(int(m.group("pid")))
    return sorted(pids)


def _me() -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname(), "started": _process_start(os.getpid())}


def _claim_of(path: Path) -> dict | None:
    try:
        info = json.loads((path / CLAIM).read_text())
        return info if isinstance(info, dict) and "pid" in info else None
    except (OSError, ValueError):
        return None


def _alive(info: dict) -> bool:
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


def _process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), to tell a reused pid from the original."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
