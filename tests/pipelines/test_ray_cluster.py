"""`smp run --engine ray` on a real Ray cluster: a head started with `ray start --head` and worker nodes that join it
with `ray start --address=...`, each its own raylet process tree with 1 CPU (see tests/_servers.py).

The fold fits must run on more than one node and give the local engine's predictions bit for bit (the one test of
`engine = "ray"` in a run: tests/ensembles/test_engine.py checks the engine's fold fits and timeouts); a worker node
SIGKILLed while it fits a fold must lead to the task being retried elsewhere and the same predictions, or a clear
error when retries are off, never a hang.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import tomli_w

from smp.pipelines.cli import main
from smp.pipelines.datasets.synthetic import generate_smpd_image
from tests._servers import RAY_HOST, start_ray_cluster

pytest.importorskip("ray", reason="Ray is not installed (pip install 'smp[ray]'): no `ray start` to run a cluster with")


@pytest.fixture(scope="module")
def cluster():
    c = start_ray_cluster(n_nodes=2)
    try:
        yield c
    finally:  # even when a test failed: the processes under our `ray start` commands, nothing else
        c.stop()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return generate_smpd_image(tmp_path_factory.mktemp("raycl") / "smpd", n_posts=600, n_users=60, seed=5,
                               image_size=0, progress=False)


def _config(tmp: Path, data: Path, address: str) -> Path:
    raw = {
        "name": "raycl", "seed": 1,
        "data": {"format": "smpd_image", "path": str(data)},
        "cv": {"scheme": "group", "n_splits": 3},
        "features": ["user_profile", "user_posts", "time", "category", "text_stats", "user_target"],
        # Folds that take a moment to fit, so the kill test catches a node inside one.
        "models": [{"key": "lgbm", "params": {"n_estimators": 150, "num_leaves": 15}}, {"key": "ridge"}],
        "stack": {"learners": ["blend"]},
        "importance": {"permutation": False},
        # No fold cache: every run here must fit its folds on the cluster (the kill test kills a node inside one).
        "output": {"runs_dir": str(tmp / "runs"), "submissions_dir": str(tmp / "subs"), "cache_dir": str(tmp / "cache"),
                   "fold_cache": False},
        # The driver joins the cluster on its loopback address (Ray would swap 127.0.0.1 for the outward one).
        "ray": {"address": address, "init": {"_node_ip_address": RAY_HOST}, "max_retries": 3, "timeout": 120},
    }
    path = tmp / "raycl.toml"
    path.write_text(tomli_w.dumps(raw))
    return path


@pytest.fixture(scope="module")
def setup(cluster, data, tmp_path_factory):
    """The config on the cluster's address and the local engine's run of it (the reference predictions)."""
    tmp = tmp_path_factory.mktemp("raycfg")
    config = _config(tmp, data, cluster.address)
    assert main(["-q", "run", "--config", str(config), "--engine", "local", "--out", str(tmp / "local")]) == 0
    return config, tmp / "local"


def _smp_run(config: Path, out: Path, cluster) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "smp.pipelines.cli", "-q", "run", "--config", str(config),
                             "--engine", "ray", "--out", str(out)], env={**os.environ, **cluster.env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _same_predictions(a: Path, b: Path) -> None:
    for name in ("oof.parquet", "test_pred.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(a / name), pd.read_parquet(b / name), check_exact=True)


def _folds_by_node(cluster, engine: dict) -> dict[str, list[str]]:
    """engine.json's folds per node, the nodes named by which `ray start` of ours runs them (its raylet's id)."""
    names = {node.node_id: "head" if i == 0 else f"node{i}" for i, node in enumerate(cluster.nodes)}
    out: dict[str, list[str]] = {}
    for node_id, v in engine["nodes"].items():
        out.setdefault(names.get(node_id, f"unknown {node_id}"), []).extend(v["folds"])
    return out


def test_fold_fits_run_on_both_nodes_and_match_the_local_engine(cluster, setup, tmp_path):
    config, local = setup
    proc = _smp_run(config, tmp_path / "ray-2nodes", cluster)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    engine = json.loads((tmp_path / "ray-2nodes" / "engine.json").read_text())
    assert engine["engine"] == "ray" and engine["address"] == cluster.address
    ran_on = _folds_by_node(cluster, engine)
    print(f"\nfolds by cluster node: {ran_on}")
    assert set(ran_on) == {"head", "node1"}  # both raylets ran fold fits, nothing else did
    assert all(v["ip"] == RAY_HOST for v in engine["nodes"].values())
    _same_predictions(local, tmp_path / "ray-2nodes")


def test_killed_worker_node_retries_its_fold_and_gives_the_same_result(cluster, setup, tmp_path):
    config, local = setup
    victim = cluster.add_node()  # a third node, killed while it fits a fold
    proc = _smp_run(config, tmp_path / "ray-killed", cluster)
    deadline, killed = time.time() + 240, False
    try:
        while time.time() < deadline and proc.poll() is None and not killed:
            if victim.running_task("_located"):  # a worker of that node is inside a fold fit right now
                victim.kill()
                killed = True
            time.sleep(0.02)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert killed, f"the third node never ran a fold: {err[-2000:]}"
    # Its fold was mid-fit when the node died: the run could only finish by running it again on a live node.
    assert proc.returncode == 0, err[-3000:]
    engine = json.loads((tmp_path / "ray-killed" / "engine.json").read_text())
    print(f"\nnode2 killed mid-fold; folds by cluster node: {_folds_by_node(cluster, engine)}")
    _same_predictions(local, tmp_path / "ray-killed")
