"""`smp analyze emotion --run DIR`: EIJL's emotion-interaction regression (its eq. 1) on a finished run.

    label ~ b0 + b1 txt_emo + b2 img_emo + b3 likability + b4 txt_emo*img_emo + b5 txt_emo*img_emo*likability

fitted by ordinary least squares (statsmodels) over the run's training posts. The three emotion variables come from
the run's fitted `emotion_interactions` generator applied to `models/train_posts.parquet`; a run without that
generator gets a fresh one (it is static: it never reads the label), with the image emotion from the SMPD-Video
face side table when the posts carry it and zeros otherwise. By default the three variables are z-scored over the
training rows before the products are formed, so each main effect is read at the mean of the others (EIJL used
graded levels; the interaction t-statistics of the highest-order term do not depend on this choice).

Writes ``analysis/emotion_regression.{csv,md,png}`` into the run folder; an existing analysis is never
overwritten (a second call writes ``emotion_regression-2.*``).
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from smp.files import write_exclusive

from .fitted import load_fitted

log = logging.getLogger("smp")

BASE = ("txt_emo", "img_emo", "likability")
# EIJL eq. 1: main effects, the text x image interaction and the three-way interaction.
TERMS: dict[str, tuple[str, ...]] = {
    "txt_emo": ("txt_emo",),
    "img_emo": ("img_emo",),
    "likability": ("likability",),
    "txt_emo:img_emo": ("txt_emo", "img_emo"),
    "txt_emo:img_emo:likability": ("txt_emo", "img_emo", "likability"),
}
GENERATOR = "emotion_interactions"


def emotion_variables(run_dir: str | Path) -> tuple[pd.DataFrame, pd.Series, str]:
    """txt_emo, img_emo, likability of the run's training posts, their labels, and where the variables came from."""
    from smp.features import get_generator

    fitted, train_posts = load_fitted(run_dir)
    gens = [g for g in fitted.static_generators if g.name == GENERATOR]
    if gens:
        gen, source = gens[0], f"the run's fitted `{GENERATOR}` generator {gens[0]!r}"
    else:
        image_source = "media" if "meta_face_emotion_distribution" in train_posts.columns else "none"
        gen = get_generator(GENERATOR, {"image_source": image_source}).fit(train_posts)
        source = f"a fresh `{GENERATOR}` generator (the run has none) {gen!r}"
    out = gen.transform(train_posts)
    X = pd.DataFrame({v: out[f"{GENERATOR}__{v}"].to_numpy(dtype=float) for v in BASE})
    y = pd.Series(train_posts["label"].to_numpy(dtype=float), name="label")
    return X, y, source


def emotion_regression(X: pd.DataFrame, y: pd.Series, *, standardize: bool = True) -> tuple[pd.DataFrame, dict]:
    """OLS of `y` on EIJL's terms; returns the coefficient table and model statistics (n, R^2, dropped terms)."""
    import statsmodels.api as sm

    ok = np.isfinite(X[list(BASE)].to_numpy()).all(axis=1) & np.isfinite(y.to_numpy())
    Xk, yk = X.loc[ok, list(BASE)].reset_index(drop=True), y[ok].reset_index(drop=True)
    if len(Xk) < len(TERMS) + 2:
        raise ValueError(f"emotion regression needs at least {len(TERMS) + 2} rows with finite variables and "
                         f"label, got {len(Xk)}")
    if standardize:
        sd = Xk.std(ddof=0)
        Xk = (Xk - Xk.mean()) / sd.where(sd > 0, 1.0)
    design = pd.DataFrame({term: np.prod([Xk[v].to_numpy() for v in parts], axis=0)
                           for term, parts in TERMS.items()})
    constant = [t for t in design.columns if np.ptp(design[t].to_numpy()) <= 1e-12]
    design = design.drop(columns=constant)
    res = sm.OLS(yk.to_numpy(), sm.add_constant(design, has_constant="add")).fit()
    ci = res.conf_int(0.05)
    table = pd.DataFrame({
        "term": res.params.index.map(lambda t: "intercept" if t == "const" else t),
        "coef": res.params.to_numpy(),
        "std_err": res.bse.to_numpy(),
        "t": res.tvalues.to_numpy(),
        "p_value": res.pvalues.to_numpy(),
        "ci_low": ci[0].to_numpy(),
        "ci_high": ci[1].to_numpy(),
    })
    stats = {"n": int(res.nobs), "n_dropped_rows": int((~ok).sum()), "r2": float(res.rsquared),
             "r2_adj": float(res.rsquared_adj), "f_pvalue": float(res.f_pvalue), "standardized": standardize,
             "constant_terms_dropped": constant}
    table["n"], table["r2"] = stats["n"], stats["r2"]
    return table, stats


