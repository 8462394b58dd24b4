"""`smp explain`: per-post feature contributions of a finished run's predictions, with plots."""

from __future__ import annotations

import argparse

HELP = "per-post feature contributions of a finished run's predictions (+ waterfall / summary plots)"


def arguments(p: argparse.ArgumentParser, shared) -> None:
    shared(p, "run")
    shared(p, "data", required=True, help="a data folder in the run's layout; its test posts are explained")
    p.add_argument("--post", action="append", default=None, metavar="ID",
                   help="post id to draw a waterfall plot for (repeatable; default: the highest and lowest predicted)")
    p.add_argument("--model", default=None, help="model of the run to explain (default: the final one)")
    shared(p, "out", required=True, help="folder to create (contributions, plots); never overwritten")


def main(args: argparse.Namespace) -> int:
    from ..prediction import explain_run

    explain_run(args.run, args.data, args.out, posts=args.post, model=args.model, progress=not args.quiet)
    return 0
