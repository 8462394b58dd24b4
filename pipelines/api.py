"""The Python API: `smp.posts`, `smp.load` and `smp.Predictor`, the object every CLI verb is a thin layer over.

    import smp
    train = smp.posts(df_train, mapping={"post_id": "id", "user_id": "author", "post_time": "created_at",
                                         "title": "title", "label": "points"})
    p = smp.Predictor(metric="src").fit(train, test=smp.posts(df_test, mapping=...))
    p.leaderboard(); p.predict(new_posts); p.feature_importance(); p.save("runs/mine")
    q = smp.Predictor.load("runs/mine")             # q.predict(...) gives p.predict's numbers

`fit` is `prepare` (features, folds, fold features) then `train` (tuning, level 1, stack, pseudo rounds): the
same two steps `smp run`, `smp tune`, `smp ablate`, `smp retrain` and `smp evaluate` use, so a notebook and the
CLI give the same predictions for the same config and seed.
"""

from __future__ import annotations

import json
import logging
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from smp.ensembles import get_engine

from .config import BUNDLED, RunConfig, config_from_dict, load_config
from .datasets import TableMapping, posts_from_frame
from .datasets.tabular import LABEL_SOURCE
from .datasets._frameschema import SCHEMA_FILE, SET_ON_NEW_POSTS, frame_schema, require_postframe
from .datasets._schema import check_frame_schema, finalize_postframe
from .explanations import by_group
from .fitted import FittedRun, load_fitted
from .prepare import Prepared, prepare, row_store
from .presets import auto_config
from .runfolder import leaderboard, metrics_table, model_entries
from .training import Trained, fitted_run, train

log = logging.getLogger("smp")


def posts(table: pd.DataFrame, mapping: TableMapping | Mapping[str, Any] | None = None, *,
          split: str | None = None) -> pd.DataFrame:
    """A canonical PostFrame from a pandas DataFrame: `mapping` names the source column of each canonical one
    (`post_id`, `user_id`, `post_time`, `title`, `tags`, `label`, ..., see `TableMapping`). Rows are training
    posts when the table has the label column, else new (test) posts; `split` forces one."""
    return posts_from_frame(table, mapping, split=split)


def combine(train: pd.DataFrame, test: pd.DataFrame | None = None) -> pd.DataFrame:
    """One PostFrame of training posts and (optional) test posts; a frame that already holds both splits (from
    `smp.load`) is taken as it is. Test posts must have the training posts' columns, each of the same kind."""
    require_postframe(train, "train_posts")
    require_labels(train)
    if test is None:
        return finalize_postframe(train, "<train posts>")
    require_postframe(test, "test")
    check_frame_schema(test, frame_schema(train), "<test posts>", skip=SET_ON_NEW_POSTS)
    parts = [train.assign(split="train"), test.assign(split="test", label=np.nan)]
    both = set(parts[0]["post_id"]) & set(parts[1]["post_id"])
    if both:
        raise ValueError(f"post {sorted(both)[0]!r} is in both the training and the test posts")
    return finalize_postframe(pd.concat(parts, ignore_index=True), "<train + test posts>")


def require_labels(train: pd.DataFrame) -> None:
    """Training posts must hold labelled rows: `smp.posts` marks every row as a new (test) post when the table lacks
    the mapping's label column, which `fit` would otherwise find only as "0 labelled posts" after loading."""
    labelled = train["label"].notna()
    if "split" in train.columns:
        labelled &= train["split"].eq("train")
    if labelled.any():
        return
    source = train.attrs.get(LABEL_SOURCE)
    why = (f"smp.posts marked every row as a new post because the table has no label column {source!r}"
           if source else "every row is a new (test) post, or has no label")
    raise ValueError(f"train_posts: no labelled post among {len(train)}: {why}; map `label` to the table's "
                     "popularity column (smp.posts(df, {..., 'label': '<column>'}))")


@dataclass(frozen=True)
class FitState:
    """What `Predictor.fit` leaves: the config it trained with, the prepared data, the trained ensemble, the part
    that predicts new posts, the training posts' schema, timings and where the fold fits ran."""

    cfg: RunConfig
    prepared: Prepared
    trained: Trained
    fitted: FittedRun
    schema: dict
    timings: dict[str, float]
    engine_info: dict


