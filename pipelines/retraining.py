"""Retraining (`smp retrain`): a cron-safe job that trains a challenger on the current data and promotes it only if
it beats the champion on the most recent posts.

One job at a time: the registry lock is taken without waiting, so an overlapping cron start exits at once
(`RegistryLocked`, exit code 75) and the running job is left alone. Static features come from the shared feature
cache (`[output].cache_dir`): generators whose inputs did not change are loaded, not recomputed, and embedding
generators reuse their per-row cache, so grown data embeds only its new rows; the counts are in the version's
manifest (`features`).

How the two models are compared (honestly, on the same rows): the validation window is the most recent
`[retrain].window_frac` of the labelled posts by `post_time`. Every window row gets a prediction from each model
that did not train on that row:

- challenger: its out-of-fold prediction (the run's `final` model), i.e. from the fold model that held the row out;
- champion: its own out-of-fold prediction for rows it trained on, and its fitted `predict` (the `smp predict`
  path) for rows it has never seen (the newly arrived posts).

Both are scored with the config's `metric` on the window rows where both have a prediction; the challenger is
promoted if it is better by more than `[retrain].margin` (or if there is no champion yet). With `[cv] scheme =
"time"` the challenger's window predictions come from models trained only on earlier posts, the closest match to
how the champion meets new posts; with K-fold they may have seen later posts of the same users (the usual CV
optimism), so prefer `time` folds or a margin for retraining configs.

Re-tuning happens only when asked (`--retune`) or when `[retrain].retune_every_days` have passed since the last
version that was tuned; it is switched through the config's `[tuning]` section (see `apply_retune`).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from smp.ensembles import GREATER_IS_BETTER, score_all

from .config import RunConfig
from smp.files import code_version

from .model_registry import Registry, fault_point, now_utc
from .windows import latest_labelled

log = logging.getLogger("smp")


@dataclass
class RetrainResult:
    version: str
    promoted: bool
    champion: str | None  # the champion after this job
    manifest: dict[str, Any]


def retune_due(registry: Registry, every_days: float, asked: bool, now: datetime | None = None) -> tuple[bool, str]:
    """Whether this job re-tunes, and why."""
    if asked:
        return True, "asked (--retune)"
    if every_days <= 0:
        return False, "not asked and no schedule ([retrain] retune_every_days = 0)"
    now = now or datetime.now(timezone.utc)
    tuned = [registry.manifest(v).get("created") for v in registry.versions() if registry.manifest(v).get("retuned")]
    if not tuned:
        return True, f"scheduled every {every_days:g} days and never tuned yet"
    age = (now - datetime.fromisoformat(max(tuned))).total_seconds() / 86400
    if age >= every_days:
        return True, f"scheduled: last tuned {age:.1f} days ago (every {every_days:g})"
    return False, f"last tuned {age:.1f} days ago (< {every_days:g})"


def apply_retune(cfg: RunConfig, retune: bool) -> tuple[RunConfig, bool]:
    """The config of this job and whether it re-tunes: with `retune`, tuning on and any stored study discarded;
    without, the config's own `[tuning]` (when enabled, it reuses the stored best parameters)."""
    cfg = cfg.evolve(tuning={"enabled": True, "retune": True} if retune else {"retune": False})
    return cfg, bool(retune)


def champion_predictions(run_dir: Path, window: pd.DataFrame) -> pd.Series:
    """Held-out predictions of a finished run for the window rows: its OOF where it trained on the row, its
    fitted predict where it never saw the row. Indexed by post_id; NaN where it has none."""
    from .fitted import load_fitted
    from .prepare import row_store
    from .config import load_config

    fitted, train_posts = load_fitted(run_dir)
    oof = pd.read_parquet(run_dir / "oof.parquet", columns=["post_id", "final"]).set_index("post_id")["final"]
    seen = window["post_id"].isin(train_posts["post_id"])
    pred = pd.Series(np.nan, index=window["post_id"].to_numpy(), dtype=float)
    pred[seen.to_numpy()] = oof.reindex(window.loc[seen, "post_id"]).to_numpy()
    new = window[~seen].reset_index(drop=True)
    if len(new):
        new = new.assign(split="test", label=np.nan)  # predicted as unseen posts: the label is not an input
        rows = row_store(load_config(run_dir / "config.resolved.toml"))
        pred[(~seen).to_numpy()] = fitted.predict(train_posts, new, rows=rows)["final"].to_numpy()
    return pred


