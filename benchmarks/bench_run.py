"""Stage table, wall time and peak memory of `smp run` on a config (default: the 305,000-post synthetic set).

    .venv/bin/python benchmarks/bench_run.py [--config synthetic_full] [--out DIR] [--cold]

Runs `smp run` in a child process and prints one row per stage: loading, every feature generator (seconds, rows/s
and whether it came from the feature cache), every level-1 learner (its K-fold fit, with label-using generators
fitted inside the folds), the stack levels, calibration, permutation importance and writing the run folder, then the
wall time, the CPU seconds of the whole process tree, its peak memory (the PSS of the run and every worker process
it started, summed, sampled every 0.25 s; RSS beside it), the same peak per stage (load, features, each learner's
K-fold fit, the rest; told apart by the run's log lines) and the run's CV scores. The synthetic data set is
generated first (and kept under .smp/) and timed separately. `--cold` empties the config's cache dir first (feature
cache, per-row embedding cache, the locally built model folders; not the synthetic data, and not a shared
`models_dir`, which it names), as on a fresh clone.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil


def tree_memory(proc: psutil.Process) -> tuple[int, int, int]:
    """(RSS, PSS, PSS of `proc` itself) bytes of `proc` and all its descendants, summed. PSS counts a page shared
    by n processes (the arrays joblib memory-maps into its workers) as 1/n in each, so its sum is the memory the
    tree really holds; processes that end between the calls count as 0."""
    rss = pss = own = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            m = p.memory_full_info()
        except psutil.Error:
            continue
        rss += m.rss
        pss += getattr(m, "pss", m.rss)
        if p is proc:
            own = getattr(m, "pss", m.rss)
    return rss, pss, own


class PeakSampler(threading.Thread):
    """Samples the summed RSS and PSS of a process tree until it ends; `peak_rss` / `peak_pss` are the largest,
    `peaks[stage]` the largest (PSS, RSS, the run's own PSS) while `stages[stage]` ran (`follow_log` moves on)."""

    def __init__(self, pid: int, stages: list[str], every_s: float = 0.25):
        super().__init__(daemon=True)
        self.proc, self.every_s, self.peak_rss, self.peak_pss = psutil.Process(pid), every_s, 0, 0
        self.stages, self.stage, self.peaks = stages, 0, {}
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                rss, pss, own = tree_memory(self.proc)
            except psutil.Error:
                return
            self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)
            name = self.stages[min(self.stage, len(self.stages) - 1)]
            if pss > self.peaks.get(name, (0,))[0]:
                self.peaks[name] = (pss, rss, own)
            self.done.wait(self.every_s)


def run_stages(cfg) -> list[str]:
    """The stages `follow_log` tells apart: load, features, each level-1 learner's K-fold fit, the rest."""
    return ["load", "features", *[f"{m.name} ({cfg.cv.n_splits} folds)" for m in cfg.models],
            "stack, importance, writing"]


# `smp run` log lines that close a stage: loading, the features, then each level-1 learner's "CV SRC" line.
STAGE_ENDS = ("] loaded ", " static feature columns ")


def follow_log(stream, sampler: PeakSampler, learners: list[str]) -> None:
    """Copy the run's stderr through to ours as it comes (progress bars included), moving `sampler.stage` on at
    each stage's closing log line."""
    pending = b""
    while chunk := os.read(stream.fileno(), 1 << 16):
        sys.stderr.buffer.write(chunk)
        sys.stderr.buffer.flush()
        *lines, pending = (pending + chunk).split(b"\n")
        for raw in lines:
            line = raw.decode(errors="replace").rsplit("\r", 1)[-1]
            at = sampler.stage
            if at < len(STAGE_ENDS) and STAGE_ENDS[at] in line:
                sampler.stage += 1
            elif at >= len(STAGE_ENDS) and at - len(STAGE_ENDS) < len(learners) and \
                    line.startswith(f"[smp] {learners[at - len(STAGE_ENDS)]} ") and " CV SRC " in line:
                sampler.stage += 1


def rate(rows: int, seconds: float | None) -> str:
    return f"{rows / seconds:,.0f}" if seconds and seconds >= 0.05 else "-"


