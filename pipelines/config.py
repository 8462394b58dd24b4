"""Run configs: TOML files (stdlib `tomllib`) validated into dataclasses.

A bad key names the key and the valid ones. Relative paths in `[data]` and `[output]` are taken relative to the
working directory, as the CLI's `--data` and `--out` are.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import tomli_w

from smp.features import FeatureSpec

from ._fieldtypes import field_type_problem, key_path
from .datasets import FORMATS
from .datasets._schema import DEFAULT_LABEL_RANGE

DATA_FORMATS = tuple(FORMATS)
BUNDLED = ("default", "smpd_video", "smpd_video_mape", "smpd_image", "synthetic_full", "synthetic_full_multimodal",
           "smpd_video_full", "retrain")


class ConfigError(ValueError):
    """A config value or key is wrong; the message names where."""


@dataclass(frozen=True)
class DataConfig:
    format: str = "synthetic"
    path: str | None = None  # data folder (smpd_image / smpd_video) or synthetic output folder (default: cache)
    options: dict[str, Any] = field(default_factory=dict)  # loader keyword arguments
    synthetic: dict[str, Any] = field(default_factory=dict)  # generate_smpd_image keyword arguments
    table: dict[str, Any] = field(default_factory=dict)  # train / test paths and the column mapping
    # Train labels outside [low, high] are a DataError naming file, line and value (SMP labels are log-scale
    # popularity, about 1-17; the default only catches values that cannot be a log-scale label, such as 1e300).
    label_range: list[float] = field(default_factory=lambda: list(DEFAULT_LABEL_RANGE))


@dataclass(frozen=True)
class CVConfig:
    scheme: str = "group"  # kfold | group (by user) | time
    n_splits: int = 5
    seed: int | None = None  # default: the run seed


@dataclass(frozen=True)
class ModelConfig:
    key: str
    name: str = ""  # default: key; two entries of one key need names
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StackLevelConfig:
    """A stack level above 2 (`[[stack.levels]]`): its learners see the OOF predictions of the level below."""

    learners: list[ModelConfig] = field(default_factory=list)
    passthrough: bool = False  # also see the static features


@dataclass(frozen=True)
class StackConfig:
    learners: list[ModelConfig] = field(
        default_factory=lambda: [ModelConfig("blend", "blend"), ModelConfig("ridge", "ridge")]
    )
    passthrough: bool = False  # level 2 also sees the static features
    final: str = "best"  # "best" by `metric`, or a result name such as "ridge_2" or "lgbm"
    fold_blend: bool = False  # level 2 also gets `fold_blend_2`: per-fold blend weights (HyperFusion eq. 8-9)
    levels: list[StackLevelConfig] = field(default_factory=list)  # levels 3, 4, ... in order
    # > 0: the stack learners and the choice of the final model read forward predictions instead of the K-fold
    # out-of-fold ones: each level-1 learner is fitted once more on the earlier posts and predicts the latest
    # `time_tail` share of the labelled posts (by time), which is what later posts will meet.
    time_tail: float = 0.0


@dataclass(frozen=True)
class TuningConfig:
    """`[tuning]`: Optuna tuning of level-1 learners before the run (see ensembles/tuning)."""

    enabled: bool = False
    models: list[str] = field(default_factory=list)  # [[models]] names; empty = every one with a search space
    metric: str = ""  # "" = the run's metric; or src | mae | mse | mape | smp
    n_trials: int = 20  # finished trials per model, counted over sessions and workers
    timeout: float = 0.0  # seconds per model per session; 0 = no time budget
    storage: str = ""  # database URL; empty = a SQLite file in output.cache_dir
    study_prefix: str = ""  # default: the run name
    retune: bool = False  # ignore a finished study for the same data/params and tune again
    workers: int = 1  # processes on this machine sharing the study
    startup_trials: int = 5  # MedianPruner: trials before pruning starts
    warmup_folds: int = 1  # MedianPruner: folds of a trial before it may be pruned
    # A worker killed mid-trial: its trial stops beating, is failed after the grace period and queued again.
    heartbeat_interval: int = 60  # seconds between a running trial's heartbeats in the storage; 0 = off
    grace_period: int = 0  # seconds without a heartbeat before a running trial is failed; 0 = 2 x interval
    max_retry: int = 2  # times a failed (stale) trial is queued again with the same parameters


@dataclass(frozen=True)
class PseudoConfig:
    """`[pseudo]`: pseudo-label rounds on the test rows (HyperFusion eq. 10; see ensembles/pseudo.py)."""

    enabled: bool = False
    rounds: int = 2  # at most this many rounds after the first fit; stops early when CV does not improve
    alpha: float = 0.5  # tau = mu + alpha * sigma of the confidence scores; larger = fewer rows
    weight: float = 0.5  # sample weight of a pseudo row (real rows weigh 1)
    source: str = "folds"  # members whose disagreement is the confidence: every fold model, or each learner
    min_gain: float = 0.0  # a round is kept when CV improves by more than this (in `metric` units)


@dataclass(frozen=True)
class TrainingConfig:
    """`[training]`: how the level-1 learners are fitted on each fold (see `smp.ensembles.Stopping`)."""

    # Where boosters and networks stop early: inner (an early-stopping part of each fold's training part, split
    # like the folds: latest posts for time folds, whole users for group folds), refit (the same, then a refit on
    # the whole training part with the rounds found), validation (the scored rows: inflates CV; for measuring
    # only), none.
    early_stopping: str = "inner"
    stop_frac: float = 0.15  # share of each training part held back to stop on
    # Per-row sample weights: none, inverse_label (1 / |label|, what MAPE weighs), or recency (newer posts count
    # more: weight 0.5 ** (age / recency_half_life_days), age from the newest training post).
    sample_weight: str = "none"
    recency_half_life_days: float = 0.0  # > 0 with sample_weight = "recency" (or "inverse_label+recency")


@dataclass(frozen=True)
class CalibrationConfig:
    """`[calibration]`: post-processing of the final prediction, fitted on out-of-fold predictions only (see
    `smp.ensembles.calibration`); the calibrated result joins the leaderboard as `<final>_cal` and becomes final."""

    method: str = "none"  # none | isotonic | linear: a map from the OOF prediction to the label
    trend: bool = False  # add the linear time trend of the OOF residual at the new posts' times
    median_guard: str = "auto"  # auto (on when the metric is mae / mape / smp) | on | off: shrink towards the median


@dataclass(frozen=True)
class SelectionConfig:
    """`[selection]`: feature selection inside each fold for the level-1 learners (`smp.ensembles.selection`)."""

    method: str = "none"  # none | cumulative (keep `share` of the total gain) | null (beat permuted-label gain)
    share: float = 0.95
    quantile: float = 0.75  # null: a feature's gain must beat this quantile of its permuted-label gains
    models: list[str] = field(default_factory=list)  # [[models]] names it applies to; empty = every tree model


@dataclass(frozen=True)
class OutputConfig:
    runs_dir: str = "runs"
    submissions_dir: str = "submissions"
    cache_dir: str = ".smp/cache"
    # Where models built from other models (the distilled static embedding, ONNX exports) are kept; empty:
    # $SMP_MODELS_DIR when set, else <cache_dir>/models. Each folder is checked against what it was built from,
    # so several cache dirs (experiments, test runs) can share one.
    models_dir: str = ""
    # Fitted level-1 folds cached under <cache_dir>/folds, keyed by everything a fit reads (features, labels,
    # folds, learner params, code and library versions): a re-run refits only what changed.
    fold_cache: bool = True
    submission: bool = True
    post_id_prefix: str = ""  # official SMPD-Image submissions write post ids as "post<Pid>"
    external_data: str = ""  # details for the submission's external_data field; empty means "used": "false"


@dataclass(frozen=True)
class OutliersConfig:
    """IQR outlier filter on each fold's training part (HyperFusion); validation rows are never dropped."""

    enabled: bool = False
    k: float = 1.5  # fences at Q1 - k * IQR and Q3 + k * IQR
    label: bool = True  # filter on the label
    columns: list[str] = field(default_factory=list)  # and on these feature / post columns


