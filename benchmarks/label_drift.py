"""How a popbench table's label level moves over time, and how far a straight line of the label over time follows
it into the suite's forward windows (no features: the label and the post time alone).

    .venv/bin/python benchmarks/label_drift.py [udemy,ted,medium_ds2020]

Prints, per table, the mean label of each 5% block of posts by time, then for each of the suite's windows (the
latest 40% in four blocks of 10%, each after every earlier post) the MAE and mean residual (prediction - label) of
the training median and of a Huber line over time fitted on all / the latest 30% / the latest 10% of the training
posts. A level that falls or rises faster than any line fitted on the past is drift no learner can be fitted to.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import HuberRegressor

POPBENCH = Path(__file__).resolve().parents[2] / "shared" / "data" / "popbench"


def line_forecast(days: np.ndarray, y: np.ndarray, later: np.ndarray, share: float) -> np.ndarray:
    """A Huber line of `y` over `days`, fitted on the latest `share` of the rows, at `later`."""
    keep = days >= np.quantile(days, 1.0 - share)
    centre, scale = np.median(days[keep]), np.std(days[keep])
    fit = HuberRegressor(alpha=0.0, max_iter=500).fit(((days[keep] - centre) / scale)[:, None], y[keep])
    return fit.predict(((later - centre) / scale)[:, None])


def main(names: str = "udemy,ted,medium_ds2020") -> int:
    for name in names.split(","):
        t = pd.read_csv(POPBENCH / name / "all.csv", parse_dates=["time"]).sort_values("time", kind="stable")
        days = ((t["time"] - t["time"].min()).dt.total_seconds() / 86400).to_numpy()
        y, n = t["label"].to_numpy(dtype=float), len(t)
        blocks = t.assign(block=np.arange(n) * 20 // n).groupby("block").agg(start=("time", "min"),
                                                                              mean_label=("label", "mean"))
        print(f"\n{name}: mean label by 5% block of posts (by time)")
        print(blocks.assign(start=blocks["start"].dt.date, mean_label=blocks["mean_label"].round(2)).to_string())
        rows = []
        for k in range(4):
            a, b = int(n * (0.6 + 0.1 * k)), int(n * (0.7 + 0.1 * k))
            forecasts = {"median": np.full(b - a, np.median(y[:a]))}
            for share in (1.0, 0.3, 0.1):
                forecasts[f"line, latest {share:.0%}"] = line_forecast(days[:a], y[:a], days[a:b], share)
            for system, f in forecasts.items():
                rows.append({"system": system, "window": k + 1, "mae": np.mean(np.abs(f - y[a:b])),
                             "residual": np.mean(f - y[a:b])})
        table = pd.DataFrame(rows).pivot(index="system", columns="window", values=["mae", "residual"]).round(2)
        table[("mae", "mean")] = table["mae"].mean(axis=1).round(3)
        print(f"{name}: the label alone in the suite's windows (MAE and mean residual per window)")
        print(table.to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
