"""Optuna studies whose objective is the cross-validated metric of `cross_fit`.

- Objective metrics: ``src`` (maximise), ``mae`` (minimise) or ``smp``: the SMP Challenge ranks teams by the
  average of their SRC rank and MAE rank. A trial on its own has no rank, so the objective value is the mean of
  SRC and the MAE skill 1 - MAE / MAE(constant median), and the best trial is the one with the best average
  rank over SRC and MAE among the finished trials, as the challenge would rank them.
- Each fold's score is reported as an intermediate value, so the MedianPruner stops a trial whose folds fall
  below the median of earlier trials at the same fold.
- Storage: any database URL (SQLite file by default, PostgreSQL for workers on several machines);
  `load_if_exists=True` so a killed study resumes, and the trial budget counts finished (complete + pruned)
  trials over all sessions and workers.
- Heartbeat: a running trial writes a heartbeat to the storage every `heartbeat_interval` seconds. A worker that
  dies mid-trial (SIGKILL, OOM, a lost machine) stops beating; the next trial any worker starts after
  `grace_period` fails the stale trial and `RetryHeartbeatStaleTrialCallback` (the callback Optuna < 4.9 called
  `RetryFailedTrialCallback`) queues it again with the same parameters, up to `max_retry` times. Failed trials
  never count towards the budget.
- `workers > 1` runs that many processes on this machine, each optimising the same study through the storage;
  more machines join by running `smp tune` against the same database.
- A study that reached its budget (or ran out its time budget) is marked finished; later calls reuse its best
  parameters without new trials unless `retune`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._cv import FoldFeatures, Stopping, cross_fit
from ..folds import Folds
from ..metrics import GREATER_IS_BETTER, score_all
from ..models import get_model
from .spaces import get_space, params_from_trial

log = logging.getLogger("smp")

# Every run metric can be the tuning objective (direction from the metric).
OBJECTIVES = {m: "maximize" if up else "minimize" for m, up in GREATER_IS_BETTER.items()}


@dataclass
class TuneResult:
    name: str
    key: str
    study_name: str
    storage: str
    metric: str
    best_params: dict[str, Any]  # model params (space applied), merged over the base params by the caller
    best_value: float
    best_trial: int
    n_finished: int
    reused: bool
    seconds: float
    trials: pd.DataFrame = field(default_factory=pd.DataFrame)
    per_worker: dict[str, int] = field(default_factory=dict)  # "host:pid" -> finished trials, over all sessions


@dataclass(frozen=True)
class Heartbeat:
    """How the storage notices a worker that died mid-trial (see the module docstring); `interval = 0` is off."""

    interval: int = 60  # seconds between a running trial's heartbeats
    grace: int = 0  # a running trial whose last heartbeat is older is failed; 0 = 2 x interval (Optuna's default)
    max_retry: int = 2  # times a failed (stale) trial is queued again with the same parameters

    def __post_init__(self):
        if self.interval < 0 or self.grace < 0 or self.max_retry < 0:
            raise ValueError(f"heartbeat interval, grace period and max_retry must be >= 0, got "
                             f"{self.interval=}, {self.grace=}, {self.max_retry=}")
        if self.interval and self.grace and self.grace <= self.interval:
            raise ValueError(f"the grace period must exceed the heartbeat interval (else live trials are failed), "
                             f"got {self.grace=} <= {self.interval=}")


def default_storage(cache_dir: str | Path) -> str:
    path = Path(cache_dir).resolve() / "optuna.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def redact(url: str) -> str:
    """The storage URL without a password, for logs and run folders."""
    if "://" in url and "@" in url.split("://", 1)[1]:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        if ":" in creds:  # user:password
            return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"
    return url


def dashboard_command(url: str) -> str:
    """The shell command that opens Optuna's dashboard (`pip install optuna-dashboard`) on this storage; a
    password in the URL is shown as *** (put it back by hand, or keep it in ~/.pgpass)."""
    import shlex

    return f"optuna-dashboard {shlex.quote(redact(url))}"


def study_key(X: pd.DataFrame, y, folds: Folds, key: str, base_params: dict, metric: str, stopping: str = "",
              sample_weight=None) -> str:
    """Short hash of what the tuned score depends on, so a study is never reused for other data, folds, params,
    early stopping or weights."""
    h = hashlib.sha256()
    h.update(json.dumps([key, metric, base_params, list(map(str, X.columns)), stopping], sort_keys=True,
                        default=str).encode())
    if sample_weight is not None:
        h.update(np.asarray(sample_weight, dtype=float).tobytes())
    h.update(pd.util.hash_pandas_object(X.reset_index(drop=True), index=False).to_numpy().tobytes())
    h.update(np.asarray(y, dtype=float).tobytes())
    for tr, va in folds:
        h.update(np.asarray(va, dtype=np.int64).tobytes())
    return h.hexdigest()[:10]


def _storage(url: str, heartbeat: Heartbeat | None = None):
    """An RDB storage for a database URL (with the heartbeat when given), else Optuna's storage for `url`."""
    import optuna

    if "://" not in url:
        return optuna.storages.get_storage(url)
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        # Several workers write to one SQLite file: wait for the lock rather than fail.
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 120}}
    if heartbeat is not None and heartbeat.interval:
        import warnings

        with warnings.catch_warnings():  # the callback is marked experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=heartbeat.max_retry)
        kwargs.update(heartbeat_interval=heartbeat.interval, grace_period=heartbeat.grace or None,
                      heartbeat_stale_trial_callback=retry)
    return _rdb_storage(url, kwargs)


