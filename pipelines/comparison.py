"""The comparison (`smp compare A B`): two recipes on the same forward windows and seeds, their paired differences
and a verdict.

A and B are configs (a bundled name or a TOML path) or `CONFIG:VARIANT`, one of the config's ablation variants
(`no_<group>`, `no_ensemble`, ...; see `pipelines/ablation.py`). Both are fitted on exactly the same windows
(`pipelines/windows.py`) with the same seeds; the difference B - A of each metric is given per window and pooled,
with a paired bootstrap interval over the held-back posts (`ensembles/intervals.py`). The report ends in plain
sentences: "B is better on MAE by 0.021 [0.008, 0.035]; the SRC difference is not distinguishable from 0".

    runs/<timestamp>-<A>-vs-<B>-compare/
      compare.json   pooled and per-window differences with intervals, the verdicts, both systems' scores
      compare.md     the tables and the verdicts
      a/ b/          each system's forward evaluation (as `smp evaluate` writes it)
      plots/compare.png
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from smp.files import json_text, staged_dir
from smp.ensembles.intervals import BOOT_METRICS

from .config import BUNDLED, RunConfig, load_config
from .data import load_posts
from .forward import ForwardPlan, ForwardResult, Recipe, evaluate_frame, write_forward
from .paired import paired_report
from .runfolder import check_destinations, new_run_dir

log = logging.getLogger("smp")


def resolve_system(spec: str, data: str | None = None) -> RunConfig:
    """A config from `NAME`, `PATH.toml` or `CONFIG:VARIANT` (an ablation variant of CONFIG); `data` overrides
    [data].path."""
    from .ablation import plan_variants

    base, _, variant = spec.partition(":")
    if not base:
        raise ValueError(f"compare: {spec!r} names no config (expected NAME, PATH.toml or CONFIG:VARIANT)")
    cfg = load_config(base if base in BUNDLED else Path(base))
    if data:
        cfg = cfg.evolve(data={"path": data})
    if not variant:
        return cfg
    found = [v for v in plan_variants(cfg, only=[variant]) if v.name == variant]
    return found[0].cfg.evolve(output={"submission": cfg.output.submission})


def compare_frames(cfg_a: Recipe, cfg_b: Recipe, frame: pd.DataFrame, *,
                   plan: ForwardPlan | None = None, seeds: list[int] | None = None,
                   names: tuple[str, str] = ("A", "B"),
                   progress: bool = False) -> tuple[dict, ForwardResult, ForwardResult]:
    """(report, A's forward result, B's forward result) on `frame`; each side a config, None (the automatic preset)
    or a function of each window's training posts and the seed (`forward.Recipe`)."""
    plan = plan or ForwardPlan.of(4)  # evaluate_frame builds (and checks) the windows before its first fit
    seeds = list(seeds) if seeds is not None else [cfg_a.seed if isinstance(cfg_a, RunConfig) else 0]
    res_a = evaluate_frame(cfg_a, frame, plan=plan, seeds=seeds, progress=progress)
    res_b = evaluate_frame(cfg_b, frame, plan=plan, seeds=seeds, progress=progress)
    report = paired_report(res_a, res_b, plan, names=names)
    log.info("compare %s vs %s: %s", names[0], names[1], report["verdict"])
    return report, res_a, res_b