@dataclass(frozen=True)
class ImportanceConfig:
    """Feature importance written to the run folder: gain (always) and permutation importance on OOF rows."""

    permutation: bool = True  # permute each feature group in each fold's validation part, score the drop
    per_feature: bool = False  # also each feature alone: one prediction per column, most of a short run's time
    repeats: int = 1
    max_rows: int = 2000  # validation rows per fold used for permutation (a seeded sample when more)
    top: int = 20  # rows of the top-N table


@dataclass(frozen=True)
class LocalEngineConfig:
    n_jobs: int = 1  # fold fits in parallel joblib processes; 1 = a plain loop in this process, -1 = all cores


@dataclass(frozen=True)
class RayConfig:
    """`engine = "ray"`: `ray.init(address=...)`; an empty address starts a local cluster (dashboard off)."""

    address: str = ""  # "" = start a local cluster; "auto" = the running one; "ray://head:10001" = a remote one
    num_cpus: int | None = None  # local cluster only
    num_gpus: int | None = None  # local cluster only
    task_cpus: float = 1.0  # CPUs each fold-fit task reserves
    temp_dir: str = ""  # local cluster only: Ray's session folder (default: the system temp folder)
    init: dict[str, Any] = field(default_factory=dict)  # extra ray.init keyword arguments
    max_retries: int = 3  # a fold task whose worker or node dies is run again, up to this many times
    timeout: float = 0.0  # seconds to wait for the next fold result before failing (0 = no limit)


