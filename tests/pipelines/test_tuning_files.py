"""The tuning files of a run folder: the best-so-far line of the tuning plot follows each metric's direction."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest

import smp.pipelines.report as report
from smp.pipelines.training import write_tuning_files

VALUES = [0.3, 0.1, 0.2, 0.4, 0.05]


@pytest.mark.parametrize("metric, expected", [
    ("src", [0.3, 0.3, 0.3, 0.4, 0.4]), ("smp", [0.3, 0.3, 0.3, 0.4, 0.4]),  # greater is better
    ("mae", [0.3, 0.1, 0.1, 0.1, 0.05]), ("mse", [0.3, 0.1, 0.1, 0.1, 0.05]), ("mape", [0.3, 0.1, 0.1, 0.1, 0.05]),
])
def test_the_tuning_plots_best_so_far_line_is_right_for_every_metric(tmp_path, monkeypatch, metric, expected):
    drawn = []

    def figure(*args, **kwargs):
        fig, ax = new_figure(*args, **kwargs)
        drawn.append(ax)
        return fig, ax

    new_figure = report.new_figure
    monkeypatch.setattr(report, "new_figure", figure)
    trials = pd.DataFrame({"number": range(len(VALUES)), "value": VALUES, "state": "TrialState.COMPLETE"})
    tuned = SimpleNamespace(key="lgbm", study_name="s", storage="sqlite://", metric=metric, best_value=expected[-1],
                            best_trial=0, best_params={}, n_finished=len(VALUES), per_worker={}, reused=False,
                            seconds=1.0, trials=trials)
    write_tuning_files(tmp_path, {"lgbm": tuned})
    (ax,) = drawn
    (line,) = [ln for ln in ax.get_lines() if ln.get_label() == "best so far"]
    assert list(line.get_ydata()) == pytest.approx(expected)
    assert (tmp_path / "plots" / "tuning_lgbm.png").is_file() and (tmp_path / "tuning" / "lgbm.json").is_file()