class RunPredictions(ABC):
    """Predicting and explaining new posts with a fitted run: what a fitted `Predictor` and a `LoadedRun` share.
    A subclass provides `cfg_`, `fitted_`, `train_posts_`, `schema_`, `progress`, `board()` (the metrics table and
    final model) and `feature_columns()`."""

    cfg_: RunConfig
    fitted_: FittedRun
    train_posts_: pd.DataFrame
    schema_: dict
    progress: bool

    @abstractmethod
    def board(self) -> tuple[pd.DataFrame, str]:
        """(the metrics table of every model, the final model's leaderboard name)."""

    @abstractmethod
    def feature_columns(self) -> dict[str, dict]:
        """Feature column -> its generator's description (name, group, ...), as features.json records it."""

    def leaderboard(self) -> pd.DataFrame:
        """One row per model: level, CV (out-of-fold) SRC / MAE / MSE / MAPE, their fold spread and fit seconds,
        best first by the config's metric; `final` marks the model `predict` uses by default."""
        table, final = self.board()
        return leaderboard(table, final, self.cfg_.metric)

    def predict(self, new_posts: pd.DataFrame, model: str | None = None) -> pd.Series:
        """Predictions for `new_posts` (a PostFrame, e.g. from `smp.posts`) by the final model or any model of
        the leaderboard, indexed by post_id."""
        name = self._known_model(model)
        new = self.new_posts(new_posts)
        preds = self.fitted_.predict(self.train_posts_, new, rows=row_store(self.cfg_, self.progress))
        out = preds[name].to_numpy(dtype=float)
        if not np.isfinite(out).all():
            raise ValueError(f"model {name!r} gave non-finite predictions for {int((~np.isfinite(out)).sum())} posts")
        return pd.Series(out, index=pd.Index(new["post_id"], name="post_id"), name=name)

    def _known_model(self, model: str | None) -> str:
        name = model or "final"
        if name not in self.fitted_.models():
            raise KeyError(f"unknown model {name!r}; models of this predictor: {self.fitted_.models()}")
        return name

    def new_posts(self, posts: pd.DataFrame) -> pd.DataFrame:
        """`posts` as the test rows of a PostFrame, checked against the run's frame schema first: the columns and kinds
        of values it was trained with (a column missing here would be NaN for every new post, silently)."""
        check_frame_schema(posts, self.schema_, "<new posts>", skip=SET_ON_NEW_POSTS)
        return finalize_postframe(posts.assign(split="test", label=np.nan), "<new posts>")

    def explain(self, new_posts: pd.DataFrame, model: str | None = None, by: str = "feature") -> pd.DataFrame:
        """Why each post gets its prediction: indexed by post_id, one column per feature (`by="group"`: per
        ablation group) with its additive contribution, and `base`; per row they sum to `predict(new_posts,
        model)`. Exact, never approximated: TreeSHAP of LightGBM / CatBoost averaged over the fold models, carried
        through blends, linear stackers and a linear calibration by their weights (with a time trend, `base` holds
        the trend at the post's time, so it differs between posts). A model with no exact path (a neural network,
        a tree stacker, isotonic calibration) is a `NotExplainable` error naming it and the models that can."""
        if by not in ("feature", "group"):
            raise ValueError(f"by must be 'feature' or 'group', got {by!r}")
        name = self._known_model(model)
        self.fitted_.check_explainable(name)  # before any feature is computed
        new = self.new_posts(new_posts).reset_index(drop=True)
        X_new, extras, new = self.fitted_.inputs(self.train_posts_, new, rows=row_store(self.cfg_, self.progress))
        table = self.fitted_.contributions(X_new, extras, new, name)
        table.index = pd.Index(new["post_id"], name="post_id")
        return by_group(table, self.feature_groups()) if by == "group" else table

    def feature_groups(self) -> dict[str, str]:
        """Feature column -> its generator's ablation group (label features included)."""
        return {c: meta.get("group") or "?" for c, meta in self.feature_columns().items()}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.cfg_.name!r}, final: {self.fitted_.final_name or self.fitted_.final})"