def stage_rows(metrics: dict, features: dict, data: dict) -> list[tuple[str, float | None, int, str]]:
    """(stage, seconds, rows, note) for the table."""
    t = metrics["timings_s"]
    n_all, n_train = data["rows"]["total"], data["rows"]["train"]
    rows = [("load", t.get("load"), n_all, "")]
    for g in features["generators"]:
        if g.get("uses_target"):
            continue
        params = g.get("params", {})
        tag = params.get("column") or params.get("columns") or ""
        tag = ",".join(tag) if isinstance(tag, list) else str(tag)
        tag = tag if len(tag) <= 24 else tag[:21] + "..."
        note = "from cache" if g.get("from_cache") else ""
        if "rows_computed" in g:
            note = (note + " " if note else "") + f"{g['rows_computed']} rows embedded, {g['rows_cached']} cached"
        rows.append((f"  {g['name']}{f' ({tag})' if tag else ''}", g.get("seconds"), n_all, note))
    rows.append(("features (all)", t.get("features"), n_all, f"{features['cache']['from_cache']}/"
                 f"{features['cache']['static_generators']} generators from cache"))
    if t.get("tuning", 0) >= 0.05:
        rows.append(("tuning", t["tuning"], n_train, ""))
    n_splits = metrics["cv"]["n_splits"]
    for name, m in metrics["models"].items():
        if m["level"] == 1:
            rows.append((f"  {name} ({n_splits} folds)", m.get("seconds"), n_train, "incl. label-using features"))
    for key in ("training", "stack", "calibration", "importance", "writing", "total"):
        if key in t:
            rows.append((key if key != "total" else "total (in the run)", t[key],
                         n_train if key in ("training", "stack", "calibration", "importance") else n_all, ""))
    return rows


def clear_caches(cfg) -> None:
    """Everything under the config's cache dir except the generated synthetic data sets (timed on their own):
    feature-cache entries, the per-row embedding cache and the locally built model folders."""
    from smp.pipelines.prepare import row_store

    cache = Path(cfg.output.cache_dir)
    gone = [p for p in (cache.iterdir() if cache.is_dir() else []) if p.name != "synthetic"]
    for p in gone:
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    print(f"cold: removed {len(gone)} entries of {cache} (kept {cache / 'synthetic'})")
    models = row_store(cfg).models
    if not models.resolve().is_relative_to(cache.resolve()):
        print(f"cold: kept the built models in {models} (`[output] models_dir` / $SMP_MODELS_DIR, shared with other "
              "cache dirs): the static model and ONNX exports are not rebuilt; unset it for a fully cold run")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="synthetic_full")
    ap.add_argument("--out", default=None, help="run folder (default: a new one under runs/)")
    ap.add_argument("--cold", action="store_true", help="empty the feature, row and model caches first")
    args = ap.parse_args()

    from smp.pipelines.config import load_config
    from smp.pipelines.data import ensure_synthetic

    cfg = load_config(args.config)
    if args.cold:
        clear_caches(cfg)
    if cfg.data.format == "synthetic":
        t = time.perf_counter()
        root = ensure_synthetic(cfg.data, cfg.output)
        print(f"synthetic data ready at {root} in {time.perf_counter() - t:.1f}s (reused if it already existed)")

    out = args.out or f"runs/bench-{cfg.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    cmd = [str(Path(sys.executable).with_name("smp")), "run", "--config", args.config, "--out", out]
    load0 = os.getloadavg()
    t = time.perf_counter()
    child = subprocess.Popen(cmd, stderr=subprocess.PIPE)
    sampler = PeakSampler(child.pid, run_stages(cfg))
    sampler.start()
    follow_log(child.stderr, sampler, [m.name for m in cfg.models])
    rc = child.wait()
    sampler.done.set()
    wall = time.perf_counter() - t
    load1 = os.getloadavg()
    if rc != 0:
        print(f"smp run failed with exit status {rc}", file=sys.stderr)
        return rc
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    metrics = json.loads((Path(out) / "metrics.json").read_text())
    features = json.loads((Path(out) / "features.json").read_text())
    data = json.loads((Path(out) / "data.json").read_text())

    print(f"\nconfig: {args.config}   posts: {data['rows']['total']} ({data['rows']['train']} train)   "
          f"users: {data['users']}   run folder: {out}")
    print(f"{'stage':<40} {'seconds':>9} {'rows/s':>11}  note")
    for stage, sec, n, note in stage_rows(metrics, features, data):
        print(f"{stage:<40} {'-' if sec is None else f'{sec:9.1f}':>9} {rate(n, sec):>11}  {note}")
    print(f"\nwall time: {wall:.1f} s (process start to exit)   CPU time: {ru.ru_utime + ru.ru_stime:.1f} s "
          f"(user + system, whole process tree)")
    print(f"peak memory: {sampler.peak_pss / 2**20:,.0f} MiB PSS summed over the process tree (shared pages split "
          f"between the processes sharing them; RSS summed: {sampler.peak_rss / 2**20:,.0f} MiB; largest single "
          f"process: {ru.ru_maxrss / 1024:,.0f} MiB)")
    print("peak memory by stage (PSS summed / RSS summed / the run process's own PSS, MiB; a stage ends at its log "
          "line; a learner's fit includes its label-using features):")
    for stage, (pss, rss, own) in sampler.peaks.items():
        print(f"  {stage:<38} {pss / 2**20:9,.0f} {rss / 2**20:9,.0f} {own / 2**20:9,.0f}")
    print(f"load average (1 min) before / after: {load0[0]:.2f} / {load1[0]:.2f}   cores: {os.cpu_count()}")
    for name, m in metrics["models"].items():
        o = m["overall"]
        print(f"  {name:<16} SRC {o['src']:.4f}  MAE {o['mae']:.4f}  MAPE {o['mape']:.4f}")
    print(f"final: {metrics['final']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
