"""Write the documented files of a run folder: data/feature descriptions, metrics, predictions, importances,
fitted objects, plots and the markdown report."""

from __future__ import annotations

import json
import platform
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from smp._files import code_version, json_text
from smp.ensembles import CVResult, fold_ids
from smp.features import fingerprint_frame

from .importance import importance_tables, write_importance
from .training import write_training_files


def _json(path: Path, obj) -> None:
    path.write_text(json_text(obj))


def metrics_table(results: dict[str, CVResult], level1: dict[str, CVResult]) -> pd.DataFrame:
    rows = []
    for name, r in results.items():
        fold_src = [f["src"] for f in r.fold_scores]
        rows.append({"model": name, "level": 1 if name in level1 else int(name.rsplit("_", 1)[-1]),
                     **{k: r.scores[k] for k in ("src", "mae", "mse", "mape")},
                     "src_fold_std": float(np.nanstd(fold_src)), "rows": r.scores["n"],
                     "seconds": r.info.get("seconds", float("nan"))})
    return pd.DataFrame(rows)


def write_run_folder(d: Path, *, prep, trained, fitted, timings: dict[str, float], peak_rss_mb: float,
                     data_path: str | None, labels_permuted: bool = False, importance=None,
                     engine_info: dict | None = None) -> None:
    """Every documented file of a run folder into `d` (an empty staging folder): descriptions of data and
    features, metrics, predictions, fitted objects, importances, plots and the report."""
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
                        "params": g.get_params(), **_row_counts(g)} for g in fs.static_generators + fs.target_generators],
        "columns": fs.columns,
        "categorical": fs.categorical_columns(),
        "cache": {"static_generators": len(fs.static_generators), "from_cache": fs.cache_hits},
    })
    table = metrics_table(results, level1)
    _json(d / "metrics.json", {
        "final": final, "metric": cfg.metric, "cv": {"scheme": cfg.cv.scheme, "n_splits": cfg.cv.n_splits},
        "models": {name: {"overall": r.scores, "folds": r.fold_scores, "level": lv, "seconds": r.info.get("seconds")}
                   for (name, r), lv in zip(results.items(), table["level"])},
        "blend_weights": {k: r.models[0].feature_importance().to_dict() for k, r in results.items()
                          if k.startswith("blend_")},
        "timings_s": timings, "peak_rss_mb": peak_rss_mb,
        "environment": {"python": platform.python_version(), "code_version": code_version()},
    })
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

    from .report import plot_predictions, write_report

    if importance is None:
        importance = importance_tables(cfg, level1, fs, X=prep.X_train, y=y, folds=prep.folds,
                                       fold_features=prep.fold_features, permutation=False)
    plot_predictions(y, results[final].oof, d / "plots" / "pred_vs_true.png", title=f"{cfg.name}: {final} (OOF)")
    write_report(d / "report.md", cfg=cfg, table=table, final=final, imp=importance.features, timings=timings,
                 peak_rss_mb=peak_rss_mb, n_train=len(train), n_test=len(test), n_features=fs.static.shape[1])
    write_importance(d, importance, cfg)
    write_training_files(d, trained)
    write_engine_file(d, engine_info or {}, level1)


def _row_counts(gen) -> dict[str, int]:
    """Embedding generators: rows embedded in this run vs taken from the per-row cache (features/_rowcache.py)."""
    if not hasattr(gen, "rows_computed_"):
        return {}
    return {"rows_computed": int(gen.rows_computed_), "rows_cached": int(gen.rows_cached_)}


def write_engine_file(d: Path, engine_info: dict, level1: dict[str, CVResult]) -> None:
    """`engine.json`: the engine that fitted the level-1 folds and where each fold ran (host, pid and, on Ray, node
    id and ip), per model and per node; a cluster run shows here which nodes did the work."""
    folds = {name: [{"fold": k, **w} for k, w in enumerate(r.info.get("placements", []))] for name, r in level1.items()}
    nodes: dict[str, dict] = {}
    for name, rows in folds.items():
        for w in rows:
            key = w["node_id"] or f"{w['host']}:{w['pid']}"
            node = nodes.setdefault(key, {"ip": w["ip"], "host": w["host"], "pids": [], "folds": []})
            node["folds"].append(f"{name}/{w['fold']}")
            if w["pid"] not in node["pids"]:
                node["pids"].append(w["pid"])
    _json(d / "engine.json", {**engine_info, "nodes": nodes, "folds": folds})

