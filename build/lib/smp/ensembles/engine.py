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
same way. Engines are context managers.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterable, Sequence

from tqdm.auto import tqdm

ENGINES = ("local", "ray")


class Engine:
    """Run `fn` over `items`, results in input order."""

    name = ""

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any], *, desc: str | None = None,
            progress: bool = False) -> list:
        raise NotImplementedError

    def close(self) -> None:
        """Release workers this engine started (idempotent)."""

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class LocalEngine(Engine):
    """joblib on this machine; `n_jobs=1` is a plain loop in this process (today's behaviour)."""

    name = "local"

    def __init__(self, n_jobs: int = 1, backend: str = "loky") -> None:
        if not isinstance(n_jobs, int) or n_jobs == 0 or n_jobs < -1:
            raise ValueError(f"`n_jobs` must be a positive integer or -1 (all cores), but got {n_jobs=}.")
        self.n_jobs = n_jobs
        self.backend = backend

    def map(self, fn, items, *, desc=None, progress=False):
        items = list(items)
        if self.n_jobs == 1 or len(items) <= 1:
            return [fn(x) for x in tqdm(items, desc=desc, disable=not progress, leave=False)]
        from joblib import Parallel, delayed

        # return_as="generator" keeps the input order and lets the bar advance as results come in.
        par = Parallel(n_jobs=self.n_jobs, backend=self.backend, return_as="generator")
        results = par(delayed(fn)(x) for x in items)
        return list(tqdm(results, total=len(items), desc=desc, disable=not progress, leave=False))

    def __repr__(self) -> str:
        return f"LocalEngine(n_jobs={self.n_jobs})"


class RayEngine(Engine):
    """Ray tasks; started lazily on the first `map`, so building the engine costs nothing."""

    name = "ray"

    def __init__(self, address: str = "", *, num_cpus: int | None = None, num_gpus: int | None = None,
                 task_cpus: float = 1.0, temp_dir: str = "", init_kwargs: dict[str, Any] | None = None) -> None:
        if task_cpus <= 0:
            raise ValueError(f"`task_cpus > 0` must hold, but got {task_cpus=}.")
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

    def map(self, fn, items, *, desc=None, progress=False):
        items = list(items)
        if not items:
            return []
        ray = self._ray()
        task = ray.remote(num_cpus=self.task_cpus)(fn)
        refs = [task.remote(x) for x in items]
        pending = list(refs)
        with tqdm(total=len(refs), desc=desc, disable=not progress, leave=False) as bar:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                bar.update(len(done))
        return ray.get(refs)  # input order, whatever finished first

    def close(self) -> None:
        if self._started:
            import ray

            ray.shutdown()
            self._started = False

    def __repr__(self) -> str:
        return f"RayEngine(address={self.address or 'local'!r}, num_cpus={self.num_cpus})"


def make_engine(name: str = "local", **options: Any) -> Engine:
    """An engine by name: `local` takes `n_jobs`; `ray` takes `address`, `num_cpus`, `num_gpus`, `task_cpus`,
    `temp_dir`, `init_kwargs`."""
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
                         init_kwargs=r.get("init", {}) or {})
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
