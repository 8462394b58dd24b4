"""The notebooks are saved without outputs and execute headless (nbclient) on small synthetic data."""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path

import pytest

from tests._tiny_sentence import tiny_static_dir

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))
ABLATIONS = [p for p in NOTEBOOKS if p.stem != "explain"]


def test_every_dataset_config_has_a_notebook():
    assert {p.stem for p in NOTEBOOKS} >= {"ablation", "smpd_video", "smpd_image", "explain"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_saved_without_outputs(path):
    nb = json.loads(path.read_text())
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, f"{path.name} cell {i} has outputs"


def _kernel_manager(tmp_path):
    """A kernel of this interpreter (the project's venv), whatever kernels the machine has installed."""
    from jupyter_client import KernelManager
    from jupyter_client.kernelspec import KernelSpecManager

    spec = tmp_path / "kernels" / "smp-test"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "smp test", "language": "python"}))
    return KernelManager(kernel_name="smp-test", kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(tmp_path / "kernels")]))


def _execute(path: Path, tmp_path: Path, monkeypatch):
    """The notebook executed headless in small mode; its outputs as one text."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("SMP_NOTEBOOK_SMALL", "1")
    monkeypatch.setenv("SMP_NOTEBOOK_OUT", str(tmp_path / "out"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    # The tiny random BERT's static model for the text embeddings (their recipes embed text statically only):
    # distilling the shipped MiniLM costs ~40 s of CPU, more than the rest of the three notebooks;
    # test_static_embedding's slow test distils the shipped model itself.
    monkeypatch.setenv("SMP_NOTEBOOK_TEXT_MODEL", tiny_static_dir())
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, km=_kernel_manager(tmp_path), timeout=300,
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    return "".join(o.get("text", "") + json.dumps(o.get("data", {})) for c in nb.cells if c.cell_type == "code"
                   for o in c.outputs)


@pytest.mark.parametrize("path", ABLATIONS, ids=lambda p: p.name)
def test_notebook_executes_on_small_data(path, tmp_path, monkeypatch):
    text = _execute(path, tmp_path, monkeypatch)
    folders = [p for p in (tmp_path / "out").iterdir() if p.name.endswith("-ablation")]
    assert len(folders) == 1 and (folders[0] / "ablation.csv").is_file()
    resolved = tomllib.loads((folders[0] / "config.resolved.toml").read_text())
    # Small mode ran the tiny model, not a distillation of MiniLM (the SMPD-Image recipe has no text embedding).
    models = [f["params"].get("model") for f in resolved["features"] if f["name"] in ("static_embedding", "sentence")]
    assert set(models) == ({tiny_static_dir()} if path.stem != "smpd_image" else set())
    assert "image/png" in text and "delta_src" in text


def test_explain_notebook_answers_on_small_data(tmp_path, monkeypatch):
    text = _execute(next(p for p in NOTEBOOKS if p.stem == "explain"), tmp_path, monkeypatch)
    assert "emotion moves a prediction by" in text and "as far as user and time" in text
    assert "mean |contribution|" in text and "image/png" in text
    plots = {p.name for p in (tmp_path / "out" / "explain-notebook-plots").iterdir()}
    assert plots == {"default_groups.png", "default_families.png", "default_waterfall.png"}