class Predictor(RunPredictions):
    """Train the smp recipe on posts and predict new ones (see the module docstring).

    `config`: None (a preset built from the columns the training posts have), a bundled config name, a TOML path,
    a dict (as a TOML file would parse) or a `RunConfig`. Keyword overrides apply on top of any config:
    `metric`, `features` (generator names or `{name, params}`), `models` (model keys or `{key, name, params}`),
    `cv` (a scheme name or `{scheme, n_splits, seed}`), `seed`, `name`, and any config section as a dict
    (`output={"cache_dir": ...}`, `stack={...}`, `tuning={...}`).

    Two states: not fitted (`state` is None) and fitted (`state`, a `FitState`); `Predictor.load` gives a
    `LoadedRun`, which predicts and explains like a fitted predictor but trains nothing.
    """

    def __init__(self, config: str | Path | dict | RunConfig | None = None, *, metric: str | None = None,
                 features: list | None = None, models: list | None = None, cv: str | dict | None = None,
                 seed: int | None = None, name: str | None = None, progress: bool = False, **sections: Any) -> None:
        self.config = config
        overrides: dict[str, Any] = dict(sections)
        for key, value in (("metric", metric), ("features", features), ("models", models), ("seed", seed),
                           ("name", name)):
            if value is not None:
                overrides[key] = value
        if cv is not None:
            overrides["cv"] = {"scheme": cv} if isinstance(cv, str) else dict(cv)
        self.overrides = overrides
        self.progress = progress
        self.state: FitState | None = None
        self._importance: dict[tuple[bool, bool], Any] = {}

    # ------------------------------------------------------------------------------------------------ config
    def resolve_config(self, frame: pd.DataFrame | None = None) -> RunConfig:
        """The config this predictor trains with (the preset needs the training posts to choose generators)."""
        c = self.config
        if c is None:
            if frame is None:
                raise ValueError("config=None builds a preset from the training posts: call fit first")
            cfg = auto_config(frame, metric=self.overrides.get("metric", "src"), seed=self.overrides.get("seed", 0))
            cfg = cfg.evolve(data={"format": "frame"})
        elif isinstance(c, RunConfig):
            cfg = c
        elif isinstance(c, dict):
            cfg = config_from_dict(c, "<config dict>")
        elif isinstance(c, (str, Path)):
            cfg = load_config(c if str(c) in BUNDLED else Path(c))
        else:
            raise TypeError(f"config must be None, a bundled name, a path, a dict or a RunConfig, got {type(c).__name__}")
        return cfg.evolve(**self.overrides) if self.overrides else cfg

    # --------------------------------------------------------------------------------------------------- fit
    def fit(self, train_posts: pd.DataFrame, test: pd.DataFrame | None = None) -> "Predictor":
        """Fit on `train_posts` (a PostFrame; with `test`, unsupervised aggregates see train + test posts, as every
        SMP team computes them, and the test rows get fold-averaged predictions)."""
        t0 = time.perf_counter()
        frame = combine(train_posts, test)
        cfg = self.resolve_config(frame)
        log.info("training %s on %d posts (%d train, %d test, %d users)", cfg.name, len(frame),
                 int(frame["split"].eq("train").sum()), int(frame["split"].eq("test").sum()),
                 frame["user_id"].nunique())
        prep = prepare(cfg, frame, progress=self.progress)
        # Fold fits run on the configured fold runner: a plain loop by default, joblib processes or Ray tasks.
        with get_engine(cfg) as engine:
            trained = train(prep, progress=self.progress, engine=engine)
            describe = getattr(engine, "describe", None)
            engine_info = describe() if describe else {"engine": repr(engine)}
        self.state = FitState(cfg, prep, trained, fitted_run(prep, trained), frame_schema(prep.train),
                              {**prep.timings, **trained.timings, "fit": time.perf_counter() - t0}, engine_info)
        self._importance = {}
        final = trained.ensemble.results[trained.ensemble.final]
        log.info("final: %s (CV SRC %.4f, MAE %.4f)", trained.ensemble.final, final.scores["src"], final.scores["mae"])
        return self

    def fitted_state(self) -> FitState:
        """`state`, or a RuntimeError when this predictor is not fitted yet."""
        if self.state is None:
            raise RuntimeError("this Predictor is not fitted: call fit(train_posts) or Predictor.load(run_dir)")
        return self.state

    cfg_ = property(lambda self: self.fitted_state().cfg, doc="the config it was fitted with")
    fitted_ = property(lambda self: self.fitted_state().fitted, doc="the part that predicts new posts")
    prepared_ = property(lambda self: self.fitted_state().prepared, doc="features, folds and fold features")
    trained_ = property(lambda self: self.fitted_state().trained, doc="the trained ensemble, tuning, pseudo rounds")
    train_posts_ = property(lambda self: self.fitted_state().prepared.train, doc="the training posts")
    schema_ = property(lambda self: self.fitted_state().schema, doc="columns and kinds new posts must match")
    timings_ = property(lambda self: self.fitted_state().timings, doc="seconds of each stage of the fit")

    # --------------------------------------------------------------------------------------------- results
    def board(self) -> tuple[pd.DataFrame, str]:
        ens = self.trained_.ensemble
        return metrics_table(model_entries(ens.results, ens.level1)), ens.final

    def feature_columns(self) -> dict[str, dict]:
        return self.prepared_.fs.columns

    def feature_importance(self, kind: str = "gain") -> pd.DataFrame:
        """Per feature: `gain` (normalised per model, mean over folds and level-1 models) or `permutation` (the
        out-of-fold SRC drop and MAE rise when the feature is shuffled in each fold's validation part), with
        generator and group; `kind="groups"` gives the per-group table."""
        self.fitted_state()
        if kind not in ("gain", "permutation", "groups"):
            raise ValueError(f"kind must be 'gain', 'permutation' or 'groups', got {kind!r}")
        # Asked for by name, permutation importance is per feature (the config's default is groups only).
        tables = self.importance(permutation=kind == "permutation", per_feature=kind == "permutation" or None)
        if kind == "groups":
            return tables.groups
        t = tables.features
        return t.sort_values("perm_src_drop", ascending=False).reset_index(drop=True) if kind == "permutation" else t

    def importance(self, permutation: bool, per_feature: bool | None = None):
        """The importance tables (cached: permutation importance costs a pass over every fold); `per_feature`
        overrides `[importance] per_feature`."""
        from .importance_tables import importance_tables

        cfg = self.cfg_
        if per_feature is not None and per_feature != cfg.importance.per_feature:
            cfg = cfg.evolve(importance={"per_feature": per_feature})
        key = (permutation, bool(cfg.importance.per_feature))
        if key not in self._importance:
            prep, ens = self.prepared_, self.trained_.ensemble
            self._importance[key] = importance_tables(
                cfg, ens.level1, prep.fs, X=prep.X_train, y=prep.y, folds=prep.folds,
                fold_features=prep.fold_features, permutation=permutation, progress=self.progress)
        return self._importance[key]

    # ------------------------------------------------------------------------------------------- save / load
    def save(self, path: str | Path, *, data_path: str | None = None, labels_permuted: bool = False,
             submission: bool | None = None, timings: dict[str, float] | None = None) -> Path:
        """Write the run folder (docs/run-folder.md: config, metrics, predictions, importances, plots, fitted models)
        to `path`, a new or empty folder: built under a temporary name and renamed at the end, never overwritten.
        `submission` (default `[output] submission` when there are test posts) adds the official JSON."""
        from .runfolder import save_run

        return save_run(self, path, data_path=data_path, labels_permuted=labels_permuted, submission=submission,
                        timings=timings)

    @classmethod
    def load(cls, path: str | Path, *, progress: bool = False) -> "LoadedRun":
        """A finished run folder (`smp run` or `save`) as a `LoadedRun`: `predict` gives the saved run's numbers."""
        return LoadedRun(path, progress=progress)

    def __repr__(self) -> str:
        state = f"fitted: {self.state.fitted.final}" if self.state is not None else "not fitted"
        return f"Predictor({self.config!r}, {state})"


