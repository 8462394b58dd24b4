"""LightGBM fit time under each OpenMP wait policy, each in a fresh process: unset (the runtime's default: spin a
while, then sleep), ACTIVE (spin) and PASSIVE (sleep: what `import smp` sets unless the user chose).

    python benchmarks/bench_omp_wait.py [--rows 2500] [--cols 290] [--rounds 400] [--threads 0]

Prints seconds per policy, whether the predictions are identical, and the load average. The difference shows when
other processes keep the cores busy (a second fold, a test run); on an idle machine the two are close.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

CHILD = """
import json, sys, time
import numpy as np, lightgbm as lgb
rows, cols, rounds, threads = map(int, sys.argv[1:5])
rng = np.random.default_rng(0)
X = rng.normal(size=(rows, cols)); y = X[:, 0] + rng.normal(size=rows)
t = time.perf_counter()
m = lgb.LGBMRegressor(n_estimators=rounds, learning_rate=0.03, num_threads=threads, verbose=-1).fit(X, y)
print(json.dumps({"seconds": time.perf_counter() - t, "pred": m.predict(X[:100]).tolist()}))
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\\n\\n")[0])
    ap.add_argument("--rows", type=int, default=2500, help="training rows (default 2500)")
    ap.add_argument("--cols", type=int, default=290, help="feature columns (default 290)")
    ap.add_argument("--rounds", type=int, default=400, help="boosting rounds (default 400)")
    ap.add_argument("--threads", type=int, default=0, help="LightGBM num_threads (default 0: all cores)")
    args = ap.parse_args(argv)
    out = {}
    for policy in ("unset", "ACTIVE", "PASSIVE"):
        env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
        if policy != "unset":
            env["OMP_WAIT_POLICY"] = policy
        res = subprocess.run([sys.executable, "-c", CHILD, str(args.rows), str(args.cols), str(args.rounds),
                              str(args.threads)], env=env, capture_output=True, text=True, check=True)
        out[policy] = json.loads(res.stdout.strip().splitlines()[-1])
        print(f"OMP_WAIT_POLICY={policy:<8} {out[policy]['seconds']:7.1f} s", flush=True)
    same = out["unset"]["pred"] == out["ACTIVE"]["pred"] == out["PASSIVE"]["pred"]
    print(f"identical predictions: {same}; "
          f"load average {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