@dataclass(frozen=True)
class RetrainConfig:
    """`smp retrain`: where the model registry lives and how a challenger must beat the champion."""

    registry_dir: str = "registry"  # versions v0001, ... and the champion pointer (relative: to the working dir)
    window_frac: float = 0.1  # the most recent fraction of labelled posts (by post_time) both models are scored on
    margin: float = 0.0  # promote only if the challenger beats the champion by more than this on `metric`
    retune_every_days: float = 0.0  # > 0: re-tune when the last tuned version is this old (0: only with --retune)
    lock_file: str = ""  # default: <registry_dir>/.retrain.lock


@dataclass(frozen=True)
class TrackingConfig:
    """`[tracking]`: MLflow tracking of finished runs, ablations and retraining (extra `tracking`; see
    pipelines/tracking.py). Off while `mlflow_uri` is empty."""

    mlflow_uri: str = ""  # e.g. "http://mlflow-host:5000" or "sqlite:///mlflow.db"; CLI: --mlflow URI
    experiment: str = ""  # default: the config name
    artifact_location: str = ""  # artifact root of an experiment this creates (default: the server's)
    model_name: str = ""  # registered model that `smp retrain` mirrors the registry into (default: the config name)


@dataclass(frozen=True)
class RunConfig:
    name: str = "run"
    seed: int = 0
    # src | mae | mse | mape | smp (mean of SRC and the MAE skill): every learner's objective and early stopping,
    # the blend's loss, the stacker, the final choice and the tuning objective follow it.
    metric: str = "src"
    data: DataConfig = field(default_factory=DataConfig)
    features: list[FeatureSpec] = field(default_factory=list)
    models: list[ModelConfig] = field(default_factory=list)
    cv: CVConfig = field(default_factory=CVConfig)
    stack: StackConfig = field(default_factory=StackConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    outliers: OutliersConfig = field(default_factory=OutliersConfig)
    importance: ImportanceConfig = field(default_factory=ImportanceConfig)
    engine: str = "local"  # local (joblib) | ray: where fold fits run; results are identical
    local: LocalEngineConfig = field(default_factory=LocalEngineConfig)
    ray: RayConfig = field(default_factory=RayConfig)
    retrain: RetrainConfig = field(default_factory=RetrainConfig)
    tuning: TuningConfig = field(default_factory=TuningConfig)
    pseudo: PseudoConfig = field(default_factory=PseudoConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    selection: SelectionConfig = field(default_factory=SelectionConfig)

    def to_dict(self) -> dict[str, Any]:
        d = _drop_none(dataclasses.asdict(self))
        d["features"] = [{"name": s.name, "params": dict(s.params)} for s in self.features]
        return d

    def to_toml(self) -> str:
        return tomli_w.dumps(self.to_dict())

    def evolve(self, **changes: Any) -> "RunConfig":
        """A validated copy with `changes`: top-level values (`name=...`) or, per section, a dict of its keys
        (`data={"path": ...}`) merged over the section; lists are replaced whole. Configs are frozen: every
        variant (CLI overrides, ablation variants, retraining) is made this way and validated again."""
        merged = self.to_dict()
        for key, value in changes.items():
            value = _as_toml(value)
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
        return config_from_dict(_drop_none(merged), f"<config {self.name}>")


def _as_toml(value: Any) -> Any:
    """Config objects (a FeatureSpec, a ModelConfig, a section) as the tables a TOML file would hold."""
    if isinstance(value, FeatureSpec):
        return {"name": value.name, "params": dict(value.params)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _drop_none(dataclasses.asdict(value))
    if isinstance(value, (list, tuple)):
        return [_as_toml(v) for v in value]
    return value


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_drop_none(v) for v in value]
    return value


def _build(cls, data: Any, where: str):
    """Check a TOML table against dataclass `cls`: known keys, each value of its field's type and range."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a table, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; valid keys: {sorted(fields)}")
    problem = field_type_problem(cls, data, where)
    if problem:
        raise ConfigError(problem)
    for name, value in data.items():
        low = _MINIMUM.get((cls.__name__, name))
        if low is not None and value is not None and value < low[0]:
            raise ConfigError(f"{key_path(where, name)} must be >= {low[0]} ({low[1]}), got {value!r}")
    return data


# Lower bounds of numeric fields, checked with their types when a file is read (the rule and why).
_MINIMUM: dict[tuple[str, str], tuple[float, str]] = {
    ("RunConfig", "seed"): (0, "seeds are non-negative"),
    ("CVConfig", "n_splits"): (2, "a K-fold split needs two folds"),
    ("CVConfig", "seed"): (0, "seeds are non-negative"),
    ("ImportanceConfig", "repeats"): (1, "permutations per feature"),
    ("ImportanceConfig", "max_rows"): (1, "validation rows per fold"),
    ("ImportanceConfig", "top"): (1, "rows of the top-N table"),
    ("OutliersConfig", "k"): (0, "IQR fence multiplier"),
    ("TuningConfig", "timeout"): (0, "seconds; 0 = no time budget"),
    ("TuningConfig", "startup_trials"): (0, "trials"),
    ("TuningConfig", "warmup_folds"): (0, "folds"),
    ("RayConfig", "num_cpus"): (1, "CPUs"),
    ("RayConfig", "num_gpus"): (0, "GPUs"),
    ("RayConfig", "task_cpus"): (0, "CPUs per task"),
}


def _label_range(data: DataConfig, where: str) -> None:
    lr = data.label_range
    if len(lr) != 2 or not lr[0] < lr[1]:
        raise ConfigError(f"{where}.label_range must be [low, high] with low < high, got {lr!r}")


def _feature_specs(items: list, source: str) -> list[FeatureSpec]:
    """`[[features]]`: each a generator name or {name, params}; the generator is built once to check its params."""
    from smp.features import GENERATORS

    specs = []
    for i, item in enumerate(items):
        where = f"{source} [[features]][{i}]"
        if isinstance(item, FeatureSpec):
            item = {"name": item.name, "params": dict(item.params)}
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, dict) or "name" not in item or set(item) - {"name", "params"}:
            raise ConfigError(f"{where}: expected {{name = ..., params = {{...}}}}, got {item!r}")
        if not isinstance(item["name"], str) or item["name"] not in GENERATORS:
            raise ConfigError(f"{where}: unknown feature generator {item['name']!r}; valid: {list(GENERATORS)}")
        params = item.get("params", {})
        if not isinstance(params, dict):
            raise ConfigError(f"{where}.params must be a table, got {params!r}")
        spec = FeatureSpec(item["name"], dict(params))
        twin = next((j for j, other in enumerate(specs) if other == spec), None)
        if twin is not None:  # the same generator with the same params twice: both would write the same columns
            raise ConfigError(f"{where}: {item['name']!r} with these params is already [[features]][{twin}]")
        try:
            spec.create()  # generators only store their parameters: this checks the names, and costs nothing
        except (TypeError, ValueError, KeyError) as e:
            raise ConfigError(f"{where} ({item['name']}): {e}") from e
        specs.append(spec)
    return specs


def _check_model_params(models: list[ModelConfig], where: str) -> None:
    """Each learner's params against what its library accepts (ensembles/models/params.py)."""
    from smp.ensembles.models.params import check_params

    for i, m in enumerate(models):
        try:
            check_params(m.key, m.params, f"{where}[{i}] ({m.name})")
        except ValueError as e:
            raise ConfigError(str(e)) from e


def _models(items: Any, where: str) -> list[ModelConfig]:
    if not isinstance(items, list):
        raise ConfigError(f"{where}: expected an array of tables or model keys, got {items!r}")
    out = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            item = {"key": item}
        if isinstance(item, ModelConfig):
            item = dataclasses.asdict(item)
        d = _build(ModelConfig, item, f"{where}[{i}]")
        if "key" not in d:
            raise ConfigError(f"{where}[{i}]: missing required key 'key'")
        out.append(ModelConfig(key=d["key"], name=d.get("name") or d["key"], params=dict(d.get("params", {}))))
    return out


def config_from_dict(raw: dict[str, Any], source: str = "<config>") -> RunConfig:
    """Validate a parsed TOML document into a (frozen) `RunConfig`."""
    from smp.ensembles import GREATER_IS_BETTER, MODELS, SCHEMES

    top = _build(RunConfig, raw, source)
    metric = top.get("metric", "src")
    if metric not in GREATER_IS_BETTER:
        raise ConfigError(f"{source}: metric must be one of {sorted(GREATER_IS_BETTER)}, got {metric!r}")
    data = DataConfig(**_build(DataConfig, top.get("data", {}), f"{source} [data]"))
    _label_range(data, f"{source} [data]")
    if data.format not in DATA_FORMATS:
        raise ConfigError(f"{source} [data]: format must be one of {DATA_FORMATS}, got {data.format!r}")
    cv = CVConfig(**_build(CVConfig, top.get("cv", {}), f"{source} [cv]"))
    if cv.scheme not in SCHEMES:
        raise ConfigError(f"{source} [cv]: scheme must be one of {SCHEMES}, got {cv.scheme!r}")
    features = _feature_specs(top.get("features", []), source)
    models = _models(top.get("models", []), f"{source} [[models]]")
    st = _build(StackConfig, top.get("stack", {}), f"{source} [stack]")
    levels = []
    for i, lv in enumerate(st.get("levels", [])):
        d = _build(StackLevelConfig, lv, f"{source} [[stack.levels]][{i}]")
        levels.append(StackLevelConfig(
            learners=_models(d.get("learners", []), f"{source} [[stack.levels]][{i}].learners"),
            passthrough=bool(d.get("passthrough", False))))
        if not levels[-1].learners:
            raise ConfigError(f"{source} [[stack.levels]][{i}]: needs at least one learner")
    stack = StackConfig(
        learners=_models(st["learners"], f"{source} [stack].learners") if "learners" in st else StackConfig().learners,
        passthrough=bool(st.get("passthrough", False)),
        final=str(st.get("final", "best")),
        fold_blend=bool(st.get("fold_blend", False)),
        levels=levels,
        time_tail=float(st.get("time_tail", 0.0)),
    )
    if not 0.0 <= stack.time_tail < 1.0:
        raise ConfigError(f"{source} [stack].time_tail must be in [0, 1) (a share of the labelled posts), "
                          f"got {stack.time_tail!r}")
    for where, group in (("[[models]]", models), ("[stack].learners", stack.learners),
                         *((f"[[stack.levels]][{i}].learners", lv.learners) for i, lv in enumerate(levels))):
        seen = set()
        for m in group:
            if m.key not in MODELS:
                raise ConfigError(f"{source} {where}: unknown model {m.key!r}; valid keys: {sorted(MODELS)}")
            if m.name in seen:
                raise ConfigError(f"{source} {where}: two entries named {m.name!r}; give them distinct `name`s")
            seen.add(m.name)
        _check_model_params(group, f"{source} {where}")
    if not models:
        raise ConfigError(f"{source}: at least one [[models]] entry is required")
    return RunConfig(
        name=str(top.get("name", "run")), seed=int(top.get("seed", 0)), metric=metric, data=data,
        features=features, models=models, cv=cv, stack=stack,
        output=OutputConfig(**_build(OutputConfig, top.get("output", {}), f"{source} [output]")),
        outliers=OutliersConfig(**_build(OutliersConfig, top.get("outliers", {}), f"{source} [outliers]")),
        importance=ImportanceConfig(**_build(ImportanceConfig, top.get("importance", {}), f"{source} [importance]")),
        **_engine_sections(top, source),
        **_training_sections(top, [m.name for m in models], source),
    )


def _engine_sections(top: dict[str, Any], source: str) -> dict[str, Any]:
    """`engine`, `[local]`, `[ray]`, `[retrain]` and `[tracking]` (scale-out, scheduled retraining, MLflow)."""
    from smp.ensembles import ENGINES

    engine = str(top.get("engine", "local"))
    if engine not in ENGINES:
        raise ConfigError(f"{source}: engine must be one of {ENGINES}, got {engine!r}")
    local = LocalEngineConfig(**_build(LocalEngineConfig, top.get("local", {}), f"{source} [local]"))
    if not isinstance(local.n_jobs, int) or local.n_jobs == 0 or local.n_jobs < -1:
        raise ConfigError(f"{source} [local]: n_jobs must be a positive integer or -1, got {local.n_jobs!r}")
    rt = RetrainConfig(**_build(RetrainConfig, top.get("retrain", {}), f"{source} [retrain]"))
    if not 0.0 < rt.window_frac < 1.0:
        raise ConfigError(f"{source} [retrain]: window_frac must be in (0, 1), got {rt.window_frac!r}")
    if rt.margin < 0 or rt.retune_every_days < 0:
        raise ConfigError(f"{source} [retrain]: margin and retune_every_days must be >= 0, got "
                          f"{rt.margin!r} and {rt.retune_every_days!r}")
    return {"engine": engine, "local": local, "retrain": rt,
            "ray": RayConfig(**_build(RayConfig, top.get("ray", {}), f"{source} [ray]")),
            "tracking": TrackingConfig(**_build(TrackingConfig, top.get("tracking", {}), f"{source} [tracking]"))}


def _training_sections(top: dict, names: list[str], source: str) -> dict[str, Any]:
    """`[tuning]` and `[pseudo]`."""
    from smp.ensembles.pseudo import SOURCES
    from smp.ensembles.tuning import OBJECTIVES, Heartbeat

    tuning = TuningConfig(**_build(TuningConfig, top.get("tuning", {}), f"{source} [tuning]"))
    if tuning.metric and tuning.metric not in OBJECTIVES:
        raise ConfigError(f"{source} [tuning]: metric must be one of {sorted(OBJECTIVES)}, got {tuning.metric!r}")
    if tuning.n_trials < 1 or tuning.workers < 1:
        raise ConfigError(f"{source} [tuning]: n_trials and workers must be >= 1, got {tuning.n_trials}, "
                          f"{tuning.workers}")
    try:
        Heartbeat(tuning.heartbeat_interval, tuning.grace_period, tuning.max_retry)
    except ValueError as e:
        raise ConfigError(f"{source} [tuning]: {e}") from e
    unknown = [n for n in tuning.models if n not in names]
    if unknown:
        raise ConfigError(f"{source} [tuning]: models {unknown} are not [[models]] names; names: {names}")
    pseudo = PseudoConfig(**_build(PseudoConfig, top.get("pseudo", {}), f"{source} [pseudo]"))
    if pseudo.source not in SOURCES:
        raise ConfigError(f"{source} [pseudo]: source must be one of {SOURCES}, got {pseudo.source!r}")
    if pseudo.rounds < 0 or pseudo.weight <= 0:
        raise ConfigError(f"{source} [pseudo]: rounds must be >= 0 and weight > 0, got {pseudo.rounds}, "
                          f"{pseudo.weight}")
    return {"tuning": tuning, "pseudo": pseudo, **_fitting_sections(top, names, source)}


WEIGHTS = ("none", "inverse_label", "recency", "inverse_label+recency")


def _fitting_sections(top: dict, names: list[str], source: str) -> dict[str, Any]:
    """`[training]`, `[calibration]` and `[selection]`."""
    from smp.ensembles.folds import STOPPING
    from smp.ensembles.calibration import METHODS as CAL_METHODS
    from smp.ensembles.selection import METHODS as SEL_METHODS

    tr = TrainingConfig(**_build(TrainingConfig, top.get("training", {}), f"{source} [training]"))
    if tr.early_stopping not in STOPPING:
        raise ConfigError(f"{source} [training].early_stopping must be one of {STOPPING}, got {tr.early_stopping!r}")
    if not 0.0 < tr.stop_frac < 1.0:
        raise ConfigError(f"{source} [training].stop_frac must be in (0, 1), got {tr.stop_frac!r}")
    if tr.sample_weight not in WEIGHTS:
        raise ConfigError(f"{source} [training].sample_weight must be one of {WEIGHTS}, got {tr.sample_weight!r}")
    if "recency" in tr.sample_weight and not tr.recency_half_life_days > 0:
        raise ConfigError(f"{source} [training].recency_half_life_days must be > 0 with sample_weight = "
                          f"{tr.sample_weight!r}, got {tr.recency_half_life_days!r}")
    cal = CalibrationConfig(**_build(CalibrationConfig, top.get("calibration", {}), f"{source} [calibration]"))
    if cal.method not in CAL_METHODS:
        raise ConfigError(f"{source} [calibration].method must be one of {CAL_METHODS}, got {cal.method!r}")
    if cal.median_guard not in ("auto", "on", "off"):
        raise ConfigError(f"{source} [calibration].median_guard must be auto, on or off, got {cal.median_guard!r}")
    sel = SelectionConfig(**_build(SelectionConfig, top.get("selection", {}), f"{source} [selection]"))
    if sel.method not in ("none", *SEL_METHODS):
        raise ConfigError(f"{source} [selection].method must be one of {('none', *SEL_METHODS)}, got {sel.method!r}")
    if not 0.0 < sel.share <= 1.0 or not 0.0 < sel.quantile < 1.0:
        raise ConfigError(f"{source} [selection]: share must be in (0, 1] and quantile in (0, 1), got "
                          f"{sel.share!r} and {sel.quantile!r}")
    unknown = [n for n in sel.models if n not in names]
    if unknown:
        raise ConfigError(f"{source} [selection]: models {unknown} are not [[models]] names; names: {names}")
    return {"training": tr, "calibration": cal, "selection": sel}


def load_config(path: str | Path | None = None) -> RunConfig:
    """Load a TOML config file, or a bundled one by name (`default`, `smpd_video`, ...), default `default`."""
    if path is None or str(path) in BUNDLED:
        name = "default" if path is None else str(path)
        text = resources.files("smp.pipelines").joinpath("configs", f"{name}.toml").read_text()
        source = f"<bundled config {name}>"
    else:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file {p} does not exist (bundled configs: {', '.join(BUNDLED)})")
        text, source = _read_utf8(p), str(p)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{source}: invalid TOML: {e}") from e
    return config_from_dict(raw, source)


def _read_utf8(path: Path) -> str:
    """The file as text; bytes that are not UTF-8 (TOML must be UTF-8) name the file, line and byte. A UTF-8
    byte-order mark (some Windows editors write one) is dropped, as the table loaders drop it from a CSV."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise ConfigError(f"{path}: line {line}, column {column}: byte {data[e.start]:#04x} is not UTF-8 "
                          "(TOML files must be UTF-8 text)") from None
