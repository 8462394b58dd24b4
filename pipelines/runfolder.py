"""Write the documented files of a run folder: data/feature descriptions, metrics, predictions, importances,
fitted objects, plots and the markdown report."""

from __future__ import annotations

import json
import platform
import subprocess
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from smp.ensembles import CVResult, fold_ids
from smp.features import FeatureSet, fingerprint_frame

from .config import RunConfig


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
