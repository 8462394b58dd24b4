"""`smp tune`: the run's preparation (data, features, folds), then Optuna tuning of the chosen level-1 learners
(with `[tuning].workers` processes sharing each study). Writes `tuning/` and plots into a new folder (default
`runs/<timestamp>-<name>-tune/`, written under a temporary name and renamed at the end); the studies stay in the
storage, so a later `smp run` with `[tuning] enabled = true` and the same data reuses them."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from smp.files import staged_dir

from .config import RunConfig
from .prepare import prepare
from .run import load_posts, new_run_dir
from .runfolder import check_destinations
from .training import tune_level1, write_tuning_files

log = logging.getLogger("smp")


def tune_run(cfg: RunConfig, *, out: str | Path | None = None, progress: bool = True) -> Path:
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