class LoadedRun(RunPredictions):
    """A finished run folder read back (`Predictor.load`): predicts, explains and reports like the fitted
    `Predictor` that wrote it, from the files it saved; it trains nothing and is already its own run folder."""

    def __init__(self, path: str | Path, *, progress: bool = False) -> None:
        path = Path(path)
        fitted, train_posts = load_fitted(path)
        self.run_dir_, self.progress = path, progress
        self.cfg_ = load_config(path / "config.resolved.toml")
        self.fitted_, self.train_posts_ = fitted, train_posts
        # Folders written before the schema was stored: their training posts carry the same columns and kinds.
        schema_path = path / SCHEMA_FILE
        self.schema_ = json.loads(schema_path.read_text()) if schema_path.is_file() else frame_schema(train_posts)
        self.metrics_ = json.loads((path / "metrics.json").read_text())
        self.timings_ = self.metrics_.get("timings_s", {})

    def board(self) -> tuple[pd.DataFrame, str]:
        return metrics_table(self.metrics_["models"]), self.metrics_["final"]

    def feature_columns(self) -> dict[str, dict]:
        return json.loads((self.run_dir_ / "features.json").read_text())["columns"]

    def feature_importance(self, kind: str = "gain") -> pd.DataFrame:
        """The importance table the run saved: `gain` and `permutation` per feature, `groups` per group."""
        if kind not in ("gain", "permutation", "groups"):
            raise ValueError(f"kind must be 'gain', 'permutation' or 'groups', got {kind!r}")
        table = pd.read_csv(self.run_dir_ / ("importance_groups.csv" if kind == "groups" else "importance.csv"))
        if kind == "permutation" and "perm_src_drop" not in table.columns:
            raise ValueError(f"{self.run_dir_} was saved without per-feature permutation importance (its "
                             "config has `[importance] per_feature = false`); kind='groups' gives the "
                             "per-group permutation table it holds")
        return table

    def save(self, path: str | Path, **_: Any) -> Path:
        raise RuntimeError(f"this run was loaded from {self.run_dir_}, which is already its run folder")


def fit_config(cfg: RunConfig, frame: pd.DataFrame, *, progress: bool = True) -> Predictor:
    """A `Predictor` of `cfg` fitted on a loaded PostFrame: what the CLI verbs run."""
    return Predictor(cfg, progress=progress).fit(frame)
