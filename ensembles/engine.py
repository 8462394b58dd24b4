"""Executors that run independent tasks (fold fits, ablation variants, embedding batches) in parallel.

One small interface, `Engine.map(fn, items) -> list`, with results always in input order, so a caller that
is deterministic sequentially stays deterministic in parallel: every task gets the same inputs (models carry
their own seed) and the results are assembled in the same order whatever finishes first.

- `LocalEngine` (`engine = "local"`, the default): joblib processes; `n_jobs = 1` runs in this process exactly
  as a plain loop does.
- `RayEngine` (`engine = "ray"`): each item a Ray task. `ray.init(address=...)` joins a running cluster
  (`address = "auto"` or `"ray://host:10001"`), or starts a local one when the address is empty. A cluster we
  started is shut down by `close()`; one we joined is left running.

`get_engine(cfg)` builds the engine a `RunConfig` asks for; feature, ablation and retraining code call it the
same way. Engines are context managers. `map_located` also says where each task ran (host, pid and, on Ray, the
node id and ip), which the run folder's `engine.json` records per fold.

On a cluster a task whose worker or node dies is retried (`max_retries`, Ray's system-failure retries: the fold
fits are pure functions of their inputs, so a retry gives the same result), and `timeout` bounds the wait for
the next result, so a cluster that lost every node able to run a task fails with an error instead of hanging.
"""

from __future__ import annotations

import os
import socket
import sys
from functools import partial
from typing import Any, Callable, Iterable, Sequence

from smp.progress import progress_bar


ENGINES = ("local", "ray")


class Engine:
    """Run `fn` over `items`, results in input order."""

    name = ""

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any], *, desc: str | None = None,
            progress: bool = False, total: int | None = None) -> list:
        """`fn` over `items`, results in input order. `items` may be a generator (`total` then gives its length):
        the local engine builds each item only when a worker is free to take it."""
        raise NotImplementedError

    def map_located(self, fn: Callable[[Any], Any], items: Iterable[Any], *, desc: str | None = None,
                    progress: bool = False, total: int | None = None) -> tuple[list, list[dict[str, Any]]]:
        """`map`, plus where each item ran: one `placement()` dict per item, in input order."""
        pairs = self.map(partial(_located, fn), items, desc=desc, progress=progress, total=total)
        return [r for r, _ in pairs], [where for _, where in pairs]

    def close(self) -> None:
        """Release workers this engine started (idempotent)."""

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def placement() -> dict[str, Any]:
    """Where this code runs: host name and pid, plus the Ray node id and ip inside a Ray worker (else None)."""
    where: dict[str, Any] = {"host": socket.gethostname(), "pid": os.getpid(), "node_id": None, "ip": None}
    ray = sys.modules.get("ray")  # never import Ray just to ask: a joblib worker has no cluster
    if ray is not None and ray.is_initialized():
        where["node_id"] = ray.get_runtime_context().get_node_id()
        where["ip"] = ray.util.get_node_ip_address()
    return where


def _located(fn: Callable[[Any], Any], item: Any) -> tuple[Any, dict[str, Any]]:
    return fn(item), placement()


class LocalEngine(Engine):
    """joblib on this machine; `n_jobs=1` is a plain loop in this process (today's behaviour)."""

    name = "local"

    def __init__(self, n_jobs: int = 1, backend: str = "loky") -> None:
        if not isinstance(n_jobs, int) or n_jobs == 0 or n_jobs < -1:
            raise ValueError(f"`n_jobs` must be a positive integer or -1 (all cores), but got {n_jobs=}.")
        self.n_jobs = n_jobs
        self.backend = backend

    def map(self, fn, items, *, desc=None, progress=False, total=None):
        if total is None:
            items = list(items)
            total = len(items)
        if self.n_jobs == 1 or total <= 1:
            return [fn(x) for x in progress_bar(items, total=total, desc=desc, enabled=progress, leave=False)]
        from joblib import Parallel, delayed

        # return_as="generator" keeps the input order and lets the bar advance as results come in; pre_dispatch
        # "n_jobs" takes a new item from `items` only when a worker is free, so a generator of large tasks (a fold's
        # copy of the feature matrix each) holds about n_jobs of them at a time instead of 2 * n_jobs.
        par = Parallel(n_jobs=self.n_jobs, backend=self.backend, return_as="generator", pre_dispatch="n_jobs")
        results = par(delayed(fn)(x) for x in items)
        return list(progress_bar(results, total=total, desc=desc, enabled=progress, leave=False))

    def __repr__(self) -> str:
        return f"LocalEngine(n_jobs={self.n_jobs})"

    def describe(self) -> dict[str, Any]:
        return {"engine": "local", "n_jobs": self.n_jobs}


