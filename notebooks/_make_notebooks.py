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
from smp.pipelines.ablation import plan_variants
from smp.pipelines.smoke import smoke_config
from smp.pipelines.data import load_posts

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

EXPLAIN_SETUP = '''import os
from pathlib import Path

import pandas as pd
from IPython.display import Image, display

import smp
from smp.pipelines.smoke import smoke_config
from smp.pipelines.explanations import by_group, plot_group_summary, plot_waterfall
from smp.pipelines.data import load_posts

# SMP_NOTEBOOK_SMALL=1 (what the test suite sets) runs the same cells on a small synthetic set with one fast model.
SMALL = os.environ.get("SMP_NOTEBOOK_SMALL", "") not in ("", "0")
ROOT = Path.cwd().parent if Path.cwd().name == "notebooks" else Path.cwd()
OUT = Path(os.environ.get("SMP_NOTEBOOK_OUT") or ROOT / "runs")
CACHE = str(OUT / "cache") if SMALL else str(ROOT / ".smp" / "cache")
TEXT_MODEL = os.environ.get("SMP_NOTEBOOK_TEXT_MODEL") or None  # as in ablation.ipynb
PLOTS = OUT / "explain-notebook-plots"
PLOTS.mkdir(parents=True, exist_ok=True)'''

FAMILIES = '''# EIJL's question in smp's feature groups: the post's emotion, its content, its author, its time.
FAMILY = {"emotion": "emotion", "text": "content", "visual": "content", "crossmodal": "content", "clusters": "content",
          "category": "content", "tags": "content", "meta": "content", "user": "user", "temporal": "time"}


def family(column: str, group: str) -> str:
    """The family of a feature column: label encodings count for what they encode (the user's mean label is a user
    signal, the category's a content one); geo, neighbour labels and per-modality models are `other`."""
    if column.startswith("user_target__"):
        return "user"
    if column.startswith(("category_target__", "cluster_target__")):
        return "content"
    return FAMILY.get(group, "other")


def explain_recipe(cfg, posts):
    """Fit the recipe, explain every test post exactly, and say how far each family moves the predictions."""
    p = smp.Predictor(cfg, progress=not SMALL).fit(posts)
    test = posts[posts["split"] == "test"]
    table = p.explain(test)  # one column per feature, plus base; each row sums to p.predict(test)
    assert (table.sum(axis=1) - p.predict(test)).abs().max() < 1e-6
    groups = p.feature_groups()
    families = by_group(table, {c: family(c, groups[c]) for c in groups})
    moved = families.drop(columns="base")
    summary = pd.DataFrame({"mean |contribution|": moved.abs().mean(), "mean": moved.mean(),
                            "std over posts": moved.std()}).sort_values("mean |contribution|", ascending=False)
    return p, test, table, families, summary


def answer(summary) -> str:
    m = summary["mean |contribution|"]
    mine, theirs = m.get("emotion", 0.0) + m.get("content", 0.0), m.get("user", 0.0) + m.get("time", 0.0)
    return (f"emotion moves a prediction by {m.get('emotion', 0.0):.3f} on average, content by "
            f"{m.get('content', 0.0):.3f}; user by {m.get('user', 0.0):.3f}, time by {m.get('time', 0.0):.3f}: "
            f"emotion and content together move predictions {mine / theirs:.2f}x as far as user and time.")


def show(name, p, table, families, summary):
    display(summary.round(4))
    print(answer(summary))
    plot_group_summary(by_group(table, p.feature_groups()), PLOTS / f"{name}_groups.png", title=f"{name}: groups")
    plot_group_summary(families, PLOTS / f"{name}_families.png", title=f"{name}: families")
    top = table.sum(axis=1).idxmax()
    plot_waterfall(table.loc[top], PLOTS / f"{name}_waterfall.png", title=f"{name}: the highest predicted post {top}")
    for plot in ("groups", "families", "waterfall"):
        display(Image(filename=str(PLOTS / f"{name}_{plot}.png")))'''

DEFAULT = '''# The bundled default plus the text-emotion generators (VADER, the NRC lexicon, valence / arousal; EIJL's
# interaction terms): the default recipe has no emotion group of its own.
cfg = smp.load_config("default").evolve(output={"runs_dir": str(OUT), "cache_dir": CACHE})
cfg = cfg.evolve(features=[*cfg.features, {"name": "text_emotion"},
                           {"name": "emotion_interactions", "params": {"image_source": "none"}}])
if SMALL:
    cfg = smoke_config(cfg, n_posts=300, text_model=TEXT_MODEL)
posts, _ = load_posts(cfg, progress=not SMALL)
print(cfg.name, len(posts), "posts;", [s.name for s in cfg.features])
p, test, table, families, summary = explain_recipe(cfg, posts)
show("default", p, table, families, summary)'''

VIDEO_EXPLAIN = '''cfg = smp.load_config("smpd_video").evolve(output={"runs_dir": str(OUT), "cache_dir": CACHE})
data = Path(os.environ.get("SMPD_VIDEO_DATA") or ROOT / cfg.data.path)
if data.is_dir() and not SMALL:
    cfg = cfg.evolve(data={"path": str(data)})
    posts = smp.load("smpd_video", data)
    p, test, table, families, summary = explain_recipe(cfg, posts)
    show("smpd_video", p, table, families, summary)
else:
    print(f"{data} is missing or small mode is on: SMP-Video is not explained here")'''


def explain_book():
    cells = [
        new_markdown_cell(
            "# Why is a post predicted popular? Emotion and content against user and time\n\n"
            "EIJL and ABMF ask which emotional and content factors drive popularity. `Predictor.explain` splits each "
            "post's prediction exactly into one contribution per feature plus a base value (TreeSHAP of every fold "
            "model, averaged as the predictions are, carried through the blend, the Ridge stack and a linear "
            "calibration by their weights). Summed per family, the contributions say how far the emotional and "
            "content signals move the predictions, next to the user and time signals. The same tables and plots "
            "come from `smp explain --run RUN --data DIR --out FOLDER`."),
        new_code_cell(EXPLAIN_SETUP),
        new_markdown_cell(
            "## Families of feature groups\n\n`mean |contribution|` is how far a family moves a typical post's "
            "prediction away from the base (in label units); `mean` is its net push over all test posts; "
            "`std over posts` how differently it treats posts."),
        new_code_cell(FAMILIES),
        new_markdown_cell("## The embedded default (synthetic SMPD-Image)\n\nThe synthetic labels are built from "
                          "user, category, tag and time effects, so emotion should move little here: a check that "
                          "the explanation finds what the data holds."),
        new_code_cell(DEFAULT),
        new_markdown_cell("## SMP-Video (SMP 2025 video track)\n\nWith the official anonymized files in "
                          "`../shared/data/smpd-video` (or `$SMPD_VIDEO_DATA`): the bundled `smpd_video` recipe, "
                          "with its text, face and audio emotion groups. Its calibration adds a time trend, "
                          "which `explain` keeps in `base` (so the base differs between posts)."),
        new_code_cell(VIDEO_EXPLAIN),
    ]
    book = new_notebook(cells=cells)
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    book.metadata["language_info"] = {"name": "python"}
    return book


for path, book in (("ablation.ipynb", ABL), ("smpd_video.ipynb", VIDEO), ("smpd_image.ipynb", IMAGE),
                   ("explain.ipynb", explain_book())):
    nbformat.validate(book)
    nbformat.write(book, Path(__file__).parent / path)