def _free_stem(folder: Path, stem: str, suffixes: tuple[str, ...]) -> str:
    """`stem`, or `stem-2`, `stem-3` ... : the first name none of whose files exist yet."""
    name, i = stem, 2
    while any((folder / f"{name}{s}").exists() for s in suffixes):
        name, i = f"{stem}-{i}", i + 1
    return name


def _markdown(table: pd.DataFrame, stats: dict, source: str, run_dir: Path) -> str:
    lines = [
        "# Emotion interaction regression (EIJL eq. 1)",
        "",
        f"Run: `{run_dir}`. OLS of the label on the terms below over the run's training posts.",
        f"Variables from {source}.",
        f"Variables z-scored before forming products: {stats['standardized']}.",
        "",
        f"n = {stats['n']} (rows dropped for missing values: {stats['n_dropped_rows']}), "
        f"R^2 = {stats['r2']:.4f}, adjusted R^2 = {stats['r2_adj']:.4f}, F-test p = {stats['f_pvalue']:.3g}",
        "",
        "| term | coef | std err | t | p-value | 95% CI |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for r in table.itertuples():
        lines.append(f"| {r.term} | {r.coef:.4f} | {r.std_err:.4f} | {r.t:.2f} | {r.p_value:.3g} | "
                     f"[{r.ci_low:.4f}, {r.ci_high:.4f}] |")
    if stats["constant_terms_dropped"]:
        lines += ["", f"Terms dropped because they are constant on these rows: {stats['constant_terms_dropped']}"]
    return "\n".join(lines) + "\n"


def _plot(table: pd.DataFrame, path: Path) -> None:
    from .report import new_figure

    t = table[table["term"] != "intercept"].iloc[::-1]
    fig, ax = new_figure(figsize=(6.5, 0.5 * len(t) + 1.5))
    err = np.vstack([t["coef"] - t["ci_low"], t["ci_high"] - t["coef"]])
    colors = ["tab:red" if p < 0.05 else "tab:gray" for p in t["p_value"]]
    for i, (coef, color) in enumerate(zip(t["coef"], colors)):
        ax.errorbar([coef], [i], xerr=err[:, i : i + 1], fmt="o", color=color, capsize=3)
    ax.axvline(0.0, color="black", lw=0.8)
    ax.set_yticks(np.arange(len(t)), t["term"])
    ax.set_xlabel("OLS coefficient on the label (95% CI; red: p < 0.05)")
    ax.set_title("Emotion interaction regression (EIJL eq. 1)")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    write_exclusive(path, buf.getvalue())  # never overwrite


def analyze_emotion(run_dir: str | Path, *, standardize: bool = True) -> dict[str, Path]:
    """Run the regression on a finished run and write its table, report and plot under `run_dir/analysis/`."""
    run_dir = Path(run_dir)
    X, y, source = emotion_variables(run_dir)
    table, stats = emotion_regression(X, y, standardize=standardize)
    folder = run_dir / "analysis"
    folder.mkdir(exist_ok=True)
    stem = _free_stem(folder, "emotion_regression", (".csv", ".md", ".png"))
    _plot(table, folder / f"{stem}.png")  # first: the step most likely to fail leaves no half-written analysis
    paths = {
        "csv": write_exclusive(folder / f"{stem}.csv", table.to_csv(index=False)),
        "md": write_exclusive(folder / f"{stem}.md", _markdown(table, stats, source, run_dir)),
        "png": folder / f"{stem}.png",
    }
    log.info("emotion regression: n=%d, R^2=%.4f -> %s", stats["n"], stats["r2"], paths["md"])
    return paths
