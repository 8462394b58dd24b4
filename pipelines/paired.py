"""Paired differences of two forward evaluations on the same windows, seeds and posts (`smp compare`, and each
variant against `full` in a forward `smp ablate`)."""

from __future__ import annotations

from smp.ensembles.intervals import BOOT_METRICS, Resamples, verdict

from .forward import ForwardPlan, ForwardResult, window_arrays


def paired_report(res_a: ForwardResult, res_b: ForwardResult, plan: ForwardPlan, *, names: tuple[str, str] = ("A", "B"),
                  model: str = "final") -> dict:
    """Paired differences B - A of `model`'s forward predictions (same windows, seeds and posts), pooled and per
    window, with intervals and verdicts."""
    pa, pb = res_a.predictions, res_b.predictions
    key = ["window", "seed", "post_id"]
    ka, kb = pa[key].sort_values(key).reset_index(drop=True), pb[key].sort_values(key).reset_index(drop=True)
    if not ka.equals(kb):
        raise ValueError("the two forward evaluations scored different windows, seeds or posts; a paired "
                         "comparison needs the same ones")
    ys, a = window_arrays(pa, [model])
    _, b = window_arrays(pb, [model])
    draws = Resamples.draw([len(y) for y in ys], n_boot=plan.n_boot, seed=0, level=plan.level)
    pooled = {k: draws.difference(ys, a[model], b[model], k) for k in BOOT_METRICS}
    per_window = []
    for i, w in enumerate(res_a.report["windows"]):
        one = Resamples((draws.indices[i],), plan.level)
        per_window.append({"window": w["window"], "held_back": w["held_back"],
                           **{k: one.difference([ys[i]], [a[model][i]], [b[model][i]], k).as_dict()
                              for k in BOOT_METRICS}})
    verdicts = [verdict(k, pooled[k], *names) for k in BOOT_METRICS]
    return {"a": names[0], "b": names[1], "model": model, "plan": plan.__dict__, "described": plan.describe(),
            "seeds": res_a.report["seeds"], "pooled_difference": {k: v.as_dict() for k, v in pooled.items()},
            "per_window_difference": per_window, "verdicts": verdicts, "verdict": "; ".join(verdicts),
            "scores": {names[0]: res_a.report["pooled"][model], names[1]: res_b.report["pooled"][model]}}
