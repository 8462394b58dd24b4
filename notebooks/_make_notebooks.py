"""Regenerate the notebooks from these cell sources, saved without outputs:
`python notebooks/_make_notebooks.py` (the notebooks are plain files; editing them in Jupyter works too, but
save them without outputs: tests/notebooks checks)."""
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

SETUP = '''import os
from pathlib import Path

import pandas as pd
from IPython.display import Image, Markdown, display

from smp.pipelines.ablate import ablate, plan_variants, smoke_config
from smp.pipelines.config import load_config

# SMP_NOTEBOOK_SMALL=1 (what the test suite sets) runs the same cells on a small synthetic set with one fast model.
SMALL = os.environ.get("SMP_NOTEBOOK_SMALL", "") not in ("", "0")
# Paths in the bundled configs are relative to the repository root, the parent of notebooks/.
ROOT = Path.cwd().parent if Path.cwd().name == "notebooks" else Path.cwd()
OUT = Path(os.environ.get("SMP_NOTEBOOK_OUT") or ROOT / "runs")'''

RUN = '''variants = plan_variants(cfg, ONLY)
display(pd.DataFrame([{"variant": v.name, "what": v.label, "features": len(v.cfg.features),
                       "scheme": v.cfg.cv.scheme} for v in variants]))
folder = ablate(cfg, jobs=1 if SMALL else 0, progress=not SMALL, only=ONLY)
folder'''

SHOW = '''table = pd.read_csv(folder / "ablation.csv")
display(table[["variant", "final", "src", "mae", "mape", "delta_src", "delta_mae", "delta_mape", "delta_src_fold_std",
               "src_fold_std"]].round(4))
display(Image(filename=str(folder / "plots" / "ablation.png")))'''

IMPORTANCE = '''full_run = folder / "variants" / "full" / "run"
display(Markdown((full_run / "importance.md").read_text().split("## Feature groups")[0]))
display(pd.read_csv(full_run / "importance_groups.csv").round(4))
for png in ("importance_groups.png", "importance_permutation.png"):
    if (full_run / "plots" / png).is_file():
        display(Image(filename=str(full_run / "plots" / png)))'''


def nb(title, intro, config_cell):
    cells = [
        new_markdown_cell(f"# {title}\n\n{intro}"),
        new_code_cell(SETUP),
        new_markdown_cell("## The configuration and the variants"),
        new_code_cell(config_cell),
        new_code_cell(RUN),
        new_markdown_cell("## The ablation table (HyperFusion Table 1 style)\n\n"
                          "Deltas are variant minus full: a negative delta SRC means the removed part helps. "
                          "`delta_src_fold_std` is the spread over folds of the paired per-fold SRC difference."),
        new_code_cell(SHOW),
        new_markdown_cell("## Feature importance of the full run\n\n"
                          "Gain (normalised, mean over folds and models) and permutation importance (SRC drop when "
                          "a feature, or a whole group, is shuffled in each fold's validation part)."),
        new_code_cell(IMPORTANCE),
    ]
    book = new_notebook(cells=cells)
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    book.metadata["language_info"] = {"name": "python"}
    return book


ABL = nb(
    "Feature ablation on the embedded synthetic default",
    "Runs `smp.pipelines.ablate.ablate` (what `smp ablate --config default` runs) through the public API: the full "
    "configuration, one variant without each feature group, without the ensemble and with a single split instead "
    "of K folds; then shows the table, the plot and the importance tables of the full run.",
    '''cfg = load_config("default")
cfg.output.runs_dir = str(OUT)
cfg.output.cache_dir = str(ROOT / ".smp" / "cache")
ONLY = None  # every variant; e.g. ["no_user", "no_text"] for a quicker look
if SMALL:
    cfg = smoke_config(cfg, n_posts=300)
    cfg.output.cache_dir = str(OUT / "cache")
    ONLY = ["no_user"]
print(cfg.name, cfg.data.format, [s.name for s in cfg.features])''',
)

def real(title, name, env, what):
    return nb(
        title,
        f"{what} The data folder is the bundled config's `[data].path` (relative to the repository root) or "
        f"`${env}`. When it is missing (or in the test suite's small mode) the same cells run the same feature "
        "recipe on a small synthetic set, so the notebook always executes.",
        f'''cfg = load_config("{name}")
data = Path(os.environ.get("{env}") or ROOT / cfg.data.path)
cfg.output.runs_dir = str(OUT)
cfg.output.cache_dir = str(ROOT / ".smp" / "cache")
ONLY = None  # every variant
if data.is_dir() and not SMALL:
    cfg.data.path = str(data)
    print(f"real data: {{data}}")
else:
    print(f"{{data}} is missing or small mode is on: the {name} recipe on a small synthetic set instead")
    cfg = smoke_config(cfg, n_posts=300)
    cfg.output.cache_dir = str(OUT / "cache")
    ONLY = ["single_split"]
print(cfg.name, cfg.data.format, [s.name for s in cfg.features])''',
    )


VIDEO = real("Ablation on SMPD-Video (SMP 2025 video track)", "smpd_video", "SMPD_VIDEO_DATA",
             "The ablation of the bundled `smpd_video` config (user-grouped folds, LightGBM + CatBoost, blend/stack) "
             "on the official anonymized TikTok metadata, as `smp ablate --config smpd_video` runs it.")
IMAGE = real("Ablation on SMPD-Image (Flickr)", "smpd_image", "SMPD_IMAGE_DATA",
             "The ablation of the bundled `smpd_image` config on the official SMPD-Image files, as "
             "`smp ablate --config smpd_image --data /path/to/SMPD` runs it.")

for path, book in (("ablation.ipynb", ABL), ("smpd_video.ipynb", VIDEO), ("smpd_image.ipynb", IMAGE)):
    nbformat.validate(book)
    nbformat.write(book, Path(__file__).parent / path)
