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
import resource
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from smp.files import staged_dir
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


def _peak_rss_mb() -> float:
    """Peak resident memory of this process and its finished children, in MiB (Linux reports KiB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024


class Predictor:
    """Train the smp recipe on posts and predict new ones (see the module docstring).

    `config`: None (a preset built from the columns the training posts have), a bundled config name, a TOML path,
    a dict (as a TOML file would parse) or a `RunConfig`. Keyword overrides apply on top of any config:
    `metric`, `features` (generator names or `{name, params}`), `models` (model keys or `{key, name, params}`),
    `cv` (a scheme name or `{scheme, n_splits, seed}`), `seed`, `name`, and any config section as a dict
    (`output={"cache_dir": ...}`, `stack={...}`, `tuning={...}`).
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
        # Fold fits run on the configured engine: a plain loop by default, joblib processes or Ray tasks.
        with get_engine(cfg) as engine:
            trained = train(prep, progress=self.progress, engine=engine)
            describe = getattr(engine, "describe", None)
            self.engine_info_ = describe() if describe else {"engine": repr(engine)}
        self.cfg_, self.prepared_, self.trained_ = cfg, prep, trained
        self.fitted_: FittedRun = fitted_run(prep, trained)
        self.train_posts_ = prep.train
        self.schema_ = frame_schema(prep.train)
        self.timings_ = {**prep.timings, **trained.timings, "fit": time.perf_counter() - t0}
        self._leaderboard = None
        self._importance: dict[str, Any] = {}
        final = trained.ensemble.results[trained.ensemble.final]
        log.info("final: %s (CV SRC %.4f, MAE %.4f)", trained.ensemble.final, final.scores["src"], final.scores["mae"])
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "fitted_"):
            raise RuntimeError("this Predictor is not fitted: call fit(train_posts) or Predictor.load(run_dir)")

    # --------------------------------------------------------------------------------------------- results
    def leaderboard(self) -> pd.DataFrame:
        """One row per model: level, CV (out-of-fold) SRC / MAE / MSE / MAPE, their fold spread and fit seconds,
        best first by the config's metric; `final` marks the model `predict` uses by default."""
        self._check_fitted()
        if self._leaderboard is None:
            from .runfolder import metrics_table

            ens = self.trained_.ensemble
            table = metrics_table(ens.results, ens.level1)
            table["final"] = table["model"].eq(ens.final)
            self._leaderboard = table
        from smp.ensembles import GREATER_IS_BETTER

        return self._leaderboard.sort_values(self.cfg_.metric, ascending=not GREATER_IS_BETTER[self.cfg_.metric],
                                             kind="stable").reset_index(drop=True)

    def predict(self, new_posts: pd.DataFrame, model: str | None = None) -> pd.Series:
        """Predictions for `new_posts` (a PostFrame, e.g. from `smp.posts`) by the final model or any model of
        the leaderboard, indexed by post_id."""
        self._check_fitted()
        name = model or "final"
        if name not in self.fitted_.models():
            raise KeyError(f"unknown model {name!r}; models of this predictor: {self.fitted_.models()}")
        new = self.new_posts(new_posts)
        preds = self.fitted_.predict(self.train_posts_, new, rows=row_store(self.cfg_, self.progress))
        out = preds[name].to_numpy(dtype=float)
        if not np.isfinite(out).all():
            raise ValueError(f"model {name!r} gave non-finite predictions for {int((~np.isfinite(out)).sum())} posts")
        return pd.Series(out, index=pd.Index(new["post_id"], name="post_id"), name=name)

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
        self._check_fitted()
        if by not in ("feature", "group"):
            raise ValueError(f"by must be 'feature' or 'group', got {by!r}")
        name = model or "final"
        if name not in self.fitted_.models():
            raise KeyError(f"unknown model {name!r}; models of this predictor: {self.fitted_.models()}")
        self.fitted_.check_explainable(name)  # before any feature is computed
        new = self.new_posts(new_posts).reset_index(drop=True)
        X_new, extras, new = self.fitted_.inputs(self.train_posts_, new, rows=row_store(self.cfg_, self.progress))
        table = self.fitted_.contributions(X_new, extras, new, name)
        table.index = pd.Index(new["post_id"], name="post_id")
        return by_group(table, self.feature_groups()) if by == "group" else table

    def feature_groups(self) -> dict[str, str]:
        """Feature column -> its generator's ablation group (label features included)."""
        self._check_fitted()
        if hasattr(self, "prepared_"):
            columns = self.prepared_.fs.columns
        else:  # loaded from a folder: what its features.json recorded
            columns = json.loads((self.run_dir_ / "features.json").read_text())["columns"]
        return {c: meta.get("group") or "?" for c, meta in columns.items()}

    def feature_importance(self, kind: str = "gain") -> pd.DataFrame:
        """Per feature: `gain` (normalised per model, mean over folds and level-1 models) or `permutation` (the
        out-of-fold SRC drop and MAE rise when the feature is shuffled in each fold's validation part), with
        generator and group; `kind="groups"` gives the per-group table."""
        self._check_fitted()
        if kind not in ("gain", "permutation", "groups"):
            raise ValueError(f"kind must be 'gain', 'permutation' or 'groups', got {kind!r}")
        if not hasattr(self, "prepared_"):  # loaded from a folder: the tables it saved
            path = self.run_dir_ / ("importance_groups.csv" if kind == "groups" else "importance.csv")
            table = pd.read_csv(path)
            if kind == "permutation" and "perm_src_drop" not in table.columns:
                raise ValueError(f"{self.run_dir_} was saved without per-feature permutation importance (its "
                                 "config has `[importance] per_feature = false`); kind='groups' gives the "
                                 "per-group permutation table it holds")
            return table
        # Asked for by name, permutation importance is per feature (the config's default is groups only).
        tables = self.importance(permutation=kind == "permutation", per_feature=kind == "permutation" or None)
        if kind == "groups":
            return tables.groups
        t = tables.features
        return t.sort_values("perm_src_drop", ascending=False).reset_index(drop=True) if kind == "permutation" else t

    def importance(self, permutation: bool, per_feature: bool | None = None):
        """The importance tables (cached: permutation importance costs a pass over every fold); `per_feature`
        overrides `[importance] per_feature`."""
        from .importance import importance_tables

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
        self._check_fitted()
        if not hasattr(self, "prepared_"):
            raise RuntimeError(f"this Predictor was loaded from {self.run_dir_}, which is already its run folder")
        with staged_dir(path, manifest=True) as tmp:
            self.write(tmp, data_path=data_path, labels_permuted=labels_permuted, submission=submission,
                       timings=timings)
        return Path(path)

    def write(self, folder: Path, *, data_path: str | None = None, labels_permuted: bool = False,
              submission: bool | None = None, timings: dict[str, float] | None = None) -> None:
        """The run folder's files into `folder`, an empty staging folder (`save` makes one; `smp run` claims its
        own before it loads any data)."""
        from .runfolder import write_run_folder
        from .submission import make_submission, validate_submission, write_submission

        cfg, prep, ens = self.cfg_, self.prepared_, self.trained_.ensemble
        submit = (cfg.output.submission if submission is None else submission) and len(prep.test) > 0
        timings = {**self.timings_, **(timings or {})}
        t = time.perf_counter()
        importance = self.importance(permutation=bool(cfg.importance.permutation))
        timings["importance"] = time.perf_counter() - t
        write_run_folder(folder, prep=prep, trained=self.trained_, fitted=self.fitted_, timings=timings,
                         peak_rss_mb=_peak_rss_mb(), data_path=data_path, labels_permuted=labels_permuted,
                         importance=importance, engine_info=self.engine_info_)
        if submit:
            sub = make_submission(prep.test["post_id"], ens.results[ens.final].test_pred,
                                  prefix=cfg.output.post_id_prefix, external_data=cfg.output.external_data)
            validate_submission(sub, prep.test["post_id"], prefix=cfg.output.post_id_prefix)
            write_submission(sub, folder / "submission.json")

    @classmethod
    def load(cls, path: str | Path, *, progress: bool = False) -> "Predictor":
        """A predictor from a finished run folder (`smp run` or `save`); `predict` gives the saved run's numbers."""
        path = Path(path)
        fitted, train_posts = load_fitted(path)
        cfg = load_config(path / "config.resolved.toml")
        p = cls(cfg, progress=progress)
        p.cfg_, p.fitted_, p.train_posts_, p.run_dir_ = cfg, fitted, train_posts, path
        # Folders written before the schema was stored: their training posts carry the same columns and kinds.
        schema_path = path / SCHEMA_FILE
        p.schema_ = json.loads(schema_path.read_text()) if schema_path.is_file() else frame_schema(train_posts)
        metrics = json.loads((path / "metrics.json").read_text())
        rows = [{"model": name, "level": m.get("level"), **{k: m["overall"].get(k) for k in ("src", "mae", "mse", "mape", "smp")},
                 "src_fold_std": float(np.nanstd([f["src"] for f in m["folds"]])) if m["folds"] else float("nan"),
                 "rows": m["overall"].get("n"), "seconds": m.get("seconds"), "final": name == metrics["final"]}
                for name, m in metrics["models"].items()]
        p._leaderboard = pd.DataFrame(rows)
        p.timings_ = metrics.get("timings_s", {})
        return p

    def __repr__(self) -> str:
        state = f"fitted: {self.fitted_.final}" if hasattr(self, "fitted_") else "not fitted"
        return f"Predictor({self.config!r}, {state})"


def fit_config(cfg: RunConfig, frame: pd.DataFrame, *, progress: bool = True) -> Predictor:
    """A `Predictor` of `cfg` fitted on a loaded PostFrame: what the CLI verbs run."""
    return Predictor(cfg, progress=progress).fit(frame)
