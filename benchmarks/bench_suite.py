"""The evaluation suite: four systems on the same forward windows of four real posts tables, with intervals.

Datasets: SMP-Video (`../shared/data/smpd-video`) and the three popbench tables (`../shared/data/popbench`: ted,
udemy, medium_ds2020). Windows: `pipelines/windows.py` (default: the latest 40% of the labelled posts in four
blocks of 10%, each trained on every earlier labelled post). Systems:

- `smp`: the bundled config (`smpd_video` on SMP-Video), or the automatic preset through `smp.posts` with the
  mapping a new user would write (popbench), fitted by `smp.evaluate_frame` (SMP-Video's unlabelled test posts stay
  visible to the unsupervised features, as in `smp run`);
- `autogluon`: AutoGluon `best_quality` with MAE as its metric, in its own virtual environment (`--ag-python`, or
  `make agvenv`'s `.agvenv/bin/python`), on the raw columns with the text columns marked as text and the post time
  as a datetime, `--ag-time-limit` seconds per window. Its predictions are cached as JSON under
  `benchmarks/results/autogluon/` (keyed by dataset, window plan and time limit, checked against the post ids of
  each window), so it runs once;
- `lgbm_raw`: LightGBM on the raw numeric and categorical columns and calendar fields of the time (no text), the
  mean of a 5-fold bag with early stopping on each fold's held-out part;
- `median`: the training posts' median label.

    python benchmarks/bench_suite.py [--datasets smpd_video,ted,udemy,medium_ds2020] [--windows 4] [--span 0.4]
        [--seeds 0] [--ag-time-limit 300] [--skip-ag] [--only-ag] [--configs smpd_video=smpd_video]
        [--reuse EARLIER_SUITE_DIR] [--out DIR]

Prints one table (dataset x system x metric: pooled over windows, 95% bootstrap interval over posts) and each
system's mean rank over datasets and the two official metrics (SRC, MAE), and writes `suite.md`, `suite.json` and
every prediction to `--out` (default `runs/<timestamp>-suite/`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results" / "autogluon"
SYSTEMS = ("smp", "autogluon", "lgbm_raw", "median")
SUITE_METRICS = ("src", "mae", "mse", "mape")

AG_SCRIPT = textwrap.dedent('''
    import json, sys, time
    import pandas as pd
    import autogluon.tabular
    from autogluon.common.features.feature_metadata import FeatureMetadata
    from autogluon.tabular import TabularPredictor

    train, test, out, limit, folder, text = sys.argv[1:7]
    text = [c for c in text.split(",") if c]
    tr, te = pd.read_parquet(train), pd.read_parquet(test)
    meta = FeatureMetadata.from_df(tr.drop(columns=["label"])).add_special_types({c: ["text"] for c in text})
    t = time.perf_counter()
    kw, retried = {}, False
    while True:
        try:
            p = TabularPredictor(label="label", path=folder + ("-retry" if retried else ""), verbosity=1,
                                 eval_metric="mean_absolute_error").fit(
                tr, presets="best_quality", time_limit=float(limit), feature_metadata=meta, **kw)
            break
        except AssertionError as e:  # its dynamic-stacking check can leave no time for the full fit on a busy machine
            if retried or "dynamic_stacking" not in str(e):
                raise
            kw, retried = {"dynamic_stacking": False}, True
    fit_s = time.perf_counter() - t
    pred = p.predict(te.drop(columns=["label"], errors="ignore"))
    pd.DataFrame({"id": te["id"], "pred": pred.to_numpy()}).to_parquet(out)
    board = p.leaderboard(silent=True)
    json.dump({"fit_seconds": fit_s, "model_best": p.model_best, "n_models": len(board), "retried": retried,
               "version": autogluon.tabular.__version__}, open(out + ".json", "w"))
''')


@dataclass(frozen=True)
class Dataset:
    """One table of the suite: how smp reads it, and the raw columns the other systems get."""

    name: str
    text: tuple[str, ...]  # raw text columns (AutoGluon: text; LightGBM: left out)
    drop: tuple[str, ...] = ()  # raw columns no system but smp gets (paths)
    mapping: dict = field(default_factory=dict)  # smp.posts mapping (popbench)
    config: str | None = None  # a bundled smp config (None: the automatic preset)

    def frame(self) -> pd.DataFrame:
        """The PostFrame smp evaluates (labelled posts, and SMP-Video's unlabelled test posts)."""
        import smp

        if self.name == "smpd_video":
            return smp.load("smpd_video", SHARED / "smpd-video")
        return smp.posts(pd.read_csv(SHARED / "popbench" / self.name / "all.csv"), self.mapping)

    def raw(self) -> pd.DataFrame:
        """The labelled raw table: `id` (the PostFrame's post_id), `label`, a datetime `time`, the other columns."""
        if self.name == "smpd_video":
            from bench_vs_autogluon import raw_table

            t = raw_table(SHARED / "smpd-video", "train").rename(columns={"pid": "id", "popularity": "label",
                                                                           "post_time": "time"})
        else:
            t = pd.read_csv(SHARED / "popbench" / self.name / "all.csv")
            t["time"] = pd.to_datetime(t["time"], utc=True).dt.tz_localize(None)
        t["id"] = t["id"].astype(str)
        return t.drop(columns=list(self.drop), errors="ignore")


def popbench_mapping(name: str) -> dict:
    """The mapping a new user would write for a popbench table (its README's advice)."""
    base = {"post_id": "id", "post_time": "time", "title": "title", "label": "label"}
    if name == "ted":
        return {**base, "user_id": "author", "tags": "tags", "tags_sep": "|", "description": "text",
                "meta_columns": ["event", "film_date", "duration_s", "num_speaker", "speaker_occupation"]}
    if name == "udemy":
        return {**base, "user_id": None, "category": "category",
                "meta_columns": ["level", "is_paid", "price", "num_lectures", "content_duration_h", "url"]}
    if name == "medium_ds2020":
        return {**base, "user_id": "author", "tags": "tags", "tags_sep": "|",
                "meta_columns": ["self_published", "reading_time_min", "url"]}
    raise KeyError(name)


DATASETS = {
    "smpd_video": Dataset("smpd_video", ("post_content", "post_suggested_words"), config="smpd_video"),
    "ted": Dataset("ted", ("title", "tags", "text"), mapping=popbench_mapping("ted")),
    "udemy": Dataset("udemy", ("title",), mapping=popbench_mapping("udemy")),
    "medium_ds2020": Dataset("medium_ds2020", ("title", "tags"), mapping=popbench_mapping("medium_ds2020")),
}


def _sha(ids) -> str:
    return hashlib.sha256("\n".join(map(str, ids)).encode()).hexdigest()[:16]


def autogluon_window(ag_python: str, ds: Dataset, raw: pd.DataFrame, train_ids, held_ids, *, key: str,
                     limit: float) -> pd.Series:
    """AutoGluon's predictions of one window, from the cache when it holds this exact window, else fitted now."""
    path = RESULTS / f"{ds.name}-{key}-{limit:.0f}s.json"
    want = {"train_ids": _sha(train_ids), "held_ids": _sha(held_ids)}
    if path.is_file():
        cached = json.loads(path.read_text())
        if {k: cached[k] for k in want} == want:
            return pd.Series(cached["predictions"]).reindex(list(held_ids))
        print(f"  {path.name}: cached for other posts, refitting", flush=True)
    if not ag_python:
        raise SystemExit(f"no cached AutoGluon result {path}: pass --ag-python (or run `make agvenv`) or --skip-ag")
    by_id = raw.set_index("id")
    train, test = by_id.loc[list(train_ids)].reset_index(), by_id.loc[list(held_ids)].reset_index()
    with tempfile.TemporaryDirectory(prefix="smp-suite-ag-") as tmp:
        tmp = Path(tmp)
        train.drop(columns=["id"]).to_parquet(tmp / "train.parquet")
        test.to_parquet(tmp / "test.parquet")
        (tmp / "ag.py").write_text(AG_SCRIPT)
        load_before = os.getloadavg()
        t = time.perf_counter()
        res = subprocess.run([ag_python, str(tmp / "ag.py"), str(tmp / "train.parquet"), str(tmp / "test.parquet"),
                              str(tmp / "pred.parquet"), str(limit), str(tmp / "model"), ",".join(ds.text)],
                             capture_output=True, text=True)
        wall = time.perf_counter() - t
        if res.returncode != 0:
            raise RuntimeError(f"AutoGluon failed on {ds.name} {key} (exit {res.returncode}):\n{res.stderr[-3000:]}")
        pred = pd.read_parquet(tmp / "pred.parquet").set_index("id")["pred"]
        info = json.loads((tmp / "pred.parquet.json").read_text())
    RESULTS.mkdir(parents=True, exist_ok=True)
    record = {**want, "dataset": ds.name, "window": key, "time_limit_s": limit, "wall_s": wall,
              "load_before": load_before, "load_after": os.getloadavg(), **info,
              "predictions": {str(k): float(v) for k, v in pred.items()}}
    tmp_path = path.with_suffix(".json.tmp")
    tmp_path.write_text(json.dumps(record, indent=0) + "\n")
    tmp_path.replace(path)
    return pred.reindex(list(held_ids))


def lgbm_raw(ds: Dataset, raw: pd.DataFrame, train_ids, held_ids, seed: int = 0) -> pd.Series:
    """LightGBM on the raw numeric / categorical columns and the time's calendar fields, 5-fold bag."""
    import lightgbm as lgb
    from sklearn.model_selection import KFold

    X = raw.drop(columns=["label", *ds.text], errors="ignore").set_index("id")
    X["year"], X["month"], X["hour"] = X["time"].dt.year, X["time"].dt.month, X["time"].dt.hour
    X["weekday"], X["days"] = X["time"].dt.day_of_week, (X["time"] - pd.Timestamp("2000-01-01")).dt.days
    X = X.drop(columns=["time"])
    for c in X.columns:
        if X[c].dtype == bool:
            X[c] = X[c].astype(int)
        elif not pd.api.types.is_numeric_dtype(X[c].dtype):
            X[c] = X[c].astype(str).astype("category")
    Xtr, Xte = X.loc[list(train_ids)], X.loc[list(held_ids)]
    y = raw.set_index("id").loc[list(train_ids), "label"].to_numpy(float)
    preds = []
    for tr, va in KFold(5, shuffle=True, random_state=seed).split(Xtr):
        m = lgb.LGBMRegressor(n_estimators=2000, learning_rate=0.03, num_leaves=31, random_state=seed, verbose=-1)
        with warnings.catch_warnings():  # lightgbm 4.7 renames eval_set; older releases know only eval_set
            warnings.filterwarnings("ignore", message="The argument 'eval_set' is deprecated")
            m.fit(Xtr.iloc[tr], y[tr], eval_set=[(Xtr.iloc[va], y[va])], callbacks=[lgb.early_stopping(100, verbose=False)])
        preds.append(m.predict(Xte))
    return pd.Series(np.mean(preds, axis=0), index=list(held_ids))


def run_dataset(ds: Dataset, args, systems: list[str]) -> pd.DataFrame:
    """Every system's predictions of every window of `ds`: post_id, window, seed, label, one column per system."""
    import smp
    from smp.pipelines.forward import ForwardPlan
    from smp.pipelines.windows import forward_windows

    frame = ds.frame()
    plan = ForwardPlan.of(args.windows, args.span)
    windows = forward_windows(frame, plan.windows, plan.span)
    raw = ds.raw() if {"autogluon", "lgbm_raw"} & set(systems) else None
    key = f"K{plan.windows}-span{plan.span:g}"
    parts = []
    for w in windows:
        train_ids = w.fit.loc[w.fit["split"].eq("train"), "post_id"].tolist()
        held_ids = w.held["post_id"].tolist()
        part = pd.DataFrame({"post_id": held_ids, "window": w.index, "label": w.held["label"].to_numpy(float)})
        if "autogluon" in systems:
            t = time.perf_counter()
            part["autogluon"] = autogluon_window(args.ag_python, ds, raw, train_ids, held_ids,
                                                 key=f"{key}-w{w.index}", limit=args.ag_time_limit).to_numpy()
            print(f"  {ds.name} window {w.index}: autogluon ({time.perf_counter() - t:.0f}s)", flush=True)
        if "lgbm_raw" in systems:
            part["lgbm_raw"] = lgbm_raw(ds, raw, train_ids, held_ids).to_numpy()
        if "median" in systems:
            part["median"] = float(np.median(w.fit.loc[w.fit["split"].eq("train"), "label"]))
        parts.append(part)
    out = pd.concat(parts, ignore_index=True)
    if "smp" not in systems:
        return out.assign(seed=-1)
    earlier = Path(args.reuse) / f"pred_{ds.name}.parquet" if args.reuse else None
    if earlier is not None and earlier.is_file():
        old = pd.read_parquet(earlier)
        if "smp" in old.columns and set(old["seed"]) == set(args.seeds) and \
                set(zip(old["post_id"], old["window"])) == set(zip(out["post_id"], out["window"])):
            print(f"  {ds.name}: smp predictions reused from {earlier}", flush=True)
            return old[["post_id", "window", "seed", "smp"]].merge(out, on=["post_id", "window"], how="left")
    cfg = None
    if ds.config:
        name = args.configs.get(ds.name, ds.config)
        cfg = smp.load_config(name if not name.endswith(".toml") else Path(name))
    t = time.perf_counter()
    res = smp.evaluate_frame(cfg, frame, plan=plan, seeds=args.seeds)
    print(f"  {ds.name}: smp {res.report['config']} ({time.perf_counter() - t:.0f}s)", flush=True)
    pred = res.predictions[["post_id", "window", "seed", "final"]].rename(columns={"final": "smp"})
    return pred.merge(out, on=["post_id", "window"], how="left")


def score_suite(preds: dict[str, pd.DataFrame], systems: list[str], n_boot: int) -> pd.DataFrame:
    """dataset x system: pooled SRC / MAE / MSE / MAPE with intervals (same resamples for every system)."""
    from smp.ensembles.intervals import Resamples
    from smp.pipelines.forward import window_arrays

    rows = []
    for name, p in preds.items():
        present = [s for s in systems if s in p.columns]
        ys, by_system = window_arrays(p, present)
        draws = Resamples.draw([len(y) for y in ys], n_boot=n_boot, seed=0)
        for s in present:
            per = by_system[s]
            for m in SUITE_METRICS:
                iv = draws.score(ys, per, m)
                rows.append({"dataset": name, "system": s, "metric": m, "value": iv.value, "low": iv.low,
                             "high": iv.high})
    return pd.DataFrame(rows)


def paired_verdicts(preds: dict[str, pd.DataFrame], systems: list[str], n_boot: int) -> list[dict]:
    """smp against each other system on each dataset: the paired difference smp - other (B - A, A the other
    system) of each metric with its interval and verdict."""
    from smp.ensembles.intervals import Resamples, verdict
    from smp.pipelines.forward import window_arrays

    rows = []
    for name, p in preds.items():
        if "smp" not in p.columns:
            continue
        present = [s for s in systems if s in p.columns]
        ys, by_system = window_arrays(p, present)
        draws = Resamples.draw([len(y) for y in ys], n_boot=n_boot, seed=0)
        ours = by_system["smp"]
        for other in (s for s in present if s != "smp"):
            theirs = by_system[other]
            for m in SUITE_METRICS:
                d = draws.difference(ys, theirs, ours, m)
                rows.append({"dataset": name, "against": other, "metric": m, "smp_minus_other": d.value,
                             "low": d.low, "high": d.high, "verdict": verdict(m, d, other, "smp")})
    return rows


def suite_table(scores: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """(the printed table, each system's mean rank over datasets and the official metrics SRC and MAE)."""
    cell = scores.assign(text=[f"{v:.4f} [{lo:.4f}, {hi:.4f}]" for v, lo, hi in
                               zip(scores["value"], scores["low"], scores["high"])])
    table = cell.pivot_table(index=["dataset", "system"], columns="metric", values="text", aggfunc="first")
    table = table[[m for m in SUITE_METRICS if m in table.columns]]
    official = scores[scores["metric"].isin(["src", "mae"])].copy()
    official["key"] = np.where(official["metric"] == "src", -official["value"], official["value"])
    official["key"] = official["key"].fillna(np.inf)  # undefined (the median's SRC): ranked last
    official["rank"] = official.groupby(["dataset", "metric"])["key"].rank(method="average")
    return table, official.groupby("system")["rank"].mean().sort_values()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated, from " + ", ".join(DATASETS))
    ap.add_argument("--windows", type=int, default=4, help="forward windows per dataset")
    ap.add_argument("--span", type=float, default=0.4, help="share of the labelled posts the windows score")
    ap.add_argument("--seeds", default="0", help="comma-separated smp seeds")
    ap.add_argument("--configs", default="", help="DATASET=CONFIG,... bundled configs or TOML paths for smp "
                                                   "(default: smpd_video=smpd_video, the automatic preset elsewhere)")
    default_ag = ROOT / ".agvenv" / "bin" / "python"
    ap.add_argument("--ag-python", default=os.environ.get("AG_PYTHON", str(default_ag) if default_ag.is_file() else ""),
                    help="python of a virtual environment with autogluon.tabular (default: $AG_PYTHON, .agvenv)")
    ap.add_argument("--ag-time-limit", type=float, default=300.0, help="AutoGluon's seconds per window")
    ap.add_argument("--skip-ag", action="store_true", help="leave AutoGluon out")
    ap.add_argument("--only-ag", action="store_true", help="only fill AutoGluon's cache (no smp fits)")
    ap.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples for the intervals")
    ap.add_argument("--reuse", default=None, metavar="DIR",
                    help="an earlier suite folder whose smp predictions are reused where its windows and seeds match")
    ap.add_argument("--out", default=None, help="folder to create for the tables and predictions")
    args = ap.parse_args(argv)
    args.seeds = [int(s) for s in args.seeds.split(",")]
    args.configs = dict(kv.split("=", 1) for kv in args.configs.split(",") if kv)
    names = [d for d in args.datasets.split(",") if d]
    unknown = sorted(set(names) - set(DATASETS))
    if unknown:
        ap.error(f"unknown dataset {unknown[0]!r}; the suite has {list(DATASETS)}")
    systems = ["autogluon"] if args.only_ag else [s for s in SYSTEMS if not (args.skip_ag and s == "autogluon")]
    sys.path.insert(0, str(ROOT / "benchmarks"))
    out = Path(args.out or ROOT / "runs" / f"{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-suite")
    out.mkdir(parents=True, exist_ok=False)
    t0, preds = time.perf_counter(), {}
    for name in names:
        print(f"{name}:", flush=True)
        preds[name] = run_dataset(DATASETS[name], args, systems)
        preds[name].to_parquet(out / f"pred_{name}.parquet", index=False)
    from smp.pipelines.report import markdown_table

    scores = score_suite(preds, systems, args.n_boot)
    table, ranks = suite_table(scores)
    paired = pd.DataFrame(paired_verdicts(preds, systems, args.n_boot))
    verdicts = "\n".join(f"- {r.dataset}, smp vs {r.against}: {r.verdict}" for r in paired.itertuples()
                         if r.metric in ("src", "mae", "mape"))
    load = os.getloadavg()
    text = (f"# Suite: {', '.join(names)}; {args.windows} windows over the latest {args.span:.0%}; smp seeds "
            f"{args.seeds}; AutoGluon {args.ag_time_limit:.0f}s per window\n\nPooled over windows, 95% bootstrap "
            f"interval over posts.\n\n{markdown_table(table.reset_index())}\n\n"
            f"Mean rank (SRC and MAE, every dataset; 1 = best):\n\n{markdown_table(ranks.round(2).reset_index())}"
            f"\n\nPaired (same posts, same resamples):\n\n{verdicts}\n\n"
            f"wall {time.perf_counter() - t0:.0f}s, load average {load}\n")
    (out / "suite.md").write_text(text)
    scores.to_csv(out / "suite.csv", index=False)
    (out / "suite.json").write_text(json.dumps({"args": {k: v for k, v in vars(args).items()},
                                                "mean_rank": ranks.to_dict(), "scores": scores.to_dict("records"),
                                                "paired": paired.to_dict("records"),
                                                "load_average": load}, indent=1, default=str) + "\n")
    print()
    print(text)
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
