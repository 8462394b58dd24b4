"""`smp explain`: why a finished run predicts what it does for the test posts of a data folder.

Writes a new folder (built under a temporary name, renamed at the end, never overwritten):

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

from smp.files import staged_dir

from .api import Predictor
from .explanations import write_explanations
from .fitted import check_finished_run
from .predict import load_new_posts

log = logging.getLogger("smp")


def explain_run(run_dir: str | Path, data_dir: str | Path, out: str | Path, *, posts: list[str] | None = None,
                model: str | None = None, progress: bool = True) -> Path:
    """Explain the test posts of `data_dir` with the run's `model` (default final) into the new folder `out`;
    waterfall plots for `posts` (default: the highest and the lowest predicted post)."""
    run_dir, out = check_finished_run(run_dir), Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} already exists and is not an empty folder; refusing to overwrite it")
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
