"""Regenerate the notebooks from these cell sources, saved without outputs:
`python notebooks/_make_notebooks.py` (the notebooks are plain files; editing them in Jupyter works too, but
save them without outputs: tests/notebooks checks)."""
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

SETUP = '''import os
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Image, display

import smp
from smp.pipelines.ablate import plan_variants, smoke_config
from smp.pipelines.run import load_posts

# SMP_NOTEBOOK_SMALL=1 (what the test suite sets) runs the same cells on a small synthetic set with one fast model.
SMALL = os.environ.get("SMP_NOTEBOOK_SMALL", "") not in ("", "0")
# Paths in the bundled configs are relative to the repository root, the parent of notebooks/.
ROOT = Path.cwd().parent if Path.cwd().name == "notebooks" else Path.cwd()
OUT = Path(os.environ.get("SMP_NOTEBOOK_OUT") or ROOT / "runs")
CACHE = str(OUT / "cache") if SMALL else str(ROOT / ".smp" / "cache")
# Small mode's text embeddings use the recipe's model (the shipped MiniLM, distilled once into the static model: ~40 s
# of CPU) unless SMP_NOTEBOOK_TEXT_MODEL names another local sentence-transformers or model2vec folder (the suite's
# tiny one).
TEXT_MODEL = os.environ.get("SMP_NOTEBOOK_TEXT_MODEL") or None'''

FIT = '''p = smp.Predictor(cfg, progress=not SMALL).fit(posts)
p.leaderboard().round(4)'''

IMPORTANCE = '''groups = p.feature_importance("groups")
display(groups.round(4))
top = p.feature_importance("gain").head(15).iloc[::-1]
fig, ax = plt.subplots(figsize=(7, 4.5))
ax.barh(top["feature"], top["importance"])
ax.set_xlabel("normalised gain (mean over folds and level-1 models)")
plt.show()'''

PREDICT = '''test = posts[posts["split"] == "test"]
pred = p.predict(test)  # the final model; p.predict(test, model="lgbm") for any model of the leaderboard
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.hist(posts.loc[posts["split"] == "train", "label"], bins=40, alpha=0.6, label="training labels")
ax.hist(pred, bins=40, alpha=0.6, label="test predictions")
ax.legend()
plt.show()
saved = p.save(OUT / f"{cfg.name}-notebook-run")  # a run folder: smp.Predictor.load(saved) predicts the same
saved'''

RUN = '''variants = plan_variants(cfg, ONLY)
display(pd.DataFrame([{"variant": v.name, "what": v.label, "features": len(v.cfg.features),
                       "scheme": v.cfg.cv.scheme} for v in variants]))
folder = smp.ablate(cfg, jobs=1 if SMALL else 0, progress=not SMALL, only=ONLY)
folder'''

SHOW = '''table = pd.read_csv(folder / "ablation.csv")
display(table[["variant", "final", "src", "mae", "mape", "delta_src", "delta_mae", "delta_mape", "delta_src_fold_std",
               "src_fold_std"]].round(4))
display(Image(filename=str(folder / "plots" / "ablation.png")))'''


def nb(title, intro, config_cell):
    cells = [
        new_markdown_cell(f"# {title}\n\n{intro}"),
        new_code_cell(SETUP),
        new_markdown_cell("## The configuration and the posts"),
        new_code_cell(config_cell),
        new_markdown_cell("## Fit and leaderboard\n\n`smp.Predictor(config).fit(posts)` runs what `smp run` runs: "
                          "features, K folds, the level-1 learners and the stack. The leaderboard holds each "
                          "model's out-of-fold scores."),
        new_code_cell(FIT),
        new_markdown_cell("## Feature importance\n\nPer feature group, and the top features by gain."),
        new_code_cell(IMPORTANCE),
        new_markdown_cell("## Predictions of the test posts"),
        new_code_cell(PREDICT),
        new_markdown_cell("## Ablation (HyperFusion Table 1 style)\n\n`smp.ablate` runs the full configuration and "
                          "one variant without each part; deltas are variant minus full: a negative delta SRC "
                          "means the removed part helps. `delta_src_fold_std` is the spread over folds of the "
                          "paired per-fold SRC difference."),
        new_code_cell(RUN),
        new_code_cell(SHOW),
    ]
    book = new_notebook(cells=cells)
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    book.metadata["language_info"] = {"name": "python"}
    return book


ABL = nb(
    "The smp recipe on the embedded synthetic default",
    "Fits `smp.Predictor` on the bundled `default` config (what `make run` runs), looks at its leaderboard, "
    "importance and predictions, then runs `smp.ablate` (what `smp ablate --config default` runs): the full "
    "configuration, one variant without each feature group, without the ensemble and with a single split.",
    '''cfg = smp.load_config("default").evolve(output={"runs_dir": str(OUT), "cache_dir": CACHE})
ONLY = None  # every variant; e.g. ["no_user", "no_text"] for a quicker look
if SMALL:
    cfg = smoke_config(cfg, n_posts=300, text_model=TEXT_MODEL)
    ONLY = ["no_user"]
posts, _ = load_posts(cfg, progress=not SMALL)
print(cfg.name, len(posts), "posts;", [s.name for s in cfg.features])''',
)


def real(title, name, env, what):
    return nb(
        title,
        f"{what} The data folder is the bundled config's `[data].path` (relative to the repository root) or "
        f"`${env}`. When it is missing (or in the test suite's small mode) the same cells run the same feature "
        "recipe on a small synthetic set, so the notebook always executes.",
        f'''cfg = smp.load_config("{name}").evolve(output={{"runs_dir": str(OUT), "cache_dir": CACHE}})
data = Path(os.environ.get("{env}") or ROOT / cfg.data.path)
ONLY = None  # every variant
if data.is_dir() and not SMALL:
    cfg = cfg.evolve(data={{"path": str(data)}})
    posts = smp.load("{name}", data)
    print(f"real data: {{data}}")
else:
    print(f"{{data}} is missing or small mode is on: the {name} recipe on a small synthetic set instead")
    cfg = smoke_config(cfg, n_posts=300, text_model=TEXT_MODEL)
    posts, _ = load_posts(cfg, progress=False)
    ONLY = ["single_split"]
print(cfg.name, len(posts), "posts;", [s.name for s in cfg.features])''',
    )


VIDEO = real("The smp recipe on SMPD-Video (SMP 2025 video track)", "smpd_video", "SMPD_VIDEO_DATA",
             "Fits the bundled `smpd_video` config through `smp.Predictor` on the official anonymized TikTok "
             "metadata (`smp.load`), then its ablation, as `smp ablate --config smpd_video` runs it.")
IMAGE = real("The smp recipe on SMPD-Image (Flickr)", "smpd_image", "SMPD_IMAGE_DATA",
             "Fits the bundled `smpd_image` config through `smp.Predictor` on the official SMPD-Image files "
             "(`smp.load`), then its ablation, as `smp ablate --config smpd_image --data /path/to/SMPD` runs it.")

for path, book in (("ablation.ipynb", ABL), ("smpd_video.ipynb", VIDEO), ("smpd_image.ipynb", IMAGE)):
    nbformat.validate(book)
    nbformat.write(book, Path(__file__).parent / path)
