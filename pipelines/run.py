"""`smp run`: load -> static features (cached) -> folds -> level-1 learners -> level-2 blend/stack -> run folder.

The run folder is the only output and is never overwritten; it is written under a temporary name and renamed into
place at the end, so a killed run never leaves a folder that looks complete:

    runs/<timestamp>-<name>/
      config.resolved.toml  data.json  features.json  metrics.json  oof.parquet  test_pred.parquet
      importance.csv  report.md  plots/*.png  submission.json  models/{fitted.joblib, train_posts.parquet}
"""

from __future__ import annotations

import logging
from functools import partial
import resource
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from smp.ensembles import (
    GREATER_IS_BETTER, CVResult, FoldFeatures, fold_feature_frames, get_engine, inner_scheme, make_folds,
    predict_folds,
)
from smp.features import FeatureCache, build_features, transform_features
from smp.features._rowcache import use_row_cache

from .config import RunConfig
from .data import LAYOUT, data_root, load_frame
from .importance import write_importance
from .outliers import apply_outlier_filter
from .runfolder import (
    MODEL_FILES, check_destinations, check_finished_run, check_writable, claim_run_dir, publish_run_dir, read_fitted,
    write_run_folder,
)
from .submission import make_submission, validate_submission, write_exclusive, write_submission
from .training import train as train_ensemble, write_training_files

log = logging.getLogger("smp")


@dataclass
class FittedRun:
    """Everything `smp predict` needs to repeat the run's flow on new posts."""

    static_generators: list
    static_columns: list[str]
    target_generators: dict[int, list]  # fold -> label-using generators fitted on that fold's training part
    level1: dict[str, list]  # name -> fold models
    level2: dict[str, list] = field(default_factory=dict)
    level2_inputs: dict[str, list[str]] = field(default_factory=dict)
    final: str = ""
    # Levels 2, 3, ...: name -> {"models", "inputs", "kind"} ("fold_blend": per-fold weights over level-1 folds).
    stack_levels: list[dict[str, dict]] = field(default_factory=list)

    def predict(self, train_posts: pd.DataFrame, new_posts: pd.DataFrame) -> pd.DataFrame:
        """Predictions of every learner for `new_posts`; unsupervised aggregates see training plus new posts."""
        clash = set(train_posts["post_id"]) & set(new_posts["post_id"])
        if clash:
            raise ValueError(f"new posts reuse training post ids, e.g. {sorted(clash)[0]!r}; predict only unseen posts")
        combined = pd.concat([train_posts, new_posts], ignore_index=True)
        X = transform_features(combined, self.static_generators)[self.static_columns]
        X_new = X.iloc[len(train_posts):].reset_index(drop=True)
        new_posts = new_posts.reset_index(drop=True)
        n_folds = len(next(iter(self.level1.values())))
        extras = fold_feature_frames(self.target_generators, new_posts, n_folds)  # shared by every model
        per_fold = {name: [m.predict(pd.concat([X_new, extras[k]], axis=1) if extras[k].shape[1] else X_new)
                           for k, m in enumerate(models)] for name, models in self.level1.items()}
        out = {name: np.mean(p, axis=0) for name, p in per_fold.items()}
        levels = getattr(self, "stack_levels", None)
        if not levels and self.level2:  # run folders written before multi-level stacking
            levels = [{k: {"models": m, "inputs": self.level2_inputs[k], "kind": "cross_fit"}
                       for k, m in self.level2.items()}]
        prev = dict(out)
        for level in levels or []:
            A = pd.concat([pd.DataFrame(prev), X_new], axis=1)
            cur = {}
            for name, spec in level.items():
                if spec["kind"] == "fold_blend":  # eq. 8-9: fold k's weights on fold k's level-1 predictions
                    cur[name] = np.mean([np.column_stack([per_fold[i][k] for i in spec["inputs"]]) @
                                         m.weights_.to_numpy() for k, m in enumerate(spec["models"])], axis=0)
                else:
                    cur[name] = predict_folds(spec["models"], A[spec["inputs"]])
            out.update(cur)
            prev = cur
        return pd.DataFrame(out)


