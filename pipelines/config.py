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

DATA_FORMATS = ("synthetic", "smpd_image", "smpd_video", "table")
BUNDLED = ("default", "smpd_video", "smpd_image", "synthetic_full", "smpd_video_full", "retrain")


class ConfigError(ValueError):
    """A config value or key is wrong; the message names where."""


@dataclass
class DataConfig:
    format: str = "synthetic"
    path: str | None = None  # data folder (smpd_image / smpd_video) or synthetic output folder (default: cache)
    options: dict[str, Any] = field(default_factory=dict)  # loader keyword arguments
    synthetic: dict[str, Any] = field(default_factory=dict)  # generate_smpd_image keyword arguments
    table: dict[str, Any] = field(default_factory=dict)  # train / test paths and the column mapping


@dataclass
class CVConfig:
    scheme: str = "group"  # kfold | group (by user) | time
    n_splits: int = 5
    seed: int | None = None  # default: the run seed


@dataclass
class ModelConfig:
    key: str
    name: str = ""  # default: key; two entries of one key need names
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class StackLevelConfig:
    """A stack level above 2 (`[[stack.levels]]`): its learners see the OOF predictions of the level below."""

    learners: list[ModelConfig] = field(default_factory=list)
    passthrough: bool = False  # also see the static features


@dataclass
class StackConfig:
    learners: list[ModelConfig] = field(
        default_factory=lambda: [ModelConfig("blend"), ModelConfig("ridge")]
    )
    passthrough: bool = False  # level 2 also sees the static features
    final: str = "best"  # "best" by `metric`, or a result name such as "ridge_2" or "lgbm"
    fold_blend: bool = False  # level 2 also gets `fold_blend_2`: per-fold blend weights (HyperFusion eq. 8-9)
    levels: list[StackLevelConfig] = field(default_factory=list)  # levels 3, 4, ... in order


@dataclass
class TuningConfig:
    """`[tuning]`: Optuna tuning of level-1 learners before the run (see ensembles/tuning)."""

    enabled: bool = False
    models: list[str] = field(default_factory=list)  # [[models]] names; empty = every one with a search space
    metric: str = "src"  # src | mae | smp (mean of the SRC and MAE ranks, as the SMP Challenge ranks)
    n_trials: int = 20  # finished trials per model, counted over sessions and workers
    timeout: float = 0.0  # seconds per model per session; 0 = no time budget
    storage: str = ""  # database URL; empty = a SQLite file in output.cache_dir
    study_prefix: str = ""  # default: the run name
    retune: bool = False  # ignore a finished study for the same data/params and tune again
    workers: int = 1  # processes on this machine sharing the study
    startup_trials: int = 5  # MedianPruner: trials before pruning starts
    warmup_folds: int = 1  # MedianPruner: folds of a trial before it may be pruned


@dataclass
class PseudoConfig:
    """`[pseudo]`: pseudo-label rounds on the test rows (HyperFusion eq. 10; see ensembles/pseudo.py)."""

    enabled: bool = False
    rounds: int = 2  # at most this many rounds after the first fit; stops early when CV does not improve
    alpha: float = 0.5  # tau = mu + alpha * sigma of the confidence scores; larger = fewer rows
    weight: float = 0.5  # sample weight of a pseudo row (real rows weigh 1)
    source: str = "folds"  # members whose disagreement is the confidence: every fold model, or each learner
    min_gain: float = 0.0  # a round is kept when CV improves by more than this (in `metric` units)


@dataclass
class OutputConfig:
    runs_dir: str = "runs"
    submissions_dir: str = "submissions"
    cache_dir: str = ".smp/cache"
    submission: bool = True
    post_id_prefix: str = ""  # official SMPD-Image submissions write post ids as "post<Pid>"
    external_data: str = ""  # details for the submission's external_data field; empty means "used": "false"


@dataclass
class OutliersConfig:
    """IQR outlier filter on each fold's training part (HyperFusion); validation rows are never dropped."""

    enabled: bool = False
    k: float = 1.5  # fences at Q1 - k * IQR and Q3 + k * IQR
    label: bool = True  # filter on the label
    columns: list[str] = field(default_factory=list)  # and on these feature / post columns


@dataclass
class ImportanceConfig:
    """Feature importance written to the run folder: gain (always) and permutation importance on OOF rows."""

    permutation: bool = True  # permute each feature group in each fold's validation part, score the drop
    per_feature: bool = False  # also each feature alone: one prediction per column, most of a short run's time
    repeats: int = 1
    max_rows: int = 2000  # validation rows per fold used for permutation (a seeded sample when more)
    top: int = 20  # rows of the top-N table


@dataclass
class LocalEngineConfig:
    n_jobs: int = 1  # fold fits in parallel joblib processes; 1 = a plain loop in this process, -1 = all cores


