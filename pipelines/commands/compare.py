"""`smp compare A B`: two configs (or a config and an ablation variant) on the same forward windows."""

from __future__ import annotations

import argparse
import json

from .options import plan_of, seeds_of

HELP = ("two configs (or a config and an ablation variant) on the same forward windows: paired differences with "
        "intervals and a verdict")


def arguments(p: argparse.ArgumentParser, shared) -> None:
    p.add_argument("a", metavar="A", help="config name, TOML path, or CONFIG:VARIANT (an ablation variant)")
    p.add_argument("b", metavar="B", help="the system compared with A (the differences are B - A)")
    shared(p, "windows")
    p.set_defaults(windows=4)
    shared(p, "out", help="folder to create (default: a new runs/<timestamp>-A-vs-B-compare)")
    shared(p, "data", help="override [data].path of both systems")


def main(args: argparse.Namespace) -> int:
    from ..comparison import compare

    folder = compare(args.a, args.b, plan=plan_of(args), seeds=seeds_of(args), data=args.data, out=args.out,
                     progress=not args.quiet)
    report = json.loads((folder / "compare.json").read_text())
    print("\n".join(report["verdicts"]))
    print(f"(A = {args.a}, B = {args.b}; details in {folder / 'compare.md'})")
    return 0
