"""`smp analyze emotion`: EIJL's regression on a finished run, written next to it without overwriting."""

from __future__ import annotations

import joblib
import numpy as np
import pandas as pd
import pytest

from smp.files import staged_dir
from smp.features import get_generator
from smp.pipelines.emotion_analysis import TERMS, analyze_emotion, emotion_regression
from smp.pipelines.cli import main
from smp.pipelines.config import config_from_dict
from smp.pipelines.datasets.synthetic import generate_smpd_image
from smp.pipelines.fitted import FittedRun
from smp.pipelines.runner import run
from tests._data import make_postframe

TRUE = {"intercept": 6.0, "txt_emo": 0.3, "img_emo": -0.2, "likability": 0.8, "txt_emo:img_emo": 0.25,
        "txt_emo:img_emo:likability": -0.4}


def fake_run(tmp_path, with_generator: bool):
    """A run folder holding only what `analyze` reads, with labels built from known EIJL coefficients."""
    f = make_postframe(n_posts=1500, n_users=200, seed=11)
    rng = np.random.default_rng(0)
    f["title"] = rng.choice(["what a wonderful happy day", "a terrible sad loss", "plain words", "love it",
                             "awful"], len(f))
    gen = get_generator("emotion_interactions").fit(f)
    v = gen.transform(f)
    z = {k: (v[f"emotion_interactions__{k}"] - v[f"emotion_interactions__{k}"].mean())
         / v[f"emotion_interactions__{k}"].std(ddof=0) for k in ("txt_emo", "img_emo", "likability")}
    y = TRUE["intercept"] + sum(TRUE[t] * np.prod([z[p] for p in parts], axis=0) for t, parts in TERMS.items())
    f["label"] = y + rng.normal(0, 0.3, len(f))
    train = f[f["split"] == "train"].reset_index(drop=True)
    d = tmp_path / "run"
    fitted = FittedRun(static_generators=[gen] if with_generator else [], static_columns=[], target_generators={},
                       level1={})
    with staged_dir(d, manifest=True) as tmp:  # a finished folder: its manifest written last, as a run writes it
        (tmp / "models").mkdir()
        joblib.dump(fitted, tmp / "models" / "fitted.joblib")
        train.to_parquet(tmp / "models" / "train_posts.parquet", index=False)
    return d, len(train)


@pytest.mark.parametrize("with_generator", [True, False])
def test_regression_recovers_known_coefficients_and_never_overwrites(tmp_path, with_generator):
    d, n_train = fake_run(tmp_path, with_generator)
    paths = analyze_emotion(d)
    table = pd.read_csv(paths["csv"])
    assert table["term"].tolist() == ["intercept", *TERMS]
    assert (table["n"] == n_train).all()
    got = table.set_index("term")["coef"]
    for term, want in TRUE.items():
        assert got[term] == pytest.approx(want, abs=0.05), term
    assert (table["p_value"] < 1e-6).all() and table["r2"].iloc[0] > 0.8
    md = paths["md"].read_text()
    assert "txt_emo:img_emo:likability" in md and f"n = {n_train}" in md
    assert ("fitted `emotion_interactions`" in md) == with_generator
    assert paths["png"].stat().st_size > 1000
    before = paths["csv"].read_text()
    again = analyze_emotion(d, standardize=False)
    assert again["csv"].name == "emotion_regression-2.csv" and paths["csv"].read_text() == before
    assert "z-scored before forming products: False" in again["md"].read_text()


def test_constant_terms_are_dropped_and_reported():
    X = pd.DataFrame({"txt_emo": np.linspace(-1, 1, 50), "img_emo": 0.0, "likability": np.linspace(0, 3, 50) ** 2})
    y = pd.Series(1 + X["txt_emo"] + np.sin(np.arange(50)))
    table, stats = emotion_regression(X, y)
    assert set(stats["constant_terms_dropped"]) == {"img_emo", "txt_emo:img_emo", "txt_emo:img_emo:likability"}
    assert table["term"].tolist() == ["intercept", "txt_emo", "likability"]
    with pytest.raises(ValueError, match="at least"):
        emotion_regression(X.iloc[:3], y.iloc[:3])


def test_cli_end_to_end_on_a_small_run(tmp_path, capsys):
    data = tmp_path / "smpd"
    generate_smpd_image(data, n_posts=600, n_users=80, seed=2, image_size=0, progress=False)
    raw = {
        "name": "emo",
        "data": {"format": "smpd_image", "path": str(data)},
        "cv": {"scheme": "kfold", "n_splits": 3},
        "features": ["user_profile", {"name": "text_emotion", "params": {"nade": False}},
                     {"name": "emotion_interactions", "params": {"image_source": "none"}}],
        "models": ["ridge"],
        "stack": {"learners": ["blend"]},
        "output": {"runs_dir": str(tmp_path / "runs"), "submissions_dir": str(tmp_path / "subs"),
                   "cache_dir": str(tmp_path / "cache"), "submission": False},
    }
    d = run(config_from_dict(raw), progress=False)
    assert main(["-q", "analyze", "emotion", "--run", str(d)]) == 0
    out = capsys.readouterr().out
    assert "Emotion interaction regression" in out and "| likability |" in out
    table = pd.read_csv(d / "analysis" / "emotion_regression.csv")
    assert {"txt_emo", "likability"} <= set(table["term"]) and table["n"].iloc[0] > 400
    assert "Terms dropped because they are constant" in (d / "analysis" / "emotion_regression.md").read_text()
    assert main(["-q", "analyze", "emotion", "--run", str(tmp_path / "nope")]) == 2