def _peak_rss_mb() -> float:
    """Peak resident memory of this process and its finished children, in MiB (Linux reports KiB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024


def new_run_dir(cfg: RunConfig, out: str | Path | None) -> Path:
    if out is not None:
        out = Path(out)
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise FileExistsError(f"{out} already exists and is not empty; refusing to overwrite a run folder")
        return out
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    base = Path(cfg.output.runs_dir) / f"{stamp}-{cfg.name}"
    path, i = base, 2
    while path.exists():
        path, i = base.with_name(f"{base.name}-{i}"), i + 1
    return path


def run(cfg: RunConfig, *, out: str | Path | None = None, progress: bool = True, permute_labels: bool = False,
        permute_seed: int | None = None) -> Path:
    """Run the config end to end and return the finished run folder.

    `permute_labels` is the leak check: training labels are shuffled (seeded by `permute_seed`, default the run
    seed) after loading, so every honest cross-validated score must come out near zero SRC; such a run writes no
    submission. Every destination is checked, and the run folder claimed, before any data is loaded.
    """
    final_dir = new_run_dir(cfg, out)
    check_destinations(cfg, final_dir, submit=cfg.output.submission and not permute_labels)
    with claim_run_dir(final_dir, renumber=out is None) as (final_dir, tmp_dir):
        return _run(cfg, final_dir, tmp_dir, progress=progress, permute_labels=permute_labels,
                    permute_seed=cfg.seed if permute_seed is None else permute_seed)


def _run(cfg: RunConfig, final_dir: Path, tmp_dir: Path, *, progress: bool, permute_labels: bool,
         permute_seed: int) -> Path:
    t_start = time.perf_counter()
    timings: dict[str, float] = {}

    t = time.perf_counter()
    root = data_root(cfg.data, cfg.output, progress)
    frame = load_frame(cfg.data, cfg.output, root=root, progress=progress)
    is_train = frame["split"].eq("train").to_numpy()
    if permute_labels:
        # Shuffle the values, not a Series: an index-aligned assignment would put every label back in place.
        labels = frame.loc[is_train, "label"].to_numpy()
        frame.loc[is_train, "label"] = np.random.default_rng(permute_seed).permutation(labels)
        log.info("leak check: training labels permuted (seed %d); no submission is written", permute_seed)
    submit = cfg.output.submission and not permute_labels
    train, test = frame[is_train].reset_index(drop=True), frame[~is_train].reset_index(drop=True)
    y = train["label"].to_numpy(dtype=float)
    timings["load"] = time.perf_counter() - t
    log.info("loaded %d posts (%d train, %d test, %d users) in %.1fs", len(frame), len(train), len(test),
             frame["user_id"].nunique(), timings["load"])

    t = time.perf_counter()
    fs = build_features(frame, cfg.features, cache=FeatureCache(cfg.output.cache_dir), progress=progress)
    X_train, X_test = fs.static[is_train].reset_index(drop=True), fs.static[~is_train].reset_index(drop=True)
    timings["features"] = time.perf_counter() - t
    log.info("%d static feature columns (%d/%d generators from cache), %d label-using generators in %.1fs",
             fs.static.shape[1], fs.cache_hits, len(fs.static_generators), len(fs.target_generators),
             timings["features"])

    fold_seed = cfg.seed if cfg.cv.seed is None else cfg.cv.seed
    folds = make_folds(train, scheme=cfg.cv.scheme, n_splits=cfg.cv.n_splits, seed=fold_seed)
    folds = apply_outlier_filter(cfg.outliers, folds, y, X_train, train)  # training parts only; off by default
    # Label encodings of training rows use inner folds of the same scheme as the outer ones.
    fold_features = FoldFeatures(
        fs.target_generators, train, y, test,
        inner_folds=partial(make_folds, scheme=inner_scheme(cfg.cv.scheme), n_splits=cfg.cv.n_splits, seed=fold_seed),
    )

    # Tuning, level 1, stacking levels and pseudo-label rounds (pipelines/training.py). Fold fits run on the
    # configured engine: a plain loop by default, joblib processes or Ray tasks when the config asks.
    engine = get_engine(cfg)
    try:
        trained = train_ensemble(cfg, X_train, y, X_test, folds, fold_features, progress=progress, timings=timings,
                                 engine=engine)
    finally:
        engine.close()
    level1 = trained.ensemble.level1
    level2: dict[str, CVResult] = {k: v for lv in trained.ensemble.levels for k, v in lv.items()}

    results = {**level1, **level2}
    final = trained.ensemble.final
    log.info("final: %s (CV SRC %.4f, MAE %.4f)", final, results[final].scores["src"], results[final].scores["mae"])

    fitted = FittedRun(
        static_generators=fs.static_generators,
        static_columns=list(fs.static.columns),
        target_generators=dict(fold_features.fitted),
        level1={k: r.models for k, r in level1.items()},
        stack_levels=[{k: {"models": r.models, "inputs": r.info["inputs"], "kind": r.info.get("kind", "cross_fit")}
                       for k, r in lv.items()} for lv in trained.ensemble.levels],
        final=final,
    )
    timings["total"] = time.perf_counter() - t_start

    try:
        write_run_folder(tmp_dir, cfg=cfg, frame=frame, train=train, test=test, y=y, folds=folds, fs=fs,
                         results=results, level1=level1, final=final, fitted=fitted, timings=timings,
                         peak_rss_mb=_peak_rss_mb(), data_path=str(root) if root else None,
                         labels_permuted=permute_labels)
        write_importance(tmp_dir, cfg=cfg, level1=level1, X=X_train, y=y, folds=folds, fold_features=fold_features,
                         fs=fs, progress=progress)
        write_training_files(tmp_dir, trained)
        if submit:
            sub = make_submission(test["post_id"], results[final].test_pred, prefix=cfg.output.post_id_prefix,
                                  external_data=cfg.output.external_data)
            validate_submission(sub, test["post_id"], prefix=cfg.output.post_id_prefix)
            write_submission(sub, tmp_dir / "submission.json")
        publish_run_dir(tmp_dir, final_dir)  # manifest of checksums, then the rename; `--out` may be an empty folder
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)  # nothing half-written stays behind
        raise
    if submit:
        copy = write_exclusive(Path(cfg.output.submissions_dir) / f"{final_dir.name}.json",
                               (final_dir / "submission.json").read_text())
        log.info("submission: %s", copy)
    log.info("run folder: %s (%.1fs, peak memory %.0f MiB)", final_dir, time.perf_counter() - t_start, _peak_rss_mb())
    return final_dir


def choose_final(results: dict[str, CVResult], final: str, metric: str) -> str:
    if final != "best":
        if final not in results:
            raise KeyError(f"stack.final {final!r} is not a result of this run; results: {sorted(results)}")
        return final
    sign = 1.0 if GREATER_IS_BETTER[metric] else -1.0
    scored = {k: r.scores[metric] for k, r in results.items() if np.isfinite(r.scores[metric])}
    if not scored:
        raise ValueError(f"no result has a finite CV {metric}")
    return max(sorted(scored), key=lambda k: sign * scored[k])


def load_fitted(run_dir: str | Path) -> tuple[FittedRun, pd.DataFrame]:
    return read_fitted(check_finished_run(run_dir, MODEL_FILES))  # says what is missing or corrupt, not a traceback


def predict_run(run_dir: str | Path, data_dir: str | Path, out_csv: str | Path, *, progress: bool = True) -> Path:
    """`smp predict`: the run's fitted features and models on the test split of another folder of the same layout."""
    from .config import load_config

    run_dir, out_csv = check_finished_run(run_dir), Path(out_csv)
    if out_csv.exists():
        raise FileExistsError(f"{out_csv} already exists; refusing to overwrite it")
    check_writable(out_csv.parent, "--out's folder")
    cfg = load_config(run_dir / "config.resolved.toml")
    fitted, train_posts = load_fitted(run_dir)
    frame = load_frame(cfg.data, cfg.output, root=Path(data_dir), progress=progress)
    new = frame[frame["split"].eq("test")].reset_index(drop=True)
    if new.empty:
        raise ValueError(f"{data_dir}: no test posts to predict (layout {LAYOUT[cfg.data.format]})")
    with use_row_cache(Path(cfg.output.cache_dir) / "rows", progress=progress):  # embed only unseen rows
        preds = fitted.predict(train_posts, new)
    table = pd.DataFrame({"post_id": new["post_id"], "popularity_score": preds[fitted.final].to_numpy()})
    if not np.isfinite(table["popularity_score"]).all():
        raise ValueError("predictions contain non-finite values")
    write_exclusive(out_csv, table.to_csv(index=False))
    log.info("wrote %d predictions to %s", len(table), out_csv)
    return out_csv