@dataclass
class RayConfig:
    """`engine = "ray"`: `ray.init(address=...)`; an empty address starts a local cluster (dashboard off)."""

    address: str = ""  # "" = start a local cluster; "auto" = the running one; "ray://head:10001" = a remote one
    num_cpus: int | None = None  # local cluster only
    num_gpus: int | None = None  # local cluster only
    task_cpus: float = 1.0  # CPUs each fold-fit task reserves
    temp_dir: str = ""  # local cluster only: Ray's session folder (default: the system temp folder)
    init: dict[str, Any] = field(default_factory=dict)  # extra ray.init keyword arguments


@dataclass
class RetrainConfig:
    """`smp retrain`: where the model registry lives and how a challenger must beat the champion."""

    registry_dir: str = "registry"  # versions v0001, ... and the champion pointer (relative: to the working dir)
    window_frac: float = 0.1  # the most recent fraction of labelled posts (by post_time) both models are scored on
    margin: float = 0.0  # promote only if the challenger beats the champion by more than this on `metric`
    retune_every_days: float = 0.0  # > 0: re-tune when the last tuned version is this old (0: only with --retune)
    lock_file: str = ""  # default: <registry_dir>/.retrain.lock


@dataclass
class RunConfig:
    name: str = "run"
    seed: int = 0
    metric: str = "src"  # src | mae | mse | mape: picks the final model when stack.final = "best"
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

    def to_dict(self) -> dict[str, Any]:
        d = _drop_none(dataclasses.asdict(self))
        d["features"] = [{"name": s.name, "params": dict(s.params)} for s in self.features]
        return d

    def to_toml(self) -> str:
        return tomli_w.dumps(self.to_dict())


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_drop_none(v) for v in value]
    return value


def _build(cls, data: Any, where: str):
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a table, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; valid keys: {sorted(fields)}")
    return data


def _models(items: Any, where: str) -> list[ModelConfig]:
    if not isinstance(items, list):
        raise ConfigError(f"{where}: expected an array of tables or model keys, got {items!r}")
    out = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            item = {"key": item}
        d = _build(ModelConfig, item, f"{where}[{i}]")
        if "key" not in d:
            raise ConfigError(f"{where}[{i}]: missing required key 'key'")
        out.append(ModelConfig(key=d["key"], name=d.get("name", ""), params=dict(d.get("params", {}))))
    return out


def config_from_dict(raw: dict[str, Any], source: str = "<config>") -> RunConfig:
    """Validate a parsed TOML document into a `RunConfig`."""
    from smp.ensembles import GREATER_IS_BETTER, MODELS, SCHEMES
    from smp.features import GENERATORS

    top = _build(RunConfig, raw, source)
    cfg = RunConfig(name=str(top.get("name", "run")), seed=int(top.get("seed", 0)), metric=top.get("metric", "src"))
    if cfg.metric not in GREATER_IS_BETTER:
        raise ConfigError(f"{source}: metric must be one of {sorted(GREATER_IS_BETTER)}, got {cfg.metric!r}")
    cfg.data = DataConfig(**_build(DataConfig, top.get("data", {}), f"{source} [data]"))
    if cfg.data.format not in DATA_FORMATS:
        raise ConfigError(f"{source} [data]: format must be one of {DATA_FORMATS}, got {cfg.data.format!r}")
    cfg.cv = CVConfig(**_build(CVConfig, top.get("cv", {}), f"{source} [cv]"))
    if cfg.cv.scheme not in SCHEMES:
        raise ConfigError(f"{source} [cv]: scheme must be one of {SCHEMES}, got {cfg.cv.scheme!r}")
    cfg.output = OutputConfig(**_build(OutputConfig, top.get("output", {}), f"{source} [output]"))
    cfg.outliers = OutliersConfig(**_build(OutliersConfig, top.get("outliers", {}), f"{source} [outliers]"))
    cfg.importance = ImportanceConfig(**_build(ImportanceConfig, top.get("importance", {}), f"{source} [importance]"))
    _engine_sections(cfg, top, source)
    for i, item in enumerate(top.get("features", [])):
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, dict) or "name" not in item or set(item) - {"name", "params"}:
            raise ConfigError(f"{source} [[features]][{i}]: expected {{name = ..., params = {{...}}}}, got {item!r}")
        if item["name"] not in GENERATORS:
            raise ConfigError(
                f"{source} [[features]][{i}]: unknown feature generator {item['name']!r}; valid: {list(GENERATORS)}"
            )
        cfg.features.append(FeatureSpec(item["name"], dict(item.get("params", {}))))
    cfg.models = _models(top.get("models", []), f"{source} [[models]]")
    st = _build(StackConfig, top.get("stack", {}), f"{source} [stack]")
    cfg.stack = StackConfig(
        learners=_models(st["learners"], f"{source} [stack].learners") if "learners" in st else StackConfig().learners,
        passthrough=bool(st.get("passthrough", False)),
        final=str(st.get("final", "best")),
        fold_blend=bool(st.get("fold_blend", False)),
    )
    _training_sections(cfg, top, st, source)
    for where, models in (("[[models]]", cfg.models), ("[stack].learners", cfg.stack.learners),
                          *((f"[[stack.levels]][{i}].learners", lv.learners) for i, lv in enumerate(cfg.stack.levels))):
        seen = set()
        for m in models:
            if m.key not in MODELS:
                raise ConfigError(f"{source} {where}: unknown model {m.key!r}; valid keys: {sorted(MODELS)}")
            m.name = m.name or m.key
            if m.name in seen:
                raise ConfigError(f"{source} {where}: two entries named {m.name!r}; give them distinct `name`s")
            seen.add(m.name)
    if not cfg.models:
        raise ConfigError(f"{source}: at least one [[models]] entry is required")
    return cfg


