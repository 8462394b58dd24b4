"""What a fitted run keeps to predict new posts (`models/fitted.joblib` of a run folder), and how to read it back."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

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
    final: str = ""
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
        out["final"] = final
        return pd.DataFrame(out)


RUN_FILES = ("config.resolved.toml", "metrics.json", "models/fitted.joblib", "models/train_posts.parquet")


def load_fitted(run_dir: str | Path) -> tuple[FittedRun, pd.DataFrame]:
    """The fitted run and its training posts from a finished run folder."""
    run_dir = Path(run_dir)
    path = run_dir / "models" / "fitted.joblib"
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} is not a finished run folder (no {path.relative_to(run_dir)})")
    return joblib.load(path), pd.read_parquet(run_dir / "models" / "train_posts.parquet")
