"""MLflow tracking of finished run folders, ablations and registry versions (optional extra `tracking`).

Everything is read from folders that are already complete, so `smp run`, `smp ablate` and `smp retrain` call this
with one line after they finish, MLflow never sees a half-written run, and a tracking failure cannot harm the run
folder or the model registry (this module only reads them). What lands in MLflow:

- experiment `[tracking] experiment` (default: the config name); a new one gets `artifact_location` if set;
- one MLflow run per run folder, named after the folder: params = the resolved config flattened
  (`cv.n_splits`, `models.0.key`, `models.0.params.n_estimators`, ...); metrics `cv.<model>.<src|mae|mse|mape>`
  per model, `cv.final.*` for the final model, `cv.<model>.fold_src` per fold (step = fold),
  `forward.*` from `forward.json` when the folder has one, `time.<step>_s` and `peak_rss_mb`; tags `smp.final`,
  `smp.run_dir`, `smp.kind`; artifacts `report.md`, `plots/`, `submission.json`, `metrics.json`,
  `config.resolved.toml`, `engine.json`, `forward.json` (those present);
- `smp ablate`: a parent run (metrics `ablation.<variant>.<src|mae|mape|delta_*>`, artifacts `ablation.csv`,
  `ablation.md`, `plots/`) and one child run per variant;
- `smp retrain`: the version's run with the champion comparison (`validation.challenger`, `validation.champion`,
  `validation.gain`, `validation.rows`; tags `smp.registry_version`, `smp.promoted`), a model version of the
  registered model `[tracking] model_name` (default: the config name) per registry version, and the alias
  `champion` on the model version of the registry's champion: a mirror of `registry.json`, which stays the source
  of truth (a version MLflow missed is added the next time).
"""

from __future__ import annotations

import json
import logging
import re
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("smp")