def _rdb_storage(url: str, kwargs: dict[str, Any], tries: int = 5):
    """`RDBStorage`, retried when it loses the race to create Optuna's tables: workers started together on an
    empty database all try to create them (PostgreSQL: duplicate type / table), the losers then find them made."""
    import random
    import warnings

    import optuna
    from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

    for attempt in range(tries):
        try:
            with warnings.catch_warnings():  # the heartbeat arguments are marked experimental
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(url, **kwargs)
        except (IntegrityError, ProgrammingError, OperationalError) as e:
            if attempt == tries - 1:
                raise
            log.debug("optuna storage %s: %s; retrying", redact(url), e.__class__.__name__)
            time.sleep(0.2 + random.random())  # jitter, so the workers do not collide again
    raise AssertionError("unreachable")


def _finished(study) -> int:
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))


class CVObjective:
    """Picklable objective: params = base params updated by the space, scored fold by fold through `cross_fit`."""

    def __init__(self, key: str, base_params: dict, X: pd.DataFrame, y, folds: Folds, *, metric: str,
                 fold_features: FoldFeatures | None = None, seed_param: str | None = None,
                 stopping: Stopping | None = None, sample_weight=None):
        if metric not in OBJECTIVES:
            raise ValueError(f"tuning metric must be one of {sorted(OBJECTIVES)}, got {metric!r}")
        self.key, self.base_params, self.metric = key, dict(base_params), metric
        self.X, self.y, self.folds, self.fold_features = X.reset_index(drop=True), np.asarray(y, float), folds, fold_features
        self.mae_const = float(np.mean(np.abs(self.y - np.median(self.y)))) or 1.0
        self.stopping, self.sample_weight = stopping, sample_weight
        get_space(key)  # fail early for a model without a space

    def value(self, scores: dict[str, float]) -> float:
        if self.metric == "smp":
            return 0.5 * (scores["src"] + 1.0 - scores["mae"] / self.mae_const)
        return scores[self.metric]

    def __call__(self, trial) -> float:
        import optuna

        params = {**self.base_params, **get_space(self.key)(trial)}
        model = get_model(self.key, params)
        oof = np.full(len(self.y), np.nan)
        fold_values = []
        t = time.perf_counter()
        for k, fold in enumerate(self.folds):
            r = cross_fit(model, self.X, self.y, folds=[fold], fold_features=self.fold_features, progress=False,
                          stopping=self.stopping, sample_weight=self.sample_weight)
            oof[fold[1]] = r.oof[fold[1]]
            fold_values.append(self.value(r.fold_scores[0]))
            trial.report(fold_values[-1], k)
            if trial.should_prune():
                trial.set_user_attr("fold_values", fold_values)
                raise optuna.TrialPruned(f"pruned after fold {k}")
        scores = score_all(self.y, oof)
        trial.set_user_attr("src", scores["src"])
        trial.set_user_attr("mae", scores["mae"])
        trial.set_user_attr("fold_values", fold_values)
        trial.set_user_attr("seconds", time.perf_counter() - t)
        trial.set_user_attr("worker", os.getpid())
        trial.set_user_attr("host", socket.gethostname())
        return self.value(scores)


def _run_worker(objective: CVObjective, storage: str, study_name: str, n_trials: int, timeout: float | None,
                seed: int, progress: bool = False, heartbeat: Heartbeat | None = None) -> int:
    """One process optimising the shared study until the global trial budget or the time budget is spent."""
    import warnings

    import optuna
    from optuna.study import MaxTrialsCallback
    from optuna.trial import TrialState

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=study_name, storage=_storage(storage, heartbeat),
                              sampler=optuna.samplers.TPESampler(seed=seed), pruner=_pruner_of(study_name, storage))
    remaining = n_trials - _finished(study)
    if remaining <= 0:
        return 0
    with warnings.catch_warnings():  # Optuna warns at every trial's stale-trial check that it is experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.optimize(objective, n_trials=remaining, timeout=timeout, gc_after_trial=False,
                       show_progress_bar=progress,
                       callbacks=[MaxTrialsCallback(n_trials, states=(TrialState.COMPLETE, TrialState.PRUNED))])
    return remaining


def _pruner_of(study_name: str, storage: str):
    """The pruner settings are stored with the study, so every worker and every resumed session prunes alike."""
    import optuna

    attrs = optuna.load_study(study_name=study_name, storage=_storage(storage)).user_attrs
    return optuna.pruners.MedianPruner(n_startup_trials=int(attrs.get("startup_trials", 5)),
                                       n_warmup_steps=int(attrs.get("warmup_folds", 1)))


