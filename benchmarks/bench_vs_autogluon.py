"""smp against the real peer, AutoGluon, on one forward split of SMP-Video (`bench_suite.py` runs the same
comparison on several windows of four tables, with intervals).

The split: the labelled SMP-Video posts sorted by post_time; the earliest 80% train, the latest 20% are scored
(exactly `smp evaluate --holdout-frac 0.2`'s split). AutoGluon gets the raw columns (posts + videos + users joined,
the hashtags and suggested words as two text columns, the post time as a datetime) and `presets="best_quality"`
with a time limit; it runs in its own virtual environment (`--ag-python`), as a user would install it. smp runs
the bundled configs through `smp.evaluate_frame` (fit on the earliest posts with the unlabelled test posts beside
them, predict the held-back posts through the `smp predict` path), one fit per seed.

    python benchmarks/bench_vs_autogluon.py --ag-python /path/to/agvenv/bin/python \
        --configs smpd_video,smpd_video_mape --seeds 0,1,2 [--time-limit 900] [--skip-ag] [--out DIR]

Prints one table (system, seed, SRC, MAE, MAPE, wall seconds) and writes it with the details to `--out`
(default `runs/<timestamp>-vs-autogluon/`). Time it on a quiet machine: AutoGluon's time limit is wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]

AG_SCRIPT = textwrap.dedent('''
    import sys, time
    import pandas as pd
    from autogluon.tabular import TabularPredictor

    train, test, out, limit, folder = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5]
    tr, te = pd.read_parquet(train), pd.read_parquet(test)
    t = time.perf_counter()
    p = TabularPredictor(label="popularity", path=folder, verbosity=1).fit(
        tr, presets="best_quality", time_limit=limit)
    fit_s = time.perf_counter() - t
    pred = p.predict(te.drop(columns=["popularity"]))
    pd.DataFrame({"pid": te["pid"], "pred": pred.to_numpy()}).to_parquet(out)
    board = p.leaderboard(silent=True)
    print(f"AG_FIT_SECONDS {fit_s:.1f}")
    print(f"AG_BEST {p.model_best} ({len(board)} models)")
''')


def raw_table(data: Path, split: str) -> pd.DataFrame:
    """The raw SMP-Video columns of one split: posts + videos + users (+ popularity on train), joined on pid/uid."""
    folder = data / split
    read = lambda t: pd.read_json(folder / f"SMP-Video_anonymized_{t}_{split}.jsonl", lines=True)  # noqa: E731
    posts, videos, users = read("posts"), read("videos"), read("users")
    t = posts.merge(videos.drop(columns=["uid"]), on="pid", how="left").merge(users, on="uid", how="left")
    if split == "train":
        t = t.merge(read("popularity").drop(columns=["uid"]), on="pid", how="left")
    t["post_suggested_words"] = t["post_suggested_words"].map(
        lambda v: ", ".join(map(str, v)) if isinstance(v, (list, tuple, np.ndarray)) else "")
    t["post_time"] = pd.to_datetime(t["post_time"])
    return t.drop(columns=["video_path", "vid"], errors="ignore")


def run_autogluon(ag_python: str, train: pd.DataFrame, test: pd.DataFrame, limit: float) -> tuple[pd.Series, float, str]:
    with tempfile.TemporaryDirectory(prefix="smp-vs-ag-") as tmp:
        tmp = Path(tmp)
        train.to_parquet(tmp / "train.parquet")
        test.to_parquet(tmp / "test.parquet")
        (tmp / "ag.py").write_text(AG_SCRIPT)
        t = time.perf_counter()
        res = subprocess.run([ag_python, str(tmp / "ag.py"), str(tmp / "train.parquet"), str(tmp / "test.parquet"),
                              str(tmp / "pred.parquet"), str(limit), str(tmp / "model")],
                             capture_output=True, text=True)
        wall = time.perf_counter() - t
        if res.returncode != 0:
            raise RuntimeError(f"AutoGluon failed (exit {res.returncode}):\n{res.stderr[-3000:]}")
        pred = pd.read_parquet(tmp / "pred.parquet").set_index("pid")["pred"]
        info = "; ".join(line for line in res.stdout.splitlines() if line.startswith("AG_"))
    return pred, wall, info


def lgbm_raw(train: pd.DataFrame, test: pd.DataFrame, seed: int = 0) -> pd.Series:
    """The issue's floor: LightGBM on the raw numeric and categorical columns (no text), 5-fold mean."""
    import lightgbm as lgb
    from sklearn.model_selection import KFold

    def matrix(t: pd.DataFrame) -> pd.DataFrame:
        X = t.drop(columns=["pid", "uid", "popularity", "post_content", "post_suggested_words"], errors="ignore")
        X["hour"], X["weekday"] = X["post_time"].dt.hour, X["post_time"].dt.day_of_week
        X = X.drop(columns=["post_time"])
        for c in X.columns:
            if X[c].dtype == object or str(X[c].dtype).startswith("str"):
                X[c] = X[c].astype("category")
        return X

    both = matrix(pd.concat([train, test], ignore_index=True))
    for c in both.columns:  # one category set for train and test
        if isinstance(both[c].dtype, pd.CategoricalDtype):
            both[c] = both[c].cat.set_categories(both[c].cat.categories)
    X, Xt = both.iloc[:len(train)], both.iloc[len(train):]
    y = train["popularity"].to_numpy(float)
    preds = []
    for tr, va in KFold(5, shuffle=True, random_state=seed).split(X):
        m = lgb.LGBMRegressor(n_estimators=2000, learning_rate=0.03, num_leaves=31, random_state=seed, verbose=-1)
        with warnings.catch_warnings():  # lightgbm 4.7 renames eval_set; older releases know only eval_set
            warnings.filterwarnings("ignore", message="The argument 'eval_set' is deprecated")
            m.fit(X.iloc[tr], y[tr], eval_set=[(X.iloc[va], y[va])], callbacks=[lgb.early_stopping(100, verbose=False)])
        preds.append(m.predict(Xt))
    return pd.Series(np.mean(preds, axis=0), index=test["pid"].to_numpy())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "smpd-video"), help="SMP-Video folder")
    ap.add_argument("--ag-python", default=os.environ.get("AG_PYTHON", ""),
                    help="python of a virtual environment with autogluon.tabular (default: $AG_PYTHON)")
    ap.add_argument("--time-limit", type=float, default=900.0, help="AutoGluon's time limit in seconds (default 900)")
    ap.add_argument("--configs", default="smpd_video", help="comma-separated smp configs (names or TOML paths)")
    ap.add_argument("--seeds", default="0", help="comma-separated seeds for smp (default 0)")
    ap.add_argument("--holdout-frac", type=float, default=0.2, help="the latest share of labelled posts scored")
    ap.add_argument("--skip-ag", action="store_true", help="only smp (and the LightGBM floor)")
    ap.add_argument("--out", default=None, help="folder for the table and details")
    args = ap.parse_args(argv)

    import smp
    from smp.ensembles import score_all
    from smp.pipelines.config import BUNDLED
    from smp.pipelines.forward import forward_split
    from smp.pipelines.report import markdown_table

    data = Path(args.data)
    frame = smp.load("smpd_video", data)
    _, held = forward_split(frame, args.holdout_frac)
    held_ids = set(held["post_id"])
    raw = raw_table(data, "train")
    tr_raw, te_raw = raw[~raw["pid"].isin(held_ids)], raw[raw["pid"].isin(held_ids)]
    y = te_raw.set_index("pid")["popularity"]
    rows = []

    def add(system: str, seed, pred: pd.Series, wall: float, note: str = ""):
        s = score_all(y.to_numpy(), pred.reindex(y.index).to_numpy())
        rows.append({"system": system, "seed": seed, "src": s["src"], "mae": s["mae"], "mape": s["mape"],
                     "wall_s": wall, "note": note})
        print(f"{system:<28} seed {str(seed):<4} SRC {s['src']:.4f}  MAE {s['mae']:.4f}  MAPE {s['mape']:.4f}  "
              f"wall {wall:7.0f}s  {note}", flush=True)

    t = time.perf_counter()
    add("lgbm raw columns (5-fold)", 0, lgbm_raw(tr_raw, te_raw), time.perf_counter() - t)
    if not args.skip_ag:
        if not args.ag_python:
            ap.error("--ag-python (or $AG_PYTHON) is needed unless --skip-ag")
        pred, wall, info = run_autogluon(args.ag_python, tr_raw, te_raw, args.time_limit)
        add(f"AutoGluon best_quality {args.time_limit:.0f}s", "-", pred, wall, info)
    for name in filter(None, args.configs.split(",")):
        cfg = smp.load_config(name if name in BUNDLED else Path(name))
        cfg = cfg.evolve(data={"path": str(data)})
        for seed in [int(s) for s in args.seeds.split(",")]:
            t = time.perf_counter()
            res = smp.evaluate_frame(cfg, frame, holdout_frac=args.holdout_frac, seeds=[seed])
            wall = time.perf_counter() - t
            pred = res.predictions.set_index("post_id")["final"]
            run = res.report["windows"][0]["runs"][0]
            add(f"smp {cfg.name}", seed, pred, wall, f"final {run['final']}, "
                f"CV SRC {run['models']['final']['cv']['src']:.4f}")

    table = pd.DataFrame(rows)
    smp_rows = table[table["system"].str.startswith("smp")]
    summary = smp_rows.groupby("system")[["src", "mae", "mape", "wall_s"]].agg(["mean", "std"])
    out = Path(args.out or ROOT / "runs" / f"{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-vs-autogluon")
    out.mkdir(parents=True, exist_ok=False)
    table.to_csv(out / "table.csv", index=False)
    summary.columns = [f"{a}_{b}" for a, b in summary.columns]
    (out / "table.md").write_text(markdown_table(table.round(4)) + "\n\n" + markdown_table(summary.round(4).reset_index()) + "\n")
    (out / "split.json").write_text(json.dumps({"train": len(tr_raw), "held_back": len(te_raw),
                                                "held_from": str(held["post_time"].min()),
                                                "load_average": os.getloadavg()}, indent=1) + "\n")
    print()
    print(table.round(4).to_string(index=False))
    print()
    print(summary.round(4).to_string())
    print(f"\nload average {os.getloadavg()}; written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
