"""`smp analyze`: analyses of a finished run (emotion: EIJL's emotion-interaction regression)."""

from __future__ import annotations

import argparse

HELP = "analyses of a finished run (emotion: EIJL regression)"


def arguments(p: argparse.ArgumentParser, shared) -> None:
    p.add_argument("what", choices=["emotion"], help="emotion: EIJL's emotion-interaction OLS on the training posts")
    shared(p, "run", help="a finished run folder; results go to its analysis/ folder")
    p.add_argument("--raw", action="store_true", help="do not z-score txt_emo, img_emo, likability before products")


def main(args: argparse.Namespace) -> int:
    from ..emotion_analysis import analyze_emotion

    paths = analyze_emotion(args.run, standardize=not args.raw)
    print(paths["md"].read_text())
    return 0
