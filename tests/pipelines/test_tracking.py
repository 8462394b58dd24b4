"""MLflow tracking against a real local MLflow store (SQLite backend, artifacts in a temp folder): what `smp run`,
`smp ablate` and `smp retrain` log, and that the model registry stays the source of truth when MLflow fails."""

from __future__ import annotations

import json
import shutil
import tomllib

import pytest
import tomli_w

from smp.pipelines.cli import main
from smp.pipelines.datasets.synthetic import generate_smpd_image
from smp.pipelines.model_registry import Registry

mlflow = pytest.importorskip("mlflow", reason="MLflow is not installed (the extra `tracking`: pip install 'smp[tracking]')")
from mlflow import MlflowClient  # noqa: E402

from smp.pipelines.tracking import Tracker, flatten, track  # noqa: E402


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A data set, a config and one MLflow store for the module (creating its tables is the slow part)."""
    tmp = tmp_path_factory.mktemp("trk")
    data = generate_smpd_image(tmp / "smpd", n_posts=400, n_users=50, seed=2, image_size=0, progress=False)
    raw = {
        "name": "trk", "seed": 1,
        "data": {"format": "smpd_image", "path": str(data)},
        "cv": {"scheme": "time", "n_splits": 3},
        "features": ["user_posts", "time", "category", "text_stats", "user_target"],
        "models": [{"key": "lgbm", "params": {"n_estimators": 20, "num_leaves": 7}}, {"key": "ridge"}],
        "stack": {"learners": ["blend"]},
        "importance": {"permutation": False},
        "output": {"runs_dir": str(tmp / "runs"), "submissions_dir": str(tmp / "subs"), "cache_dir": str(tmp / "cache")},
        "retrain": {"registry_dir": str(tmp / "reg"), "window_frac": 0.2},
        "tracking": {"artifact_location": str(tmp / "mlartifacts")},
    }
    config = tmp / "trk.toml"
    config.write_text(tomli_w.dumps(raw))
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    return tmp, config, uri, MlflowClient(tracking_uri=uri, registry_uri=uri)


def _runs(client, **tags):
    exp = client.get_experiment_by_name("trk")
    runs = client.search_runs([exp.experiment_id], max_results=500)
    return [r for r in runs if all(r.data.tags.get(k) == v for k, v in tags.items())]


def test_run_logs_config_metrics_timings_and_artifacts(world, tmp_path):
    tmp, config, uri, client = world
    out = tmp_path / "run1"
    assert main(["-q", "run", "--config", str(config), "--out", str(out), "--mlflow", uri]) == 0
    (run,) = [r for r in _runs(client, **{"smp.kind": "run"}) if r.info.run_name == "run1"]
    assert client.get_experiment_by_name("trk").artifact_location.endswith("mlartifacts")
    cfg = tomllib.loads((out / "config.resolved.toml").read_text())
    params = run.data.params
    assert len(params) == len(flatten(cfg))  # every resolved config key, flattened
    assert params["cv.n_splits"] == "3" and params["models.0.key"] == "lgbm"
    assert params["models.0.params.n_estimators"] == "20" and params["features.4.name"] == "user_target"
    metrics = json.loads((out / "metrics.json").read_text())
    final = metrics["final"]
    assert run.data.tags["smp.final"] == final
    assert run.data.metrics["cv.final.src"] == pytest.approx(metrics["models"][final]["overall"]["src"])
    for model in ("lgbm", "ridge", "blend_2"):
        assert run.data.metrics[f"cv.{model}.mae"] == pytest.approx(metrics["models"][model]["overall"]["mae"])
    history = client.get_metric_history(run.info.run_id, "cv.lgbm.fold_src")
    assert [h.step for h in history] == [0, 1, 2]
    assert run.data.metrics["time.total_s"] == pytest.approx(metrics["timings_s"]["total"])
    arts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"report.md", "submission.json", "metrics.json", "config.resolved.toml", "engine.json", "plots"} <= arts
    plots = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert {"plots/pred_vs_true.png", "plots/importance.png"} <= plots
    local = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="report.md",
                                                tracking_uri=uri, dst_path=str(tmp_path / "dl"))
    assert open(local).read() == (out / "report.md").read_text()

    # A forward evaluation written into the folder (forward.json) is logged too.
    fwd = tmp_path / "run1-fwd"
    shutil.copytree(out, fwd)
    (fwd / "forward.json").write_text(json.dumps({"holdout_frac": 0.2, "models": {"final": {"src": 0.41, "mae": 1.2}}}))
    rid = Tracker(uri, "trk").log_run(fwd)
    got = client.get_run(rid).data.metrics
    assert got["forward.models.final.src"] == 0.41 and got["forward.holdout_frac"] == 0.2
    assert "forward.json" in {a.path for a in client.list_artifacts(rid)}


def test_ablation_is_a_parent_run_with_one_child_per_variant(world, tmp_path):
    tmp, config, uri, client = world
    out = tmp_path / "abl"
    assert main(["-q", "ablate", "--config", str(config), "--only", "no_ensemble", "--jobs", "1", "--out", str(out),
                 "--mlflow", uri]) == 0
    (parent,) = _runs(client, **{"smp.kind": "ablation"})
    children = _runs(client, **{"mlflow.parentRunId": parent.info.run_id})
    assert sorted(c.data.tags["smp.variant"] for c in children) == ["full", "no_ensemble"]
    table = (out / "ablation.csv").read_text()
    assert "no_ensemble" in table
    assert "ablation.no_ensemble.delta_src" in parent.data.metrics and parent.data.metrics["ablation.full.delta_src"] == 0
    assert {"ablation.csv", "ablation.md", "plots"} <= {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert all("cv.final.src" in c.data.metrics for c in children)


def _alias(client, name="trk"):
    mv = client.get_model_version_by_alias(name, "champion")
    return mv.tags["smp.registry_version"]


def test_retrain_mirrors_the_registry_and_its_champion(world, monkeypatch):
    tmp, config, uri, client = world
    reg = Registry(tmp / "reg")
    assert main(["-q", "retrain", "--config", str(config), "--mlflow", uri]) == 0  # v0001: the first champion
    assert _alias(client) == "v0001"
    (mv1,) = client.search_model_versions("name = 'trk'")
    assert mv1.tags["smp.promoted"] == "True" and mv1.tags["smp.run_dir"] == str((reg.root / "v0001" / "run").resolve())

    def broken(*args, **kwargs):
        raise mlflow.exceptions.MlflowException("tracking server went away")

    monkeypatch.setattr(Tracker, "log_run", broken)
    # v0002 scores the same as the champion (same data), so it is kept as a challenger; MLflow fails after the commit.
    assert main(["-q", "retrain", "--config", str(config), "--mlflow", uri]) == 0
    assert reg.versions() == ["v0001", "v0002"] and reg.champion() == "v0001"
    assert [mv.tags["smp.registry_version"] for mv in client.search_model_versions("name = 'trk'")] == ["v0001"]
    monkeypatch.undo()

    with reg.lock():
        reg.rollback("v0002")  # the registry decides; MLflow follows on the next mirror
    before = (reg.root / "registry.json").read_bytes()
    out = track(Tracker(uri, "trk", model_name="trk"), "retrain", reg.root, version="v0002")
    assert out["champion"] == "v0002" and _alias(client) == "v0002"  # the version MLflow missed, now the champion
    assert (reg.root / "registry.json").read_bytes() == before  # tracking only reads the registry
    versions = {mv.tags["smp.registry_version"]: mv for mv in client.search_model_versions("name = 'trk'")}
    assert sorted(versions) == ["v0001", "v0002"] and versions["v0002"].tags["smp.promoted"] == "False"
    challenger = client.get_run(versions["v0002"].run_id)
    val = reg.manifest("v0002")["validation"]
    assert challenger.data.metrics["validation.challenger"] == pytest.approx(val["challenger"])
    assert challenger.data.metrics["validation.champion"] == pytest.approx(val["champion"])
    assert challenger.data.tags["smp.champion_before"] == "v0001" and "champion kept" in challenger.data.tags["smp.verdict"]


def test_unreachable_tracking_server_fails_before_the_run(world, tmp_path, capsys, monkeypatch):
    from tests._servers import free_port

    tmp, config, uri, client = world
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    assert main(["-q", "run", "--config", str(config), "--out", str(tmp_path / "x"), "--mlflow", down]) == 2
    assert not (tmp_path / "x").exists()
    assert f"MLflow tracking at '{down}' does not answer" in capsys.readouterr().err
