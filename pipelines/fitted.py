"""What a fitted run keeps to predict new posts (`models/fitted.joblib` of a run folder), and how to read a finished
run folder back: it must be a finished, intact run (the manifest its writer left matches its files)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from smp.files import MANIFEST, STAGING, alive, claim_of, file_sha256
from smp.ensembles import (BASE, NotExplainable, StackModel, StackPredictions, affine, carry, fold_feature_frames,
                           fold_matrix, mean_frames, predict_stack)
from smp.features import RowStore, transform_features

from .prepare import with_columns


@dataclass(frozen=True)
class FittedRun:
    """Everything `predict` needs to repeat the run's flow on new posts."""

    static_generators: list
    static_columns: list[str]
    target_generators: dict[int, list]  # fold -> label-using generators fitted on that fold's training part
    level1: dict[str, list]  # name -> fold models
    final: str = ""  # the model whose predictions `postprocess` turns into the final ones
    final_name: str = ""  # the final model's leaderboard name (`<final>_cal` when calibrated; default `final`)
    stack_levels: list[dict[str, StackModel]] = field(default_factory=list)  # levels 2, 3, ...: name -> model
    target_inputs: list[str] = field(default_factory=list)  # static columns the label-using generators read
    # Post-processing of the final prediction, fitted out of fold (the calibration); name -> callable.
    postprocess: dict[str, object] = field(default_factory=dict)

    def models(self) -> list[str]:
        """Every model this run can predict with: level 1, then each stack level, then `final`."""
        names = list(self.level1)
        for level in self.stack_levels:
            names += list(level)
        if self.final_name and self.final_name != self.final:
            names.append(self.final_name)
        return names + ["final"]

    def inputs(self, train_posts: pd.DataFrame, new_posts: pd.DataFrame, *,
               rows: RowStore | None = None) -> tuple[pd.DataFrame, list[pd.DataFrame], pd.DataFrame]:
        """(static features, label features of each fold, posts) of `new_posts`, as every fold model sees them;
        unsupervised aggregates see training plus new posts, as at fit. `rows` is the per-row embedding store (only
        unseen rows are embedded)."""
        clash = set(train_posts["post_id"]) & set(new_posts["post_id"])
        if clash:
            raise ValueError(f"new posts reuse training post ids, e.g. {sorted(clash)[0]!r}; predict only unseen posts")
        combined = pd.concat([train_posts, new_posts], ignore_index=True)
        X = transform_features(combined, self.static_generators, rows=rows)[self.static_columns]
        X_new = X.iloc[len(train_posts):].reset_index(drop=True)
        new_posts = new_posts.reset_index(drop=True)
        return X_new, self.fold_inputs(X_new, new_posts), new_posts

    def fold_inputs(self, X_new: pd.DataFrame, new_posts: pd.DataFrame) -> list[pd.DataFrame]:
        """Label features of each fold for these rows, from that fold's fitted generators: shared by every model."""
        n_folds = len(next(iter(self.level1.values())))
        return fold_feature_frames(self.target_generators, with_columns(new_posts, X_new, self.target_inputs), n_folds)

    def predict(self, train_posts: pd.DataFrame, new_posts: pd.DataFrame, *, rows: RowStore | None = None) -> pd.DataFrame:
        """Predictions of every model for `new_posts` (one column each, plus `final`); see `inputs`."""
        X_new, extras, new_posts = self.inputs(train_posts, new_posts, rows=rows)
        out = dict(self.stacked(X_new, extras).predictions)
        final = np.asarray(out[self.final], dtype=float)
        for step in self.postprocess.values():
            final = step(final, new_posts)
        if self.final_name and self.final_name != self.final:
            out[self.final_name] = final
        out["final"] = final
        return pd.DataFrame(out)

    def stacked(self, X_new: pd.DataFrame, extras: list[pd.DataFrame]) -> StackPredictions:
        """Every model's prediction of these rows: each level-1 fold model on its fold's matrix, then the stack
        levels (`smp.ensembles.predict_stack`, the implementation training predicts its test rows with)."""
        per_fold = {name: [m.predict(fold_matrix(X_new, extras[k])) for k, m in enumerate(models)]
                    for name, models in self.level1.items()}
        return predict_stack(per_fold, X_new, self.stack_levels)

    # ------------------------------------------------------------------------------------------ explanations
    def why_not_explainable(self, model: str = "final") -> str | None:
        """Why `contributions` cannot explain `model` exactly (the first step of its chain without an exact path),
        or None when it can. Checked before any feature is computed."""
        if model in ("final", self.final_name) and model != self.final:
            for step in self.postprocess.values():
                if getattr(step, "method", "") == "isotonic" or not hasattr(step, "affine"):
                    return f"its calibration ({getattr(step, 'method', type(step).__name__)}) is not a linear map"
            return self.why_not_explainable(self.final)
        if model in self.level1:
            bad = [m for m in self.level1[model] if not m.explains]
            return f"level-1 model {model!r} ({bad[0].summary}) has no exact additive explanation" if bad else None
        for level in self.stack_levels:
            if model in level:
                spec = level[model]
                bad = [m for m in spec.models if m.explains != "linear"]
                if bad:
                    return (f"stack model {model!r} ({bad[0].key}) combines predictions non-linearly, so their "
                            "contributions cannot be carried through it exactly")
                reasons = [self.why_not_explainable(i) for i in spec.inputs if i in self.models()]
                return next((f"{model!r} combines a model that cannot be explained: {r}" for r in reasons if r), None)
        raise KeyError(f"unknown model {model!r}; models of this run: {self.models()}")

    def check_explainable(self, model: str = "final") -> None:
        """A `NotExplainable` naming the step of `model`'s chain without an exact path and the models that have one."""
        reason = self.why_not_explainable(model)
        if reason:
            ok = [m for m in self.models() if not self.why_not_explainable(m)]
            raise NotExplainable(f"model {model!r} cannot be explained exactly: {reason}; models of this run that "
                                 f"can: {ok}")

    def contributions(self, X_new: pd.DataFrame, extras: list[pd.DataFrame], new_posts: pd.DataFrame,
                      model: str = "final") -> pd.DataFrame:
        """Per new post (rows of `inputs(...)`), the exact additive contribution of every feature column (static,
        then label features; a column a model does not use gets 0) and `base`, summing to `model`'s prediction:
        TreeSHAP per fold model, averaged as `predict` averages the folds, carried through blends, linear stackers
        and a linear calibration by their weights. `NotExplainable` names the step without an exact path."""
        self.check_explainable(model)
        features = list(dict.fromkeys([*self.static_columns, *(c for e in extras for c in e.columns)]))
        stacked = self.stacked(X_new, extras)
        out, per_fold, level_inputs = stacked.predictions, stacked.per_fold, stacked.level_inputs

        def fold1(name: str, k: int) -> pd.DataFrame:
            c = self.level1[name][k].contributions(fold_matrix(X_new, extras[k]))
            return c.reindex(columns=[*features, BASE], fill_value=0.0)

        memo: dict[str, pd.DataFrame] = {}

        def explain(name: str) -> pd.DataFrame:
            if name not in memo:
                memo[name] = compose(name)
            return memo[name]

        def compose(name: str) -> pd.DataFrame:
            if name in ("final", self.final_name) and name != self.final:
                c = explain(self.final)
                for step in self.postprocess.values():
                    c = affine(c, *step.affine(new_posts))
                return c
            if name in self.level1:
                return mean_frames([fold1(name, k) for k in range(len(self.level1[name]))])
            i, spec = next((i, lv[name]) for i, lv in enumerate(self.stack_levels) if name in lv)
            if spec.kind == "fold_blend":
                return mean_frames([carry(m.contributions(pd.DataFrame({c: per_fold[c][k] for c in spec.inputs})),
                                          m.slopes(), {c: fold1(c, k) for c in spec.inputs}, features)
                                    for k, m in enumerate(spec.models)])
            A = level_inputs[i][list(spec.inputs)]
            lower = {c: explain(c) for c in spec.inputs if c in out}
            return mean_frames([carry(m.contributions(A), m.slopes(), lower, features) for m in spec.models])

        return explain(model)


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
    stale = not isinstance(fitted, FittedRun) or any(
        not isinstance(spec, StackModel) for level in fitted.stack_levels for spec in level.values())
    if stale:  # written before stack levels became StackModel records: it would fail half-way through a prediction
        raise RunFolderError(f"{path}: written by an older smp whose fitted-run layout this version cannot read "
                             "(its stack levels are not StackModel records); rerun `smp run` with its config.toml")
    posts = run_dir / "models" / "train_posts.parquet"
    try:
        train_posts = pd.read_parquet(posts)
    except Exception as e:  # pyarrow raises ArrowInvalid, OSError, ...
        raise RunFolderError(f"{posts}: cannot be read ({type(e).__name__}: {e}); rerun `smp run`") from None
    return fitted, train_posts
