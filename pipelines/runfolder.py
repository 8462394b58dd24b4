"""Write the documented files of a run folder: data/feature descriptions, metrics, predictions, importances,
fitted objects, plots and the markdown report."""

from __future__ import annotations

import json
import logging
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from smp.files import code_version, json_text, new_folder, staged_dir
from smp.ensembles import GREATER_IS_BETTER, CVResult, fold_ids
from smp.features import fingerprint_frame

from .config import RunConfig
from .datasets._frameschema import SCHEMA_FILE, frame_schema
from .fitted import RunFolderError
from .importance_tables import importance_tables, write_importance
from .prepare import models_dir
from .training import write_training_files

log = logging.getLogger("smp")


def _json(path: Path, obj) -> None:
    path.write_text(json_text(obj))


def model_level(name: str, results: dict[str, CVResult], level1: dict[str, CVResult]) -> int:
    """1 for level-1 learners, k for `{name}_{k}` stack results; a calibrated result has its base's level."""
    if name in level1:
        return 1
    base = results[name].base
    if base:
        return model_level(base, results, level1)
    return int(name.rsplit("_", 1)[-1])


def model_entries(results: dict[str, CVResult], level1: dict[str, CVResult]) -> dict[str, dict]:
    """Per model, what metrics.json records: overall and per-fold CV scores, level and fit seconds."""
    return {name: {"overall": r.scores, "folds": r.fold_scores, "level": model_level(name, results, level1),
                   "seconds": r.seconds} for name, r in results.items()}


def metrics_table(entries: dict[str, dict]) -> pd.DataFrame:
    """One row per model of `model_entries` (or of a saved metrics.json's "models"): level, CV scores, the mean
    out-of-fold residual (`bias`: prediction minus label), the fold spread of SRC, rows scored and fit seconds."""
    rows = []
    for name, m in entries.items():
        fold_src = [f["src"] for f in m["folds"]]
        rows.append({"model": name, "level": m.get("level"),
                     **{k: m["overall"].get(k) for k in ("src", "mae", "mse", "mape", "smp", "bias")},
                     "src_fold_std": float(np.nanstd(fold_src)) if fold_src else float("nan"),
                     "rows": m["overall"].get("n"), "seconds": m.get("seconds")})
    return pd.DataFrame(rows)


def leaderboard(table: pd.DataFrame, final: str, metric: str) -> pd.DataFrame:
    """`metrics_table` best first by `metric`, `final` marking the model `predict` uses by default."""
    board = table.assign(final=table["model"].eq(final))
    return board.sort_values(metric, ascending=not GREATER_IS_BETTER[metric], kind="stable").reset_index(drop=True)


def new_run_dir(cfg: RunConfig, out: str | Path | None, suffix: str = "") -> Path:
    """The folder a job of `cfg` writes: `out` when given (a new or empty folder), else a new
    `<runs_dir>/<timestamp>-<name><suffix>` (see `smp.files.new_folder`)."""
    return new_folder(out, cfg.output.runs_dir, f"{cfg.name}{suffix}")