def tune(
    key: str,
    X: pd.DataFrame,
    y,
    folds: Folds,
    *,
    name: str | None = None,
    base_params: dict | None = None,
    fold_features: FoldFeatures | None = None,
    metric: str = "src",
    n_trials: int = 20,
    timeout: float | None = None,
    storage: str,
    study_prefix: str = "smp",
    seed: int = 0,
    workers: int = 1,
    retune: bool = False,
    startup_trials: int = 5,
    warmup_folds: int = 1,
    heartbeat: Heartbeat | None = Heartbeat(),
    stopping: Stopping | None = None,
    sample_weight=None,
    progress: bool = False,
) -> TuneResult:
    """Tune model `key` on the cross-validated `metric`; returns the best params (reused when the study for these
    data, folds and base params already finished, unless `retune`). `heartbeat` (None: off) lets workers fail and
    retry the trials of a worker that died mid-trial."""
    import optuna

    if n_trials < 1:
        raise ValueError(f"tuning n_trials must be >= 1, got {n_trials}")
    if workers < 1:
        raise ValueError(f"tuning workers must be >= 1, got {workers}")
    if timeout is not None and timeout <= 0:
        timeout = None
    name = name or key
    base_params = dict(base_params or {})
    objective = CVObjective(key, base_params, X, y, folds, metric=metric, fold_features=fold_features,
                            stopping=stopping, sample_weight=sample_weight)
    study_name = (f"{study_prefix}-{name}-"
                  f"{study_key(X, y, folds, key, base_params, metric, stopping.mode if stopping else '', sample_weight)}")
    t = time.perf_counter()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    store = _storage(storage)
    if retune:
        try:
            optuna.delete_study(study_name=study_name, storage=store)
            log.info("tuning %s: retune, deleted the previous study %s", name, study_name)
        except KeyError:
            pass
    study = optuna.create_study(study_name=study_name, storage=store, direction=OBJECTIVES[metric],
                                load_if_exists=True)
    if "metric" not in study.user_attrs:
        for k, v in {"metric": metric, "model": key, "n_trials": n_trials, "startup_trials": startup_trials,
                     "warmup_folds": warmup_folds}.items():
            study.set_user_attr(k, v)
    done = _finished(study)
    reused = bool(study.user_attrs.get("finished")) or done >= n_trials
    if reused:
        log.info("tuning %s: reusing study %s (%d finished trials)", name, study_name, done)
    else:
        log.info("tuning %s: study %s, %d/%d trials finished, %d worker(s)%s", name, study_name, done, n_trials,
                 workers, f", time budget {timeout:.0f}s" if timeout else "")
        if workers == 1:
            _run_worker(objective, storage, study_name, n_trials, timeout, seed, progress, heartbeat)
        else:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            # spawn, not fork: the parent may hold OpenMP/torch thread pools that a forked child would inherit broken.
            with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
                futures = [pool.submit(_run_worker, objective, storage, study_name, n_trials, timeout, seed + i,
                                       False, heartbeat) for i in range(workers)]
                for f in futures:
                    f.result()
        study = optuna.load_study(study_name=study_name, storage=store)
        study.set_user_attr("finished", True)
    return _result(study, name, key, storage, metric, reused, time.perf_counter() - t)


def _result(study, name, key, storage, metric, reused, seconds) -> TuneResult:
    from optuna.trial import TrialState

    trials = study.trials_dataframe(attrs=("number", "value", "state", "params", "user_attrs", "duration"))
    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    if not complete:
        raise ValueError(f"tuning {name}: no trial of study {study.study_name} completed (all pruned or failed)")
    if metric == "smp":  # the SMP Challenge ranking: mean of the SRC rank and the MAE rank
        src = pd.Series([t.user_attrs.get("src", np.nan) for t in complete]).rank(ascending=False)
        mae = pd.Series([t.user_attrs.get("mae", np.nan) for t in complete]).rank(ascending=True)
        best = complete[int(np.argmin((src + mae).to_numpy() - 1e-9 * np.array([t.value for t in complete])))]
    else:
        best = study.best_trial
    return TuneResult(name=name, key=key, study_name=study.study_name, storage=redact(storage), metric=metric,
                      best_params=params_from_trial(key, best.params), best_value=float(best.value),
                      best_trial=best.number, n_finished=_finished(study), reused=reused, seconds=seconds,
                      trials=trials, per_worker=finished_per_worker(study))


def finished_per_worker(study) -> dict[str, int]:
    """Finished (complete + pruned) trials per worker process, "host:pid", over every session of the study."""
    from optuna.trial import TrialState

    counts: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
        who = f"{t.user_attrs.get('host', '?')}:{t.user_attrs.get('worker', '?')}"
        counts[who] = counts.get(who, 0) + 1
    return dict(sorted(counts.items()))
