"""`smp run --permute-labels --repeats N`: the leak check over N label permutations, with a noise band.

One permuted run gives one draw of a null SRC whose spread on a few hundred rows is about 1/sqrt(n) (0.06 at 300
rows, and wider in practice: 0.09 measured over 20 permutations of 300 SMP-Video posts), so "near zero" cannot be
judged from it. This runs the same config N times, each on a different permutation of the training labels (same
folds and model seeds, so only the permutation varies), and reports per model the mean, spread and range of the
cross-validated SRC. A model is flagged when its mean lies outside a two-sided 99% Student-t band,
t(0.995, N - 1) * max(std, 1/sqrt(n - 1)) / sqrt(N): a leak shows as a mean that stays away from zero across
permutations, while an honest model is flagged 1% of the time. (A normal 3-sigma band is too narrow for a spread
estimated from five draws: five honest permutations of 300 posts all landed at +0.03 to +0.19.)

    <folder>/leak_check.json, leak_check.md   (the repeats are fits on the permuted posts; no run folders)
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from smp.files import json_text, staged_dir

from .config import RunConfig
from .runfolder import check_writable

log = logging.getLogger("smp")
ALPHA = 0.01  # two-sided false-alarm rate of the band for a model without a leak


@dataclass(frozen=True)
class NullBand:
    """One model's CV SRC over the permutations and whether its mean is within noise of zero."""

    model: str
    srcs: tuple[float, ...]
    rows: int

    @property
    def mean(self) -> float:
        return float(np.mean(self.srcs))

    @property
    def std(self) -> float:
        return float(np.std(self.srcs, ddof=1)) if len(self.srcs) > 1 else float("nan")

    @property
    def band(self) -> float:
        """Half-width of the band the mean must fall in: the Student-t critical value for N - 1 degrees of freedom
        times the standard error of the mean, whose spread is never taken narrower than the theoretical null spread
        of a rank correlation on `rows` rows (1 / sqrt(rows - 1))."""
        from scipy.stats import t

        n = len(self.srcs)
        spread = max(self.std if math.isfinite(self.std) else 0.0, 1.0 / math.sqrt(max(self.rows - 1, 1)))
        return float(t.ppf(1 - ALPHA / 2, max(n - 1, 1))) * spread / math.sqrt(n)

    @property
    def near_zero(self) -> bool:
        return abs(self.mean) <= self.band

    def as_dict(self) -> dict:
        return {"model": self.model, "srcs": list(self.srcs), "rows": self.rows, "mean": self.mean,
                "std": self.std if math.isfinite(self.std) else None, "min": min(self.srcs), "max": max(self.srcs),
                "band": self.band, "near_zero": self.near_zero}


def null_bands(per_repeat: list[dict[str, tuple[float, int]]]) -> list[NullBand]:
    """Bands from each repeat's {model: (CV SRC, rows)}; models missing from a repeat are left out."""
    models = [m for m in per_repeat[0] if all(m in r for r in per_repeat)]
    return [NullBand(m, tuple(float(r[m][0]) for r in per_repeat), int(per_repeat[0][m][1])) for m in models]


def leak_check(cfg: RunConfig, *, repeats: int, out: str | Path | None = None, progress: bool = True) -> Path:
    """Fit `cfg` on `repeats` label permutations (seeds cfg.seed + 1 ... + repeats) and write the band report.

    The data are loaded and the static features built once (they never read the label); each repeat is one
    `Predictor.fit` on the permuted posts, so nothing but the report is written."""
    from .api import fit_config
    from .prepare import permuted
    from .data import load_posts
    from .runfolder import new_run_dir

    if repeats < 2:
        raise ValueError(f"--repeats must be >= 2 for a noise band, got {repeats}")
    folder = new_run_dir(cfg, out, suffix="-leakcheck")
    check_writable(folder.parent, "the leak check's folder")
    frame, _ = load_posts(cfg, progress=progress)
    per_repeat = []
    for i in range(1, repeats + 1):
        log.info("leak check: permutation %d of %d", i, repeats)
        board = fit_config(cfg, permuted(frame, cfg.seed + i), progress=progress).leaderboard()
        per_repeat.append({r.model: (r.src, r.rows) for r in board.itertuples() if np.isfinite(r.src)})
    bands = null_bands(per_repeat)
    report = {"repeats": repeats, "alpha": ALPHA, "permutation_seeds": [cfg.seed + i for i in range(1, repeats + 1)],
              "models": [b.as_dict() for b in bands], "near_zero": all(b.near_zero for b in bands)}
    with staged_dir(folder) as tmp:
        (tmp / "leak_check.json").write_text(json_text(report))
        (tmp / "leak_check.md").write_text(_markdown(bands, repeats))
    for b in bands:
        log.info("leak check %-12s CV SRC mean %+.4f  std %.4f  range [%+.4f, %+.4f]  band +-%.4f: %s", b.model,
                 b.mean, b.std, min(b.srcs), max(b.srcs), b.band, "near zero" if b.near_zero else "LEAK SUSPECTED")
    log.info("leak check: %s", folder / "leak_check.md")
    return folder


def _markdown(bands: list[NullBand], repeats: int) -> str:
    lines = [f"# Leak check: CV SRC on {repeats} permutations of the training labels", "",
             f"A model passes when |mean| <= t({1 - ALPHA / 2:g}, {repeats - 1}) * max(std, 1/sqrt(n-1)) / "
             f"sqrt({repeats}): an honest model is flagged {ALPHA:.0%} of the time.", "",
             "| model | mean | std | min | max | band | verdict |", "|---|---|---|---|---|---|---|"]
    for b in bands:
        lines.append(f"| {b.model} | {b.mean:+.4f} | {b.std:.4f} | {min(b.srcs):+.4f} | {max(b.srcs):+.4f} | "
                     f"+-{b.band:.4f} | {'near zero' if b.near_zero else '**leak suspected**'} |")
    return "\n".join(lines) + "\n"
