"""CLI: global flags after the verb, help text with defaults on every flag, synth's --test-frac, and the leak check
over several permutations with a noise band."""

from __future__ import annotations

import argparse
import json

import pytest

from smp.pipelines.cli import build_parser, main
from smp.pipelines.config import config_from_dict
from smp.pipelines.leak_check import NullBand, leak_check, null_bands


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_global_flags_accepted_after_the_verb_too():
    p = build_parser()
    assert p.parse_args(["run", "-q"]).quiet is True
    assert p.parse_args(["-q", "run"]).quiet is True
    assert p.parse_args(["run", "--quiet", "--config", "x"]).quiet is True
    assert p.parse_args(["run"]).quiet is False
    assert p.parse_args(["synth", "--out", "d", "-q"]).quiet is True


@pytest.mark.parametrize("name", sorted(_subparsers(build_parser())))
def test_every_flag_has_help_with_its_default(name):
    sub = _subparsers(build_parser())[name]
    text = sub.format_help()
    for action in sub._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help, (name, action.dest)
        has_default = not (action.default is None or action.default is False or action.default is argparse.SUPPRESS)
        if action.option_strings and has_default and not action.required:
            formatter = sub._get_formatter()
            assert "default" in formatter._get_help_string(action), (name, action.dest)
    if name == "synth":
        assert "(default: 20000)" in " ".join(text.split())


@pytest.mark.parametrize("frac", ["0", "1", "1.5", "-0.1", "0.0001"])
def test_synth_test_frac_that_cannot_run_is_rejected_at_the_synth_step(tmp_path, frac, capsys):
    assert main(["synth", "--out", str(tmp_path / "d"), "--posts", "100", "--users", "10", "--test-frac", frac]) == 2
    err = capsys.readouterr().err
    assert "--test-frac must leave at least one test and one train post" in err and "Traceback" not in err
    assert not (tmp_path / "d").exists()


def test_repeats_needs_permute_labels(capsys):
    assert main(["run", "--repeats", "3"]) == 2
    assert "needs --permute-labels" in capsys.readouterr().err


def test_null_band_flags_a_mean_away_from_zero():
    noise = NullBand("a", (0.03, -0.05, 0.01, 0.06, -0.02), rows=300)
    from scipy.stats import t

    assert noise.near_zero and noise.band == pytest.approx(t.ppf(0.995, 4) * max(noise.std, 1 / 299**0.5) / 5**0.5)
    # The five honest permutations of 300 SMP-Video posts that a 3-sigma band flagged (measured, see leakcheck.py):
    assert NullBand("lgbm", (0.122, 0.165, 0.031, 0.185, 0.088), rows=300).near_zero
    leak = NullBand("b", (0.16, 0.14, 0.18, 0.15, 0.17), rows=300)
    assert not leak.near_zero
    bands = null_bands([{"m": (0.1, 300), "x": (0.2, 300)}, {"m": (0.0, 300)}])
    assert [b.model for b in bands] == ["m"] and bands[0].srcs == (0.1, 0.0)


def test_leak_check_over_permutations_reports_mean_and_spread(tmp_path, capsys):
    from smp.pipelines.datasets.synthetic import generate_smpd_image

    data = generate_smpd_image(tmp_path / "d", n_posts=300, n_users=40, seed=4, image_size=0, progress=False)
    raw = {"name": "tiny", "data": {"format": "smpd_image", "path": str(data)}, "cv": {"scheme": "group", "n_splits": 3},
           "features": ["user_profile", "time", "user_target"], "models": ["ridge"], "stack": {"learners": []},
           "importance": {"permutation": False},
           "output": {"runs_dir": str(tmp_path / "runs"), "submissions_dir": str(tmp_path / "subs"),
                      "cache_dir": str(tmp_path / "cache")}}
    folder = leak_check(config_from_dict(raw), repeats=3, out=tmp_path / "leak", progress=False)
    report = json.loads((folder / "leak_check.json").read_text())
    (ridge,) = report["models"]
    assert ridge["model"] == "ridge" and len(ridge["srcs"]) == 3 and len(set(ridge["srcs"])) == 3  # three draws
    assert ridge["std"] > 0 and ridge["min"] <= ridge["mean"] <= ridge["max"] and ridge["near_zero"]
    assert report["permutation_seeds"] == [1, 2, 3] and report["near_zero"] is True
    assert sorted(p.name for p in folder.iterdir()) == ["leak_check.json", "leak_check.md"]  # fits, not run folders
    assert not (tmp_path / "subs").exists()
    assert "| ridge |" in (folder / "leak_check.md").read_text()
