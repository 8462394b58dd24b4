"""The installed distribution puts one top-level package, `smp`, into site-packages (plus its console script)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_installs_only_smp(tmp_path):
    # Build from a copy: setuptools writes build/ and *.egg-info beside the sources it builds.
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".venv", ".git", ".smp", "runs", "registry", "build",
                                                             "*.egg-info", "__pycache__", "submissions"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(src)],
                   check=True, capture_output=True, text=True)
    (wheel,) = tmp_path.glob("smp-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/", 1)[0] for n in names}
    assert top == {"smp", next(t for t in top if t.endswith(".dist-info"))}, top
    for pkg in ("features", "features/embedding", "ensembles", "pipelines", "pipelines/commands", "pipelines/datasets",
                "ensembles/models",
                "ensembles/tuning"):
        assert f"smp/{pkg}/__init__.py" in names
    assert "smp/pipelines/configs/default.toml" in names
    entry = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "smp = smp.pipelines.cli:main" in entry
