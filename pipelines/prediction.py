"""A finished run folder on the test posts of a data folder (which may hold only that split): `predict_run` writes
their predictions (`smp predict`), `explain_run` their per-post feature contributions (`smp explain`):

    contributions.csv          post_id, one column per feature, base: they sum to the model's prediction
    contributions_groups.csv   the same summed per ablation group
    plots/waterfall_<n>.png    one per chosen post: from base, feature by feature, to the prediction
    plots/summary_groups.png   each group's contribution over all posts
    plots/summary_<group>.png  each group's features' contributions over all posts
    explain.md                 what was explained, the chosen posts and the plots

`smp run` adds the group summary of its test posts to its report (`explanations.write_run_explanation`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from smp.files import check_free, staged_dir, write_exclusive

from .api import LoadedRun, Predictor
from .data import load_frame
from .explanations import write_explanations
from .fitted import check_finished_run
from .runfolder import check_destinations, check_writable

log = logging.getLogger("smp")


def predict_run(run_dir: str | Path, data_dir: str | Path, out_csv: str | Path, *, progress: bool = True) -> Path:
    """Predict the test posts of `data_dir` (a folder of the run's data format) into a new CSV
    (`post_id,popularity_score`).

    The run carries its own training posts, so only the test split is read (a folder may hold `test/` alone; a
    `train/` beside it is not read): it is checked against those posts where a full load checks it against the
    train split (no post id of theirs, the same columns and side tables), and gives the numbers a full load would.
    """
    run_dir, out_csv = check_finished_run(run_dir), Path(out_csv)
    if out_csv.exists():
        raise FileExistsError(f"{out_csv} already exists; refusing to overwrite it")
    check_writable(out_csv.parent, "--out's folder")
    p = Predictor.load(run_dir, progress=progress)
    new = load_new_posts(p, run_dir, data_dir, progress=progress)
    preds = p.predict(new)
    table = pd.DataFrame({"post_id": new["post_id"], "popularity_score": preds.to_numpy()})
    if not np.isfinite(table["popularity_score"]).all():
        raise ValueError("predictions contain non-finite values")
    write_exclusive(out_csv, table.to_csv(index=False))
    log.info("wrote %d predictions to %s", len(table), out_csv)
    return out_csv


def load_new_posts(p: LoadedRun, run_dir: Path, data_dir: str | Path, *, progress: bool = True) -> pd.DataFrame:
    """The test posts of `data_dir`, read in the layout of the run `p` was loaded from and checked against its
    training posts (see `predict_run`)."""
    cfg = p.cfg_
    check_destinations(cfg, None)  # the caches it writes (embeddings of the new posts' rows)
    if cfg.data.format == "frame":
        raise ValueError(f"{run_dir} was fitted on in-memory posts (smp.Predictor): predict from Python with "
                         "smp.Predictor.load(run_dir).predict(posts)")
    frame = load_frame(cfg.data, cfg.output, root=Path(data_dir), train_posts=p.train_posts_, progress=progress)
    new = frame[frame["split"].eq("test")].reset_index(drop=True)
    if new.empty:
        raise ValueError(f"{data_dir}: no test posts to predict (format {cfg.data.format})")
    return new


def explain_run(run_dir: str | Path, data_dir: str | Path, out: str | Path, *, posts: list[str] | None = None,
                model: str | None = None, progress: bool = True) -> Path:
    """Explain the test posts of `data_dir` with the run's `model` (default final) into the new folder `out`;
    waterfall plots for `posts` (default: the highest and the lowest predicted post)."""
    run_dir, out = check_finished_run(run_dir), check_free(out)
    p = Predictor.load(run_dir, progress=progress)
    p.fitted_.check_explainable(model or "final")  # before any data is read
    new = load_new_posts(p, run_dir, data_dir, progress=progress)
    ids = new["post_id"].astype(str)
    unknown = [i for i in posts or [] if i not in set(ids)]
    if unknown:
        raise KeyError(f"--post {unknown[0]!r} is not a test post of {data_dir} ({len(ids)} posts, e.g. "
                       f"{', '.join(ids.head(3))})")
    table = p.explain(new, model=model)
    pred = table.sum(axis=1)
    chosen = list(posts or dict.fromkeys([str(pred.idxmax()), str(pred.idxmin())]))
    with staged_dir(out) as tmp:
        write_explanations(tmp, table, p.feature_groups(), chosen=chosen, title=f"{p.cfg_.name}: {model or 'final'}")
    log.info("explained %d posts with %s into %s", len(table), model or "final", out)
    return Path(out)
