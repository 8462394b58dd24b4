"""`user_history` on the suite's tables with users: the automatic preset against the same preset plus the
sliding-window user history, by `smp compare`'s paired report on the suite's forward windows (4 x 10%, seed 0).

    .venv/bin/python benchmarks/bench_user_history.py OUT_DIR ted,medium_ds2020

Prints each table's verdicts and writes OUT_DIR/<table>.json (the paired report).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import smp  # noqa: E402
from bench_suite import DATASETS  # noqa: E402
from smp.pipelines.comparison import compare_frames  # noqa: E402
from smp.pipelines.forward import ForwardPlan  # noqa: E402


def main(out: str, names: str) -> int:
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=False)
    for name in names.split(","):
        t = time.perf_counter()
        frame = DATASETS[name].frame()
        base = smp.Predictor(None).resolve_config(frame)
        features = [{"name": f.name, "params": dict(f.params)} for f in base.features] + [{"name": "user_history"}]
        with_history = base.evolve(name="auto+user_history", features=features)
        report, _, _ = compare_frames(base, with_history, frame, plan=ForwardPlan.of(4), seeds=[0],
                                      names=("auto", "auto+user_history"))
        (folder / f"{name}.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
        print(name, f"{time.perf_counter() - t:.0f}s", *report["verdicts"], sep="\n  ", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