def compare(y: pd.Series, challenger: pd.Series, champion: pd.Series | None, metric: str,
            margin: float) -> dict[str, Any]:
    """Score both on the rows where both predict; decide the promotion."""
    out: dict[str, Any] = {"metric": metric, "margin": margin}
    if champion is None:
        ok = challenger.notna()
        out.update(rows=int(ok.sum()), challenger=score_all(y[ok], challenger[ok])[metric], champion=None,
                   promote=True, reason="no champion yet: the first version is promoted")
        return out
    ok = challenger.notna() & champion.notna()
    if ok.sum() < 2:
        raise ValueError(f"only {int(ok.sum())} window rows have predictions from both models; "
                         "widen [retrain] window_frac")
    a, b = score_all(y[ok], challenger[ok])[metric], score_all(y[ok], champion[ok])[metric]
    sign = 1.0 if GREATER_IS_BETTER[metric] else -1.0
    gain = sign * (a - b)
    promote = bool(np.isfinite(a) and (not np.isfinite(b) or gain > margin))
    out.update(rows=int(ok.sum()), challenger=a, champion=b, gain=gain, promote=promote,
               reason=(f"challenger better by {gain:.4g} > margin {margin:g}" if promote
                       else f"challenger better by only {gain:.4g} (margin {margin:g}): champion kept"))
    return out


def _feature_counts(run_dir: Path) -> dict[str, Any]:
    """Cache hits and, for embedding generators, rows computed vs taken from the per-row cache."""
    feats = json.loads((run_dir / "features.json").read_text())
    per_gen = {}
    for g in feats.get("generators", []):
        counts = {k: v for k, v in g.items() if k.startswith("rows_")}
        if counts:
            per_gen[g["name"]] = counts
    return {"cache": feats.get("cache", {}), "rows": per_gen}


def retrain(cfg: RunConfig, *, data: str | Path | None = None, retune: bool = False, progress: bool = True,
            registry_dir: str | Path | None = None) -> RetrainResult:
    """Train a challenger into a new registry version; promote it if it beats the champion (see module doc)."""
    from .runner import run

    t0 = time.perf_counter()
    if data is not None:
        cfg = cfg.evolve(data={"path": str(data)})
    # Predictions come from the registry (`smp predict`), not submissions/.
    cfg = cfg.evolve(output={"submission": False})
    rt = cfg.retrain
    registry = Registry(registry_dir or rt.registry_dir)
    with registry.lock(rt.lock_file or None):
        for p in registry.clean():
            log.info("removed %s (left by a job that did not finish)", p)
        parent = registry.champion()
        do_tune, why = retune_due(registry, rt.retune_every_days, retune)
        cfg, tuned = apply_retune(cfg, do_tune)
        log.info("retrain: champion %s; re-tune: %s (%s)", parent or "none", "yes" if tuned else "no", why)
        staging = registry.stage()
        t = time.perf_counter()
        run_dir = run(cfg, out=staging / "run", progress=progress)
        train_s = time.perf_counter() - t
        fault_point("after_training")

        train_posts = pd.read_parquet(run_dir / "models" / "train_posts.parquet")
        window = latest_labelled(train_posts, rt.window_frac)
        ids = window["post_id"].to_numpy()
        y = pd.Series(window["label"].to_numpy(dtype=float), index=ids)
        oof = pd.read_parquet(run_dir / "oof.parquet", columns=["post_id", "final"]).set_index("post_id")["final"]
        chal = pd.Series(oof.reindex(ids).to_numpy(), index=ids)
        champ = None if parent is None else champion_predictions(registry.run_dir(parent), window)
        verdict = compare(y, chal, champ, cfg.metric, rt.margin)
        log.info("window: %d most recent posts (%s .. %s); %s challenger %.4f vs champion %s -> %s",
                 verdict["rows"], window["post_time"].min(), window["post_time"].max(), cfg.metric,
                 verdict["challenger"], "none" if verdict["champion"] is None else f"{verdict['champion']:.4f}",
                 verdict["reason"])

        data_json = json.loads((run_dir / "data.json").read_text())
        metrics = json.loads((run_dir / "metrics.json").read_text())
        manifest = {
            "created": now_utc(), "parent": parent, "code_version": code_version(),
            "config": cfg.to_dict(),
            "data": {k: data_json.get(k) for k in ("format", "path", "fingerprint", "rows", "time_range")},
            "metrics": {"final": metrics["final"], "cv": metrics["models"][metrics["final"]]["overall"]},
            "validation": {"window_frac": rt.window_frac, "start": str(window["post_time"].min()),
                           "end": str(window["post_time"].max()), **{k: v for k, v in verdict.items() if k != "promote"}},
            "retuned": tuned, "retune_reason": why,
            "features": _feature_counts(run_dir),
            "timings_s": {"train": train_s, "total": time.perf_counter() - t0, "run": metrics.get("timings_s", {})},
        }
        version = registry.commit(staging, manifest, promote=verdict["promote"])
        log.info("registry %s: %s %s (champion: %s)", registry.root, version,
                 "promoted" if verdict["promote"] else "kept as a challenger", registry.champion())
        return RetrainResult(version, verdict["promote"], registry.champion(), registry.manifest(version))
