"""Wall time and peak memory of `smp run` on a config (default: the 305,000-post synthetic set).

    .venv/bin/python benchmarks/bench_run.py [--config synthetic_full] [--out DIR]

Runs `smp run` in a child process, then prints the wall time, the child's peak resident memory (ru_maxrss of
the child, which covers every thread; LightGBM and CatBoost run in-process) and the run's CV scores. The
synthetic data set is generated first (and cached under .smp/) and timed separately from the run itself.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="synthetic_full")
    ap.add_argument("--out", default=None, help="run folder (default: a new one under runs/)")
    args = ap.parse_args()

    from smp.pipelines.config import load_config
    from smp.pipelines.data import ensure_synthetic

    cfg = load_config(args.config)
    if cfg.data.format == "synthetic":
        t = time.perf_counter()
        root = ensure_synthetic(cfg.data, cfg.output)
        print(f"synthetic data ready at {root} in {time.perf_counter() - t:.1f}s (reused if it already existed)")

    out = args.out or f"runs/bench-{cfg.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    cmd = [str(Path(sys.executable).with_name("smp")), "run", "--config", args.config, "--out", out]
    t = time.perf_counter()
    subprocess.run(cmd, check=True)
    wall = time.perf_counter() - t
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    metrics = json.loads((Path(out) / "metrics.json").read_text())
    data = json.loads((Path(out) / "data.json").read_text())
    print(f"\nconfig: {args.config}   posts: {data['rows']['total']} ({data['rows']['train']} train)   users: {data['users']}")
    print(f"wall time: {wall:.1f} s   peak memory (RSS): {peak_mib:.0f} MiB")
    print("steps (s): " + ", ".join(f"{k} {v:.1f}" for k, v in metrics["timings_s"].items()))
    for name, m in metrics["models"].items():
        o = m["overall"]
        print(f"  {name:<12} SRC {o['src']:.4f}  MAE {o['mae']:.4f}  MAPE {o['mape']:.4f}")
    print(f"final: {metrics['final']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