class RayEngine(Engine):
    """Ray tasks; started lazily on the first `map`, so building the engine costs nothing."""

    name = "ray"

    def __init__(self, address: str = "", *, num_cpus: int | None = None, num_gpus: int | None = None,
                 task_cpus: float = 1.0, temp_dir: str = "", init_kwargs: dict[str, Any] | None = None,
                 max_retries: int = 3, timeout: float = 0.0) -> None:
        if task_cpus <= 0:
            raise ValueError(f"`task_cpus > 0` must hold, but got {task_cpus=}.")
        if max_retries < 0 or timeout < 0:
            raise ValueError(f"`max_retries >= 0` and `timeout >= 0` must hold, but got {max_retries=}, {timeout=}.")
        self.max_retries, self.timeout = max_retries, timeout
        self.address = address
        self.num_cpus, self.num_gpus, self.task_cpus = num_cpus, num_gpus, task_cpus
        self.temp_dir = temp_dir
        self.init_kwargs = dict(init_kwargs or {})
        self._started = False

    def _ray(self):
        try:
            import ray
        except ImportError as e:  # pragma: no cover - ray is a declared dependency
            raise ImportError("engine = 'ray' needs Ray: pip install 'smp[ray]' (or pip install ray)") from e
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, **self.init_kwargs}
            if self.address:
                kwargs["address"] = self.address
            else:  # a local cluster of our own: these only make sense when we start it
                if self.num_cpus is not None:
                    kwargs["num_cpus"] = self.num_cpus
                if self.num_gpus is not None:
                    kwargs["num_gpus"] = self.num_gpus
                if self.temp_dir:
                    kwargs["_temp_dir"] = os.path.abspath(self.temp_dir)
            # Workers import our packages from the same paths as this process (editable install or PYTHONPATH).
            env = dict(kwargs.pop("runtime_env", None) or {})
            if os.environ.get("PYTHONPATH") and "env_vars" not in env:
                env["env_vars"] = {"PYTHONPATH": os.environ["PYTHONPATH"]}
            if env:
                kwargs["runtime_env"] = env
            ray.init(**kwargs)
            self._started = not self.address
        return ray

    def map(self, fn, items, *, desc=None, progress=False, total=None):
        return self._submit(fn, [(x,) for x in items], desc or getattr(fn, "__name__", "map"), progress)

    def map_located(self, fn, items, *, desc=None, progress=False, total=None):
        # Ray wants a plain function for a task: the wrapper is the task, `fn` its first argument.
        pairs = self._submit(_located, [(fn, x) for x in items], desc or getattr(fn, "__name__", "map"), progress)
        return [r for r, _ in pairs], [where for _, where in pairs]

    def _submit(self, fn, args: list[tuple], desc: str, progress: bool) -> list:
        if not args:
            return []
        ray = self._ray()
        # max_retries: a task whose worker process or node dies is run again elsewhere (exceptions raised by `fn`
        # itself are not retried: they would fail the same way).
        task = ray.remote(num_cpus=self.task_cpus, max_retries=self.max_retries)(fn)
        refs = [task.remote(*a) for a in args]
        pending = list(refs)
        with progress_bar(total=len(refs), desc=desc, enabled=progress, leave=False) as bar:
            while pending:
                done, pending = ray.wait(pending, num_returns=1, timeout=self.timeout or None)
                if not done:
                    for ref in pending:
                        ray.cancel(ref, force=True)
                    raise TimeoutError(
                        f"Ray engine: no task finished within [ray] timeout = {self.timeout:g}s ({len(pending)} of "
                        f"{len(refs)} tasks of {desc} pending on cluster {self.address or 'local'!r}; are its nodes "
                        f"alive with {self.task_cpus:g} free CPU(s)? `ray status` shows them)")
                bar.update(len(done))
        return ray.get(refs)  # input order, whatever finished first

    def close(self) -> None:
        if self._started:
            import ray

            ray.shutdown()
            self._started = False

    def __repr__(self) -> str:
        return f"RayEngine(address={self.address or 'local'!r}, num_cpus={self.num_cpus})"

    def describe(self) -> dict[str, Any]:
        return {"engine": "ray", "address": self.address or "local", "task_cpus": self.task_cpus,
                "max_retries": self.max_retries, "timeout": self.timeout}


def make_engine(name: str = "local", **options: Any) -> Engine:
    """An engine by name: `local` takes `n_jobs`; `ray` takes `address`, `num_cpus`, `num_gpus`, `task_cpus`,
    `temp_dir`, `init_kwargs`, `max_retries`, `timeout`."""
    if name == "local":
        return LocalEngine(**options)
    if name == "ray":
        return RayEngine(**options)
    raise ValueError(f"engine must be one of {ENGINES}, got {name!r}")


def get_engine(cfg: Any = None) -> Engine:
    """The engine a run config asks for (`cfg.engine`, `cfg.local`, `cfg.ray`); `None` -> a local loop.

    Read with getattr, so any object with those attributes works (dataclass or dict sections).
    """
    if cfg is None:
        return LocalEngine()
    name = getattr(cfg, "engine", "local") or "local"
    if name == "local":
        local = _as_dict(getattr(cfg, "local", None))
        return LocalEngine(n_jobs=int(local.get("n_jobs", 1)))
    if name == "ray":
        r = _as_dict(getattr(cfg, "ray", None))
        return RayEngine(r.get("address", "") or "", num_cpus=r.get("num_cpus"), num_gpus=r.get("num_gpus"),
                         task_cpus=float(r.get("task_cpus", 1.0)), temp_dir=r.get("temp_dir", "") or "",
                         init_kwargs=r.get("init", {}) or {}, max_retries=int(r.get("max_retries", 3)),
                         timeout=float(r.get("timeout", 0.0)))
    raise ValueError(f"engine must be one of {ENGINES}, got {name!r}")


def _as_dict(obj: Any) -> dict[str, Any]:
    if obj is None:
        return {}
    if isinstance(obj, dict):
        return obj
    import dataclasses

    if dataclasses.is_dataclass(obj):
        return dataclasses.asdict(obj)
    return dict(vars(obj))


def map_in_order(engine: Engine | None, fn: Callable, items: Sequence, **kwargs) -> list:
    """`engine.map` when an engine is given, else a plain loop (for library code with an optional engine)."""
    return (engine or LocalEngine()).map(fn, items, **kwargs)
