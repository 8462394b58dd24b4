"""Whether two sets of run folders predict the same, value for value: the check behind a refactor that must not
move predictions (same config, same seed, code before and after).

    .venv/bin/smp -q run --config default --out BEFORE/default        # on the old code
    .venv/bin/smp -q run --config default --out AFTER/default         # on the new code
    .venv/bin/python benchmarks/same_predictions.py BEFORE AFTER default smpd_video

For each config it compares `oof.parquet`, `test_pred.parquet` (every model's out-of-fold and test predictions)
and `submission.json` byte for byte and value for value, and prints ALL IDENTICAL or what differs (exit 1).
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import pandas as pd

FILES = ("oof.parquet", "test_pred.parquet", "submission.json")


def same_values(a: Path, b: Path) -> bool:
    if a.suffix != ".parquet":
        return a.read_bytes() == b.read_bytes()
    da, db = pd.read_parquet(a), pd.read_parquet(b)
    return list(da.columns) == list(db.columns) and all(
        np.array_equal(da[c].to_numpy(), db[c].to_numpy(), equal_nan=da[c].dtype.kind in "fc") for c in da.columns)


def main(before: str, after: str, *configs: str) -> int:
    ok = True
    for cfg in configs or ("default",):
        for name in FILES:
            a, b = Path(before) / cfg / name, Path(after) / cfg / name
            if not a.is_file() or not b.is_file():
                print(f"{cfg}/{name}: missing in {'before' if not a.is_file() else 'after'}")
                ok = False
                continue
            same_bytes, same = a.read_bytes() == b.read_bytes(), same_values(a, b)
            ok &= same
            digest = hashlib.sha256(a.read_bytes()).hexdigest()[:12]
            print(f"{cfg}/{name:18s} bytes {'identical' if same_bytes else 'differ'}; values "
                  f"{'identical' if same else 'DIFFER'}  (before sha256 {digest})")
    print("ALL IDENTICAL" if ok else "DIFFERENCES FOUND")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