def _engine_sections(cfg: RunConfig, top: dict[str, Any], source: str) -> None:
    """`engine`, `[local]`, `[ray]` and `[retrain]` (scale-out and scheduled retraining)."""
    from smp.ensembles import ENGINES

    cfg.engine = str(top.get("engine", "local"))
    if cfg.engine not in ENGINES:
        raise ConfigError(f"{source}: engine must be one of {ENGINES}, got {cfg.engine!r}")
    cfg.local = LocalEngineConfig(**_build(LocalEngineConfig, top.get("local", {}), f"{source} [local]"))
    if not isinstance(cfg.local.n_jobs, int) or cfg.local.n_jobs == 0 or cfg.local.n_jobs < -1:
        raise ConfigError(f"{source} [local]: n_jobs must be a positive integer or -1, got {cfg.local.n_jobs!r}")
    cfg.ray = RayConfig(**_build(RayConfig, top.get("ray", {}), f"{source} [ray]"))
    cfg.retrain = RetrainConfig(**_build(RetrainConfig, top.get("retrain", {}), f"{source} [retrain]"))
    if not 0.0 < cfg.retrain.window_frac < 1.0:
        raise ConfigError(f"{source} [retrain]: window_frac must be in (0, 1), got {cfg.retrain.window_frac!r}")
    if cfg.retrain.margin < 0 or cfg.retrain.retune_every_days < 0:
        raise ConfigError(f"{source} [retrain]: margin and retune_every_days must be >= 0, got "
                          f"{cfg.retrain.margin!r} and {cfg.retrain.retune_every_days!r}")


def _training_sections(cfg: RunConfig, top: dict, st: dict, source: str) -> None:
    """`[[stack.levels]]`, `[tuning]` and `[pseudo]`."""
    from smp.ensembles.pseudo import SOURCES
    from smp.ensembles.tuning import OBJECTIVES

    for i, lv in enumerate(st.get("levels", [])):
        d = _build(StackLevelConfig, lv, f"{source} [[stack.levels]][{i}]")
        cfg.stack.levels.append(StackLevelConfig(
            learners=_models(d.get("learners", []), f"{source} [[stack.levels]][{i}].learners"),
            passthrough=bool(d.get("passthrough", False))))
        if not cfg.stack.levels[-1].learners:
            raise ConfigError(f"{source} [[stack.levels]][{i}]: needs at least one learner")
    cfg.tuning = TuningConfig(**_build(TuningConfig, top.get("tuning", {}), f"{source} [tuning]"))
    if cfg.tuning.metric not in OBJECTIVES:
        raise ConfigError(f"{source} [tuning]: metric must be one of {sorted(OBJECTIVES)}, got {cfg.tuning.metric!r}")
    if cfg.tuning.n_trials < 1 or cfg.tuning.workers < 1:
        raise ConfigError(f"{source} [tuning]: n_trials and workers must be >= 1, got {cfg.tuning.n_trials}, "
                          f"{cfg.tuning.workers}")
    names = [m.name or m.key for m in cfg.models]
    unknown = [n for n in cfg.tuning.models if n not in names]
    if unknown:
        raise ConfigError(f"{source} [tuning]: models {unknown} are not [[models]] names; names: {names}")
    cfg.pseudo = PseudoConfig(**_build(PseudoConfig, top.get("pseudo", {}), f"{source} [pseudo]"))
    if cfg.pseudo.source not in SOURCES:
        raise ConfigError(f"{source} [pseudo]: source must be one of {SOURCES}, got {cfg.pseudo.source!r}")
    if cfg.pseudo.rounds < 0 or cfg.pseudo.weight <= 0:
        raise ConfigError(f"{source} [pseudo]: rounds must be >= 0 and weight > 0, got {cfg.pseudo.rounds}, "
                          f"{cfg.pseudo.weight}")


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
        text, source = p.read_text(), str(p)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{source}: invalid TOML: {e}") from e
    return config_from_dict(raw, source)
