"""Progress bars only on a terminal (or in a notebook): `smp run > log 2>&1` writes plain log lines, no bar
redrawn with carriage returns."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from smp.progress import progress_bar, watched


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("stream, enabled, drawn", [
    (_Terminal(), True, True),
    (_Terminal(), False, False),
    (io.StringIO(), True, False),  # a file or a pipe: the redirected log
    (None, True, False),  # no stderr at all (pythonw, some daemons)
])
def test_a_bar_is_drawn_only_where_someone_watches(monkeypatch, stream, enabled, drawn):
    monkeypatch.setattr(sys, "stderr", stream)
    assert watched() is drawn or not enabled
    bar = progress_bar(range(3), enabled=enabled, desc="x", file=stream or io.StringIO())
    assert bar.disable is not drawn
    assert list(bar) == [0, 1, 2]  # a silent bar still iterates
    if stream is not None:
        assert ("\r" in stream.getvalue()) is drawn


def test_smp_run_redirected_to_a_file_logs_clean_lines(tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(f"""name = "tiny-log"
[data]
format = "synthetic"
synthetic = {{ n_posts = 300, n_users = 40, seed = 0, image_size = 0 }}
[cv]
n_splits = 3
[[features]]
name = "user_profile"
[[features]]
name = "time"
[[models]]
key = "lgbm"
params = {{ n_estimators = 20, num_leaves = 7 }}
[stack]
learners = ["blend"]
[importance]
permutation = true
[output]
runs_dir = "{tmp_path / 'runs'}"
cache_dir = "{tmp_path / 'cache'}"
submissions_dir = "{tmp_path / 'subs'}"
""")
    log = tmp_path / "log"
    with open(log, "w") as f:  # `smp run > log 2>&1`
        proc = subprocess.run([sys.executable, "-m", "smp.pipelines.cli", "run", "--config", str(config)],
                              stdout=f, stderr=subprocess.STDOUT, timeout=300)
    text = log.read_text()
    assert proc.returncode == 0, text
    lines = text.splitlines()
    assert any("[smp] final:" in line for line in lines)  # the run's own log lines are there, one per line
    assert "\r" not in text and "\x1b[" not in text  # no bar redraws, no cursor movements
    assert not [line for line in lines if "fold/s" in line or "it/s" in line or "gen/s" in line]
