"""How a popbench table's label level moves over time, and how far a straight line of the label over time follows
it into the suite's forward windows (no features: the label and the post time alone).

    .venv/bin/python benchmarks/label_drift.py [udemy,ted,medium_ds2020]

Prints, per table, the mean label of each 5% block of posts by time, then for each of the suite's windows
(`forward_windows`: the latest 40% in four blocks of 10%, each after every earlier post) the MAE and mean residual
(prediction - label) of the training median and of the line a model's `trend` fits (`ensembles.trend.TimeTrend`)
on all / the latest 30% / the latest 10% of the training posts. A level that falls or rises faster than any line
fitted on the past is drift no learner can be fitted to.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_suite import DATASETS  # noqa: E402
from smp.ensembles.trend import TimeTrend  # noqa: E402
from smp.pipelines.windows import forward_windows  # noqa: E402


def days(posts: pd.DataFrame, start: pd.Timestamp) -> pd.DataFrame:
    """The posts' days since `start`, as the one column a `TimeTrend` reads."""
    return pd.DataFrame({"days": (posts["post_time"] - start).dt.total_seconds().to_numpy() / 86400})


def main(names: str = "udemy,ted,medium_ds2020") -> int:
    for name in names.split(","):
        frame = DATASETS[name].frame()
        t = frame[frame["split"].eq("train")].sort_values("post_time", kind="stable")
        n, start = len(t), t["post_time"].min()
        blocks = t.assign(block=np.arange(n) * 20 // n).groupby("block").agg(start=("post_time", "min"),
                                                                              mean_label=("label", "mean"))
        print(f"\n{name}: mean label by 5% block of posts (by time)")
        print(blocks.assign(start=blocks["start"].dt.date, mean_label=blocks["mean_label"].round(2)).to_string())
        rows = []
        for w in forward_windows(frame, 4, 0.4):
            fit = w.fit[w.fit["split"].eq("train")]
            y_fit, y = fit["label"].to_numpy(dtype=float), w.held["label"].to_numpy(dtype=float)
            forecasts = {"median": np.full(len(y), np.median(y_fit))}
            for share in (1.0, 0.3, 0.1):
                line = TimeTrend("days", share).fit(days(fit, start), y_fit)
                forecasts[f"line, latest {share:.0%}"] = line.predict(days(w.held, start))
            for system, f in forecasts.items():
                rows.append({"system": system, "window": w.index, "mae": np.mean(np.abs(f - y)),
                             "residual": np.mean(f - y)})
        table = pd.DataFrame(rows).pivot(index="system", columns="window", values=["mae", "residual"]).round(2)
        table[("mae", "mean")] = table["mae"].mean(axis=1).round(3)
        print(f"{name}: the label alone in the suite's windows (MAE and mean residual per window)")
        print(table.to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
