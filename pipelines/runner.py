"""The jobs that turn a config into a folder: `run` (load the config's data, fit a `Predictor` on it, prepare ->
train, and write the run folder; `smp run`) and `tune_run` (the tuning folder; `smp tune`).

The run folder is the only output and is never overwritten; it is written under a temporary name and renamed into
place at the end, so a killed run never leaves a folder that looks complete:

    runs/<timestamp>-<name>/
      config.resolved.toml  data.json  features.json  metrics.json  oof.parquet  test_pred.parquet
      importance.csv  report.md  plots/*.png  submission.json  models/{fitted.joblib, train_posts.parquet}
      engine.json (where each level-1 fold was fitted)  schema.json (the training posts' columns and kinds of
      values, which new posts must match)  manifest.json (size and sha256 of every file, written last)
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from smp.files import staged_dir, write_exclusive

from .api import fit_config
from .config import RunConfig
from .data import load_posts
from .prepare import permuted, prepare
from .runfolder import check_destinations, new_run_dir, write_run
from .training import tune_level1, write_tuning_files

log = logging.getLogger("smp")


def run(cfg: RunConfig, *, out: str | Path | None = None, progress: bool = True, permute_labels: bool = False,
        permute_seed: int | None = None) -> Path:
    """Run the config end to end and return the finished run folder.

    `permute_labels` is the leak check: training labels are shuffled (seeded by `permute_seed`, default the run
    seed) after loading, so every honest cross-validated score must come out near zero SRC; such a run writes no
    submission. Every destination is checked before any data is loaded.
    """
    t0 = time.perf_counter()
    submit = cfg.output.submission and not permute_labels
    final_dir = new_run_dir(cfg, out)
    check_destinations(cfg, final_dir, submit=submit)
    with staged_dir(final_dir, manifest=True) as tmp:  # claimed before any work: a second run on it stops now
        frame, root = load_posts(cfg, progress=progress)
        load_s = time.perf_counter() - t0
        if submit and not frame["split"].eq("test").any():
            log.warning("the data has no test posts, so no submission.json is written (the run folder holds the CV "
                        "results and fitted models; `smp predict` scores new posts with it)")
        if permute_labels:
            seed = cfg.seed if permute_seed is None else permute_seed
            frame = permuted(frame, seed)
            log.info("leak check: training labels permuted (seed %d); no submission is written", seed)
        p = fit_config(cfg, frame, progress=progress)
        write_run(tmp, p, data_path=str(root) if root else None, labels_permuted=permute_labels, submission=submit,
                  timings={"load": load_s, "total": time.perf_counter() - t0})
    if submit and (final_dir / "submission.json").is_file():
        copy = write_exclusive(Path(cfg.output.submissions_dir) / f"{final_dir.name}.json",
                               (final_dir / "submission.json").read_text())
        log.info("submission: %s", copy)
    log.info("run folder: %s (%.1fs)", final_dir, time.perf_counter() - t0)
    return final_dir


def tune_run(cfg: RunConfig, *, out: str | Path | None = None, progress: bool = True) -> Path:
    """`smp tune`: the run's preparation (data, features, folds), then Optuna tuning of the chosen level-1 learners
    (with `[tuning].workers` processes sharing each study), into a new folder (default `runs/<timestamp>-<name>-tune/`)
    with `tuning/` and plots; the studies stay in their storage, so a later `smp run` with `[tuning] enabled = true`
    and the same data reuses them."""
    from smp.ensembles.tuning import search_spaces

    names = {m.name: m.key for m in cfg.models}
    unknown = [n for n in cfg.tuning.models if n not in names]
    if unknown:
        raise ValueError(f"cannot tune {unknown}: not [[models]] names of this config; names: {sorted(names)}")
    spaces = search_spaces()
    if not [n for n in (cfg.tuning.models or names) if names[n] in spaces]:
        raise ValueError(f"nothing to tune: none of {cfg.tuning.models or sorted(names)} has a search space "
                         f"(models with one: {sorted(spaces)})")
    final_dir = new_run_dir(cfg, out, suffix="-tune")
    check_destinations(cfg, final_dir)
    frame, _ = load_posts(cfg, progress=progress)
    prep = prepare(cfg, frame, progress=progress)
    t = time.perf_counter()
    # The studies are named after the config (not the folder), so `smp run` of the same config finds them.
    tuned = tune_level1(prep, progress=progress)
    with staged_dir(final_dir) as tmp:
        (tmp / "config.resolved.toml").write_text(cfg.to_toml())
        write_tuning_files(tmp, tuned)
        (tmp / "tuning" / "summary.json").write_text(json.dumps(
            {name: {"best_value": r.best_value, "metric": r.metric, "n_finished_trials": r.n_finished,
                    "reused": r.reused} for name, r in tuned.items()} | {"seconds": time.perf_counter() - t},
            indent=2) + "\n")
    log.info("tuning folder: %s", final_dir)
    return final_dir
