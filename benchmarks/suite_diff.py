"""smp in one suite run against smp in an earlier one: the paired difference (now minus before) per table.

    .venv/bin/python benchmarks/suite_diff.py BEFORE_DIR NOW_DIR [TABLES]

Both folders hold `bench_suite.py`'s `pred_<table>.parquet`; the posts, windows and seeds must match (a code change
measured on the suite's own windows, the way `bench_levers.py` measures a config change). Prints each metric's
difference with its 95% bootstrap interval and verdict.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_suite import paired_verdicts  # noqa: E402

KEYS = ["post_id", "window", "seed"]


def joined(before: Path, now: Path, table: str) -> pd.DataFrame:
    """The NOW predictions with the BEFORE smp column beside them as `before`."""
    a = pd.read_parquet(before / f"pred_{table}.parquet")[[*KEYS, "smp"]].rename(columns={"smp": "before"})
    b = pd.read_parquet(now / f"pred_{table}.parquet")
    p = b.merge(a, on=KEYS, how="inner")
    if not len(p) == len(a) == len(b):
        raise SystemExit(f"{table}: the two runs do not score the same posts, windows and seeds "
                         f"({len(a)} before, {len(b)} now, {len(p)} in common)")
    return p


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        raise SystemExit(__doc__)
    before, now = Path(argv[0]), Path(argv[1])
    tables = argv[2].split(",") if len(argv) == 3 else sorted(p.stem[len("pred_"):] for p in now.glob("pred_*.parquet"))
    for table in tables:
        for r in paired_verdicts({table: joined(before, now, table)}, ["smp", "before"], 2000):
            print(f"{table:14s} {r['metric']:5s} now - before {r['smp_minus_other']:+.4f} "
                  f"[{r['low']:+.4f}, {r['high']:+.4f}]  {r['verdict'].replace('smp is', 'now is')}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