ARTIFACTS = ("report.md", "submission.json", "metrics.json", "config.resolved.toml", "engine.json", "forward.json")
CHAMPION_ALIAS = "champion"
MAX_PARAM = 6000  # MLflow's limit on a param value


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts and lists as one level of dotted keys (`models.0.params.n_estimators`); empty ones kept."""
    if isinstance(obj, dict) and obj:
        return {k: v for key, val in obj.items() for k, v in flatten(val, f"{prefix}{key}.").items()}
    if isinstance(obj, list) and obj:
        return {k: v for i, val in enumerate(obj) for k, v in flatten(val, f"{prefix}{i}.").items()}
    return {prefix[:-1]: obj}


def _key(name: str) -> str:
    return re.sub(r"[^\w\-./ ]", "_", name)  # the characters MLflow allows in a metric or param name


def _number(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


@dataclass(frozen=True)
class Tracker:
    """Where finished folders are logged; `Tracker.from_config` is None when tracking is off."""

    uri: str
    experiment: str
    artifact_location: str = ""
    model_name: str = ""

    @classmethod
    def from_config(cls, cfg: Any) -> "Tracker | None":
        """From `[tracking]` (after a CLI `--mlflow` override); checked at once, so a missing extra or an unreachable
        server fails before the long work, not after it."""
        tc = getattr(cfg, "tracking", None)
        if tc is None or not tc.mlflow_uri:
            return None
        tracker = cls(tc.mlflow_uri, tc.experiment or cfg.name, tc.artifact_location, tc.model_name or cfg.name)
        tracker.check()
        return tracker

    def client(self):
        try:
            from mlflow import MlflowClient
        except ImportError as e:
            raise ValueError(f"[tracking] mlflow_uri = {self.uri!r} needs MLflow: pip install 'smp[tracking]' "
                             f"({e})") from e
        return MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)

    def check(self) -> None:
        try:
            self.client().search_experiments(max_results=1)
        except ValueError:
            raise
        except Exception as e:
            raise ValueError(f"MLflow tracking at {self.uri!r} does not answer: {e}") from e

    def experiment_id(self, client) -> str:
        exp = client.get_experiment_by_name(self.experiment)
        if exp is not None:
            return exp.experiment_id
        return client.create_experiment(self.experiment, artifact_location=self.artifact_location or None)

    # --- runs ----------------------------------------------------------------------------------------------
    def log_run(self, run_dir: str | Path, *, parent_run_id: str | None = None, tags: dict[str, str] | None = None,
                metrics: dict[str, float] | None = None, run_name: str | None = None) -> str:
        """One finished run folder as an MLflow run; returns its run id."""
        from mlflow.entities import Metric, Param

        d = Path(run_dir)
        m = json.loads((d / "metrics.json").read_text())
        client = self.client()
        all_tags = {"smp.kind": "run", "smp.run_dir": str(d.resolve()), "smp.final": str(m["final"]), **(tags or {})}
        if parent_run_id:
            all_tags["mlflow.parentRunId"] = parent_run_id
        run = client.create_run(self.experiment_id(client), run_name=run_name or d.name, tags=all_tags)
        rid, now = run.info.run_id, int(time.time() * 1000)
        try:
            values = _run_metrics(d, m) | (metrics or {})
            steps = [Metric(_key(f"cv.{name}.fold_src"), float(f["src"]), now, k)
                     for name, r in m["models"].items() for k, f in enumerate(r.get("folds", []))
                     if _number(f.get("src")) is not None]
            client.log_batch(rid, params=[Param(_key(k), v) for k, v in _params(d).items()],
                             metrics=[Metric(_key(k), v, now, 0) for k, v in values.items()] + steps)
            for name in ARTIFACTS:
                if (d / name).is_file():
                    client.log_artifact(rid, str(d / name))
            if (d / "plots").is_dir():
                client.log_artifacts(rid, str(d / "plots"), artifact_path="plots")
        except BaseException:
            client.set_terminated(rid, status="FAILED")
            raise
        client.set_terminated(rid)
        return rid

    def log_ablation(self, ablation_dir: str | Path) -> str:
        """A finished ablation folder: a parent run with the table, one child run per variant; the parent's id."""
        import pandas as pd
        from mlflow.entities import Metric, Param

        d = Path(ablation_dir)
        table = pd.read_csv(d / "ablation.csv")
        client = self.client()
        run = client.create_run(self.experiment_id(client), run_name=d.name,
                                tags={"smp.kind": "ablation", "smp.run_dir": str(d.resolve())})
        rid, now = run.info.run_id, int(time.time() * 1000)
        try:
            metrics = [Metric(_key(f"ablation.{row['variant']}.{col}"), float(row[col]), now, 0)
                       for _, row in table.iterrows()
                       for col in ("src", "mae", "mape", "delta_src", "delta_mae", "delta_mape", "delta_src_fold_std")
                       if col in row and pd.notna(row[col])]
            client.log_batch(rid, params=[Param(_key(k), v) for k, v in _params(d).items()], metrics=metrics)
            for name in ("ablation.csv", "ablation.md", "ablation.json", "plan.json"):
                if (d / name).is_file():
                    client.log_artifact(rid, str(d / name))
            if (d / "plots").is_dir():
                client.log_artifacts(rid, str(d / "plots"), artifact_path="plots")
            for variant in table["variant"]:
                self.log_run(d / "variants" / variant / "run", parent_run_id=rid, run_name=f"{d.name}/{variant}",
                             tags={"smp.kind": "ablation_variant", "smp.variant": str(variant)})
        except BaseException:
            client.set_terminated(rid, status="FAILED")
            raise
        client.set_terminated(rid)
        return rid

    # --- the registry mirror -------------------------------------------------------------------------------
    def log_retrain(self, registry_root: str | Path, version: str) -> dict[str, Any]:
        """Log registry version `version` (challenger run + champion comparison) as a model version, then point the
        `champion` alias at the model version of the registry's champion. Reads the registry only."""
        from .model_registry import Registry

        registry = Registry(registry_root)
        client = self.client()
        name = self.model_name
        from mlflow.exceptions import MlflowException

        try:
            client.get_registered_model(name)
        except MlflowException:
            client.create_registered_model(name, description=f"mirror of the smp model registry "
                                                             f"{Path(registry_root).resolve()}")
        mirrored = self._mirrored(client)
        out = {"model": name, "version": version}
        out["model_version"] = mirrored.get(version) or self._add_version(client, registry, version)
        champion = registry.champion()
        if champion is not None:
            mv = mirrored.get(champion) or (out["model_version"] if champion == version
                                            else self._add_version(client, registry, champion))
            client.set_registered_model_alias(name, CHAMPION_ALIAS, mv)
            out["champion"], out["champion_model_version"] = champion, mv
        return out

    def _mirrored(self, client) -> dict[str, str]:
        """Registry version -> MLflow model version, for the versions already mirrored."""
        return {mv.tags["smp.registry_version"]: mv.version
                for mv in client.search_model_versions(f"name = '{self.model_name}'")
                if "smp.registry_version" in (mv.tags or {})}

    def _add_version(self, client, registry, version: str) -> str:
        m = registry.manifest(version)
        val = m.get("validation", {})
        metrics = {f"validation.{k}": float(v) for k, v in val.items() if _number(v) is not None}
        tags = {"smp.kind": "retrain", "smp.registry_version": version, "smp.promoted": str(bool(m.get("promoted"))),
                "smp.champion_before": str(m.get("parent")), "smp.verdict": str(val.get("reason", ""))}
        rid = self.log_run(registry.run_dir(version), tags=tags, metrics=metrics, run_name=f"{self.model_name}-{version}")
        run = client.get_run(rid)
        mv = client.create_model_version(
            self.model_name, source=run.info.artifact_uri, run_id=rid,
            tags={"smp.registry_version": version, "smp.registry": str(registry.root.resolve()),
                  "smp.run_dir": str(registry.run_dir(version).resolve()), "smp.promoted": tags["smp.promoted"]},
            description=f"smp registry {version}: {val.get('reason', '')}")
        return mv.version