def peak_rss_mb() -> float:
    """Peak resident memory of this process and its finished children, in MiB (Linux reports KiB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024


def save_run(p, path: str | Path, *, data_path: str | None = None, labels_permuted: bool = False,
             submission: bool | None = None, timings: dict[str, float] | None = None) -> Path:
    """The run folder of the fitted `Predictor` `p` at `path`, a new or empty folder: built under a temporary name
    and renamed at the end, never overwritten (see `write_run`)."""
    with staged_dir(path, manifest=True) as tmp:
        write_run(tmp, p, data_path=data_path, labels_permuted=labels_permuted, submission=submission,
                  timings=timings)
    return Path(path)


def write_run(folder: Path, p, *, data_path: str | None = None, labels_permuted: bool = False,
              submission: bool | None = None, timings: dict[str, float] | None = None) -> None:
    """The run folder's files of the fitted `Predictor` `p` into `folder`, an empty staging folder (`save_run` makes
    one; `smp run` claims its own before it loads any data). `submission` (default `[output] submission` when
    there are test posts) adds the official JSON."""
    from .submission import make_submission, validate_submission, write_submission

    state = p.fitted_state()
    cfg, prep, ens = state.cfg, state.prepared, state.trained.ensemble
    submit = (cfg.output.submission if submission is None else submission) and len(prep.test) > 0
    timings = {**state.timings, **(timings or {})}
    t = time.perf_counter()
    importance = p.importance(permutation=bool(cfg.importance.permutation))
    timings["importance"] = time.perf_counter() - t
    write_run_folder(folder, prep=prep, trained=state.trained, fitted=state.fitted, timings=timings,
                     peak_rss_mb=peak_rss_mb(), data_path=data_path, labels_permuted=labels_permuted,
                     importance=importance, engine_info=state.engine_info)
    if submit:
        sub = make_submission(prep.test["post_id"], ens.results[ens.final].test_pred,
                              prefix=cfg.output.post_id_prefix, external_data=cfg.output.external_data)
        validate_submission(sub, prep.test["post_id"], prefix=cfg.output.post_id_prefix)
        write_submission(sub, folder / "submission.json")


def write_run_folder(d: Path, *, prep, trained, fitted, timings: dict[str, float], peak_rss_mb: float,
                     data_path: str | None, labels_permuted: bool = False, importance=None,
                     engine_info: dict | None = None) -> None:
    """Every documented file of a run folder into `d` (an empty staging folder): descriptions of data and
    features, metrics, predictions, fitted objects, importances, plots and the report."""
    t_write = time.perf_counter()
    cfg, frame, train, test, y, fs = prep.cfg, prep.frame, prep.train, prep.test, prep.y, prep.fs
    results, level1, final = trained.ensemble.results, trained.ensemble.level1, trained.ensemble.final
    (d / "models").mkdir(parents=True, exist_ok=True)
    (d / "plots").mkdir(exist_ok=True)
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
                        "params": g.get_params(), **_row_counts(g), **st}
                       for g, st in zip(fs.static_generators + fs.target_generators, _generator_stats(fs))],
        "columns": fs.columns,
        "categorical": fs.categorical_columns(),
        "cache": {"static_generators": len(fs.static_generators), "from_cache": fs.cache_hits},
    })
    entries = model_entries(results, level1)
    table = metrics_table(entries)
    oof = pd.DataFrame({"post_id": train["post_id"], "label": y, "fold": fold_ids(prep.folds, len(y))})
    for name, r in results.items():
        oof[name] = r.oof
    oof["final"] = results[final].oof
    oof.to_parquet(d / "oof.parquet", index=False)
    tp = pd.DataFrame({"post_id": test["post_id"]})
    for name, r in results.items():
        tp[name] = r.test_pred
    tp["final"] = results[final].test_pred
    tp.to_parquet(d / "test_pred.parquet", index=False)
    joblib.dump(fitted, d / "models" / "fitted.joblib", compress=3)
    train.to_parquet(d / "models" / "train_posts.parquet", index=False)
    _json(d / SCHEMA_FILE, frame_schema(train))  # what new posts are checked against before predicting

    from .explanations import write_run_explanation
    from .report import plot_predictions, write_report

    if importance is None:
        importance = importance_tables(cfg, level1, fs, X=prep.X_train, y=y, folds=prep.folds,
                                       fold_features=prep.fold_features, permutation=False)
    plot_predictions(y, results[final].oof, d / "plots" / "pred_vs_true.png", title=f"{cfg.name}: {final} (OOF)")
    write_report(d / "report.md", cfg=cfg, table=table, final=final, imp=importance.features, timings=timings,
                 peak_rss_mb=peak_rss_mb, n_train=len(train), n_test=len(test), n_features=fs.static.shape[1])
    write_importance(d, importance, cfg)
    write_run_explanation(d, prep=prep, fitted=fitted)
    write_training_files(d, trained)
    write_engine_file(d, engine_info or {}, level1)
    # last, so that its timings include the writing of every other file
    _json(d / "metrics.json", {
        "final": final, "final_reason": trained.ensemble.final_reason, "metric": cfg.metric,
        "cv": {"scheme": cfg.cv.scheme, "n_splits": cfg.cv.n_splits},
        "models": entries,
        # `[stack] time_tail`: each level-1 learner fitted on the earlier posts, scored on the latest ones
        "latest_posts": {k: r.scores for k, r in trained.ensemble.latest.items()},
        "blend_weights": {k: r.models[0].feature_importance().to_dict() for k, r in results.items()
                          if k.startswith("blend_") and r.models},
        "timings_s": {**timings, "writing": time.perf_counter() - t_write}, "peak_rss_mb": peak_rss_mb,
        "environment": {"python": platform.python_version(), "code_version": code_version()},
    })


def _generator_stats(fs) -> list[dict]:
    """Per generator: the seconds its fit (or cache load) took on the whole frame and whether it came from the
    feature cache; label-using generators are fitted inside the folds (their time is in the learners')."""
    static = fs.stats if len(fs.stats) == len(fs.static_generators) else [{}] * len(fs.static_generators)
    return [{k: round(v, 3) if isinstance(v, float) else v for k, v in st.items()} for st in static] + \
        [{"fitted": "per fold"}] * len(fs.target_generators)


def _row_counts(gen) -> dict[str, int]:
    """Embedding generators: rows embedded in this run vs taken from the per-row cache (features/embedding/row_cache.py)."""
    if not hasattr(gen, "rows_computed_"):
        return {}
    return {"rows_computed": int(gen.rows_computed_), "rows_cached": int(gen.rows_cached_)}


def write_engine_file(d: Path, engine_info: dict, level1: dict[str, CVResult]) -> None:
    """`engine.json`: the engine that fitted the level-1 folds and where each fold ran (host, pid and, on Ray, node
    id and ip) or that it was loaded from the fold cache (`from_cache`), per model and per node; a cluster run shows
    here which nodes did the work."""
    folds = {name: [{"fold": k, **w} for k, w in enumerate(r.placements)] for name, r in level1.items()}
    nodes: dict[str, dict] = {}
    for name, rows in folds.items():
        for w in rows:
            key = w["node_id"] or f"{w['host']}:{w['pid']}"
            node = nodes.setdefault(key, {"ip": w["ip"], "host": w["host"], "pids": [], "folds": []})
            node["folds"].append(f"{name}/{w['fold']}")
            if w["pid"] not in node["pids"]:
                node["pids"].append(w["pid"])
    _json(d / "engine.json", {**engine_info, "nodes": nodes, "folds": folds})



# ------------------------------------------------------------------------------------------- checks, before and after
# Every destination a run writes is checked before any data is loaded (reading a finished run: fitted.py).



def check_destinations(cfg: RunConfig, final_dir: Path | None, *, submit: bool = False) -> None:
    """Everything a command will write, checked before any data is loaded: the run folder's parent, every cache
    folder (`cache_folders`) and (when it submits) the submissions folder must be writable, and the submission's
    name must be free. `final_dir` None: a command that writes only into the caches (`smp predict`)."""
    if final_dir is not None:
        default = final_dir.parent == Path(cfg.output.runs_dir)
        check_writable(final_dir.parent, "[output].runs_dir" if default else "the run folder's parent")
    for folder, what in cache_folders(cfg):
        check_writable(folder, what)
    if submit and final_dir is not None:
        sub = Path(cfg.output.submissions_dir) / f"{final_dir.name}.json"
        if sub.exists():
            raise FileExistsError(f"{sub} already exists (a run named {final_dir.name!r} was submitted before); "
                                  "choose another --out or name, or move that file away")
        check_writable(sub.parent, "[output].submissions_dir")


def cache_folders(cfg: RunConfig) -> list[tuple[Path, str]]:
    """Each folder a run of `cfg` may write into, with the config entry that places it: the feature cache (the
    cache folder itself, also the tuning studies' SQLite file), the per-row embedding cache, the built models, the
    fold cache and the generated synthetic data. A read-only one of these fails the probe before any work, not with a
    `PermissionError` after training."""
    cache = Path(cfg.output.cache_dir)
    models = models_dir(cfg)
    out = [(cache, "[output].cache_dir"), (cache / "rows", "[output].cache_dir's row cache"),
           (Path(models) if models else cache / "models",
            "[output].models_dir" if cfg.output.models_dir else "$SMP_MODELS_DIR" if models else
            "[output].cache_dir's model folder")]
    if cfg.output.fold_cache:
        out.append((cache / "folds", "[output].cache_dir's fold cache"))
    if cfg.data.format == "synthetic":
        out.append((cache / "synthetic", "[output].cache_dir's synthetic data"))
    return out


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
