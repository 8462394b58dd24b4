"""`smp run`: load the config's data, fit a `Predictor` on it (prepare -> train) and write the run folder.

The run folder is the only output and is never overwritten; it is written under a temporary name and renamed into
place at the end, so a killed run never leaves a folder that looks complete:

    runs/<timestamp>-<name>/
      config.resolved.toml  data.json  features.json  metrics.json  oof.parquet  test_pred.parquet
      importance.csv  report.md  plots/*.png  submission.json  models/{fitted.joblib, train_posts.parquet}
      engine.json (where each level-1 fold was fitted)  schema.json (the training posts' columns and kinds of
      values, which new posts must match)  manifest.json (size and sha256 of every file, written last)
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from smp.files import live_claims, staged_dir, write_exclusive
from smp.memory import release_memory

from .api import fit_config
from .config import RunConfig
from .data import data_root, load_frame
from .prepare import permuted
from .runfolder import check_destinations, write_run

log = logging.getLogger("smp")


def new_run_dir(cfg: RunConfig, out: str | Path | None, suffix: str = "") -> Path:
    """`out` when given (a new or empty folder), else a new `runs/<timestamp>-<name><suffix>` (a name another live
    run is already writing counts as taken)."""
    if out is not None:
        out = Path(out)
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise FileExistsError(f"{out} already exists and is not empty; refusing to overwrite a run folder")
        return out
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    base = Path(cfg.output.runs_dir) / f"{stamp}-{cfg.name}{suffix}"
    path, i = base, 2
    while path.exists() or live_claims(path.parent, path.name):
        path, i = base.with_name(f"{base.name}-{i}"), i + 1
    return path


def load_posts(cfg: RunConfig, *, progress: bool = True) -> tuple[pd.DataFrame, Path | None]:
    """The config's PostFrame (train and test posts) and the data folder it came from (None for tables)."""
    t = time.perf_counter()
    root = data_root(cfg.data, cfg.output, progress)
    frame = load_frame(cfg.data, cfg.output, root=root, progress=progress)
    log.info("loaded %d posts (%d train, %d test, %d users) in %.1fs", len(frame), int(frame["split"].eq("train").sum()),
             int(frame["split"].eq("test").sum()), frame["user_id"].nunique(), time.perf_counter() - t)
    release_memory()  # the loader's temporaries (parsed JSON, per-file frames)
    return frame, root


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
