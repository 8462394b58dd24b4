"""Fixtures shared across test folders: the real servers of the scale-out tests (see tests/_servers.py) and one
folder of built models (distilled static embeddings, ONNX exports) for the whole session."""

from __future__ import annotations

import os
import re
import secrets

import pytest

from tests._servers import find_pg_bin, start_postgres

# Numeric libraries' thread pools (OpenMP: PyTorch, LightGBM; OpenBLAS / MKL: numpy; Rayon: the tokenizers) size
# themselves to every core of the machine; under `make test` each worker then ran two or more threads on two cores
# beside the other worker's, and small tensors paid for threads that mostly waited. The variables below are read
# when a library starts, and are inherited by the processes a test starts (CLI runs, notebook kernels, Ray nodes).
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS")


def pytest_configure(config):
    """In an xdist worker: the machine's cores split between the workers (at least one thread each), unless the
    caller set a variable itself. Runs before any test module is imported, so before numpy or torch start."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 0)
    if workers:
        threads = str(max(1, (os.cpu_count() or 1) // workers))
        for name in THREAD_VARIABLES:
            os.environ.setdefault(name, threads)


# The test files that take longest (seconds summed over their tests, `make test ARGS=--durations=0` on a fresh clone,
# 2 cores, 2026-12-03's evening run), longest first. `make test` hands whole files to its workers in collection order
# (`--dist loadfile --no-loadscope-reorder`), so these start first and the many short files fill in at the end: left
# to xdist's default order (files with the most tests first) the notebooks and the server tests started last and ran
# alone.
LONGEST_FILES = (
    "tests/notebooks/test_notebooks.py",  # 57 s (three kernels)
    "tests/pipelines/test_ray_cluster.py",  # 50
    "tests/pipelines/test_tune_workers.py",  # 42
    "tests/pipelines/test_smpd_video.py",  # 41 where the real data is present (skipped otherwise)
    "tests/test_leakage.py",  # 40
    "tests/features/test_contract.py",  # 30
    "tests/ensembles/test_engine.py",  # 25
    "tests/pipelines/test_retrain.py",  # 22
    "tests/pipelines/test_run.py",  # 21
    "tests/features/test_embeddings.py",  # 20
    "tests/pipelines/test_quality.py",  # 19
    "tests/pipelines/test_tracking.py",  # 13
    "tests/pipelines/test_runfolder_checks.py",  # 12
    "tests/ensembles/test_tuning.py",  # 12
)


def pytest_collection_modifyitems(config, items):
    """The longest files first (see LONGEST_FILES); every other file, and the tests inside each, keep their order.
    Tests marked `gpu` are skipped where PyTorch sees no CUDA GPU."""
    rank = {path: i for i, path in enumerate(LONGEST_FILES)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))
    gpu = [item for item in items if item.get_closest_marker("gpu")]
    if gpu and not _cuda_available():
        skip = pytest.mark.skip(reason="needs a CUDA GPU: PyTorch sees none here")
        for item in gpu:
            item.add_marker(skip)


def _cuda_available() -> bool:
    """Whether PyTorch sees a CUDA GPU (asked only when tests marked `gpu` are collected)."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


@pytest.fixture(scope="session", autouse=True)
def shared_built_models(tmp_path_factory):
    """Runs in the tests each get an empty cache dir, so each distilled the static model again (~30 s on 2 cores):
    `$SMP_MODELS_DIR` points every config's built models at one folder of this session, shared by the xdist workers
    (a build is renamed into place atomically and checked against its source). Tests of the model cache itself
    use their own `RowStore` folders, which this does not touch; the notebook kernels inherit it."""
    base = tmp_path_factory.getbasetemp()
    root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "smp-models"
    old = os.environ.get("SMP_MODELS_DIR")
    os.environ["SMP_MODELS_DIR"] = str(root)
    yield root
    if old is None:
        os.environ.pop("SMP_MODELS_DIR", None)
    else:
        os.environ["SMP_MODELS_DIR"] = old


@pytest.fixture(scope="session")
def postgres_server():
    """One PostgreSQL server for the whole test session (started on first use, stopped at the end)."""
    bin_dir = find_pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found in /usr/lib/postgresql/*/bin, $SMP_PG_BIN "
                    "or PATH; install the server package (Debian: apt-get install postgresql-15)")
    server = start_postgres(bin_dir)
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server, request) -> str:
    """A fresh database on the session's server for this test; SQLAlchemy URL with the psycopg driver."""
    name = re.sub(r"[^a-z0-9_]", "_", request.node.name.lower())[:40] + "_" + secrets.token_hex(3)
    return postgres_server.create_database(name)