def compare(spec_a: str, spec_b: str, *, plan: ForwardPlan | None = None, seeds: list[int] | None = None,
            data: str | None = None, out: str | Path | None = None, progress: bool = True) -> Path:
    """`smp compare`: both systems on the data of A (B must read the same data) into a new folder."""
    t0 = time.perf_counter()
    cfg_a, cfg_b = resolve_system(spec_a, data), resolve_system(spec_b, data)
    if cfg_a.data != cfg_b.data:
        raise ValueError(f"compare: {spec_a} and {spec_b} read different data ([data] sections differ); pass --data "
                         "to give both the same folder")
    label = f"{_short(spec_a)}-vs-{_short(spec_b)}"
    final_dir = new_run_dir(cfg_a.evolve(name=label), out, suffix="-compare")
    for cfg in (cfg_a, cfg_b):
        check_destinations(cfg, final_dir)
    frame, _ = load_posts(cfg_a, progress=progress)
    report, res_a, res_b = compare_frames(cfg_a, cfg_b, frame, plan=plan, seeds=seeds, names=(spec_a, spec_b),
                                          progress=progress)
    report["seconds"] = time.perf_counter() - t0
    with staged_dir(final_dir) as tmp:
        for sub, res, cfg in (("a", res_a, cfg_a), ("b", res_b, cfg_b)):
            (tmp / sub).mkdir()
            write_forward(tmp / sub, res)
            (tmp / sub / "config.resolved.toml").write_text(cfg.to_toml())
        (tmp / "compare.json").write_text(json_text(report))
        (tmp / "compare.md").write_text(compare_markdown(report))
        (tmp / "plots").mkdir()
        plot_compare(report, tmp / "plots" / "compare.png")
    log.info("comparison: %s", final_dir)
    return final_dir


def _short(spec: str) -> str:
    return Path(spec.partition(":")[0]).stem + (f"_{spec.partition(':')[2]}" if ":" in spec else "")


def difference_table(report: dict) -> pd.DataFrame:
    """One row per window plus `pooled`: B - A of each metric with its interval."""
    def cell(iv: dict) -> str:
        return f"{iv['value']:+.4f} [{iv['low']:+.4f}, {iv['high']:+.4f}]"

    rows = [{"window": str(w["window"]), "posts": w["held_back"], **{k: cell(w[k]) for k in BOOT_METRICS}}
            for w in report["per_window_difference"]]
    rows.append({"window": "pooled", "posts": sum(w["held_back"] for w in report["per_window_difference"]),
                 **{k: cell(report["pooled_difference"][k]) for k in BOOT_METRICS}})
    return pd.DataFrame(rows)


def compare_markdown(report: dict) -> str:
    from .report import markdown_table

    scores = pd.DataFrame([{"system": name, **{k: f"{s[k]['value']:.4f} [{s[k]['low']:.4f}, {s[k]['high']:.4f}]"
                                               for k in BOOT_METRICS}}
                           for name, s in report["scores"].items()])
    lines = "\n".join(f"- {v}" for v in report["verdicts"])
    return f"""# Paired comparison: A = {report['a']}, B = {report['b']}

{report['described']}, seeds {report['seeds']}; both systems fitted on the same windows, their final models
compared post by post. Differences are B - A (SRC: positive means B ranks better; MAE / MSE / MAPE: negative
means B errs less), with {report['plan']['level']:.0%} paired bootstrap intervals over the held-back posts
({report['plan']['n_boot']} resamples, stratified by window). A difference whose interval contains 0 is noise.

## Verdict

{lines}

## Differences B - A

{markdown_table(difference_table(report))}

## Each system, pooled over windows

{markdown_table(scores)}

![compare](plots/compare.png)
"""


def plot_compare(report: dict, path: Path) -> None:
    from .report import new_figure

    fig, axes = new_figure(1, len(BOOT_METRICS), figsize=(4 * len(BOOT_METRICS), 3.8))
    rows = report["per_window_difference"] + [{"window": "pooled", **report["pooled_difference"]}]
    x = np.arange(len(rows))
    for ax, k in zip(axes, BOOT_METRICS):
        v = np.array([r[k]["value"] for r in rows])
        err = np.array([[r[k]["value"] - r[k]["low"] for r in rows], [r[k]["high"] - r[k]["value"] for r in rows]])
        colors = ["C3" if i == len(rows) - 1 else "C0" for i in range(len(rows))]
        for i in range(len(rows)):
            ax.errorbar(x[i], v[i], yerr=err[:, i:i + 1], fmt="o", capsize=4, color=colors[i])
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xticks(x, [str(r["window"]) for r in rows])
        ax.set_title(f"{k.upper()}: B - A")
        ax.set_xlabel("window")
    fig.suptitle(f"A = {report['a']}, B = {report['b']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
