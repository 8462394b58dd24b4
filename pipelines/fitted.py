"""What a fitted run keeps to predict new posts (`models/fitted.joblib` of a run folder), and how to read a finished
run folder back: it must be a finished, intact run (the manifest its writer left matches its files)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from smp._files import MANIFEST, STAGING, alive, claim_of, file_sha256
from smp.ensembles import fold_feature_frames, predict_folds
from smp.features import RowStore, transform_features

from .prepare import with_columns


@dataclass
class FittedRun:
    """Everything `predict` needs to repeat the run's flow on new posts."""

    static_generators: list
    static_columns: list[str]
    target_generators: dict[int, list]  # fold -> label-using generators fitted on that fold's training part
    level1: dict[str, list]  # name -> fold models
    final: str = ""  # the model whose predictions `postprocess` turns into the final ones
    final_name: str = ""  # the final model's leaderboard name (`<final>_cal` when calibrated; default `final`)
    # Levels 2, 3, ...: name -> {"models", "inputs", "kind"} ("fold_blend": per-fold weights over level-1 folds).
    stack_levels: list[dict[str, dict]] = field(default_factory=list)
    target_inputs: list[str] = field(default_factory=list)  # static columns the label-using generators read
    # Post-processing of the final prediction, fitted out of fold (issue 11: calibration); name -> callable.
    postprocess: dict[str, object] = field(default_factory=dict)

    def models(self) -> list[str]:
        """Every model this run can predict with: level 1, then each stack level, then `final`."""
        names = list(self.level1)
        for level in self.stack_levels:
            names += list(level)
        if self.final_name and self.final_name != self.final:
            names.append(self.final_name)
        return names + ["final"]

    def predict(self, train_posts: pd.DataFrame, new_posts: pd.DataFrame, *, rows: RowStore | None = None) -> pd.DataFrame:
        """Predictions of every model for `new_posts` (one column each, plus `final`); unsupervised aggregates see
        training plus new posts, as at fit. `rows` is the per-row embedding store (only unseen rows are embedded)."""
        clash = set(train_posts["post_id"]) & set(new_posts["post_id"])
        if clash:
            raise ValueError(f"new posts reuse training post ids, e.g. {sorted(clash)[0]!r}; predict only unseen posts")
        combined = pd.concat([train_posts, new_posts], ignore_index=True)
        X = transform_features(combined, self.static_generators, rows=rows)[self.static_columns]
        X_new = X.iloc[len(train_posts):].reset_index(drop=True)
        new_posts = new_posts.reset_index(drop=True)
        n_folds = len(next(iter(self.level1.values())))
        # Label features of each fold, from that fold's fitted generators: shared by every model.
        extras = fold_feature_frames(self.target_generators, with_columns(new_posts, X_new, self.target_inputs), n_folds)
        per_fold = {name: [m.predict(pd.concat([X_new, extras[k]], axis=1) if extras[k].shape[1] else X_new)
                           for k, m in enumerate(models)] for name, models in self.level1.items()}
        out = {name: np.mean(p, axis=0) for name, p in per_fold.items()}
        prev = dict(out)
        for level in self.stack_levels:
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
        final = np.asarray(out[self.final], dtype=float)
        for step in self.postprocess.values():
            final = step(final, new_posts)
        if self.final_name and self.final_name != self.final:
            out[self.final_name] = final
        out["final"] = final
        return pd.DataFrame(out)


# What `smp predict` (and analyze / retrain) needs from a finished run folder.
FINISHED_RUN_FILES = ("config.resolved.toml", "data.json", "features.json", "metrics.json", "oof.parquet",
                      "test_pred.parquet", "models/fitted.joblib", "models/train_posts.parquet")
MODEL_FILES = ("models/fitted.joblib", "models/train_posts.parquet")  # what `load_fitted` reads


class RunFolderError(ValueError):
    """A destination that cannot be written, or a folder that is not a finished, intact run; says what is wrong."""


def load_fitted(run_dir: str | Path) -> tuple[FittedRun, pd.DataFrame]:
    """The fitted run and its training posts from a finished run folder (says what is missing or corrupt)."""
    return read_fitted(check_finished_run(run_dir, MODEL_FILES))


def check_finished_run(run_dir: str | Path, needs: tuple[str, ...] = FINISHED_RUN_FILES) -> Path:
    """`run_dir` if it is a finished, intact run folder; otherwise a `RunFolderError` that says what is wrong:
    a temporary folder of a run still writing (or killed), missing files (of `needs`, what the caller reads), or
    files changed since the run finished (their sha256 no longer matches the manifest)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunFolderError(f"{run_dir} is not a folder (expected a run folder written by `smp run`)")
    m = STAGING.match(run_dir.name)
    if m:
        info = claim_of(run_dir)
        state = "is still writing it" if info and alive(info) else "is gone (killed); the next run removes it"
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
    if not manifest.is_file():
        # Without it an edited config or a swapped model file cannot be told from the run's own: refuse.
        raise RunFolderError(f"{run_dir} has no {MANIFEST} (the sizes and sha256 of its files, which `smp run` and "
                             "Predictor.save write last), so its files cannot be checked against what the run wrote; "
                             "rerun `smp run`, or save the Predictor again")
    try:
        files = json.loads(manifest.read_text())["files"]
    except (ValueError, KeyError, TypeError) as e:
        raise RunFolderError(f"{manifest}: unreadable ({e}); the run folder is damaged") from None
    for rel, meta in files.items():
        path = run_dir / rel
        if not path.is_file():
            raise RunFolderError(f"{run_dir} is damaged: {rel} is listed in {MANIFEST} but missing")
        size = path.stat().st_size
        if size != meta["bytes"] or file_sha256(path) != meta["sha256"]:
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