def _params(d: Path) -> dict[str, str]:
    from smp.ensembles.tuning import redact

    cfg = tomllib.loads((d / "config.resolved.toml").read_text())
    out = {}
    for k, v in flatten(cfg).items():
        s = v if isinstance(v, str) else json.dumps(v, default=str)
        out[k] = redact(s)[:MAX_PARAM]  # a URL with a password (tuning storage, tracking server) loses it
    return out


def _run_metrics(d: Path, m: dict) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, r in m["models"].items():
        for stat, v in r["overall"].items():
            if _number(v) is not None:
                out[f"cv.{name}.{stat}"] = float(v)
    for stat, v in m["models"][m["final"]]["overall"].items():
        if _number(v) is not None:
            out[f"cv.final.{stat}"] = float(v)
    out.update({f"time.{k}_s": float(v) for k, v in m.get("timings_s", {}).items() if _number(v) is not None})
    if _number(m.get("peak_rss_mb")) is not None:
        out["peak_rss_mb"] = float(m["peak_rss_mb"])
    if (d / "forward.json").is_file():  # the forward (time-ordered holdout) evaluation, when the run has one
        fwd = flatten(json.loads((d / "forward.json").read_text()))
        out.update({f"forward.{k}": float(v) for k, v in fwd.items() if _number(v) is not None})
    return out


def track(tracker: Tracker | None, kind: str, path: str | Path, **kwargs: Any) -> Any:
    """Log a finished run ("run"), ablation ("ablate") or registry version ("retrain", `version=`) when tracking is
    on. Never raises: the folder or registry is complete already, and MLflow being down must not fail the job."""
    if tracker is None:
        return None
    try:
        if kind == "run":
            out = tracker.log_run(path)
        elif kind == "ablate":
            out = tracker.log_ablation(path)
        elif kind == "retrain":
            out = tracker.log_retrain(path, kwargs["version"])
        else:
            raise ValueError(f"tracking kind must be run, ablate or retrain, got {kind!r}")
    except Exception as e:
        log.error("MLflow tracking of %s at %s failed: %s: %s (%s is complete and unchanged)", path, tracker.uri,
                  type(e).__name__, e, "the registry" if kind == "retrain" else "the folder")
        return None
    log.info("MLflow: logged %s %s to experiment %r at %s", kind, path, tracker.experiment, tracker.uri)
    return out
