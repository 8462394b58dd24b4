"""`smp evaluate`: forward scores over K windows of later posts, each trained on the posts before it."""

from __future__ import annotations

import argparse

from .options import config_of, plan_of, seeds_of

HELP = "forward scores over K windows of later posts, each trained on the posts before it, with intervals"


def arguments(p: argparse.ArgumentParser, shared) -> None:
    shared(p, "config")
    shared(p, "windows")
    shared(p, "out", help="folder to create (default: a new runs/<timestamp>-<name>-forward)")
    shared(p, "data")


def main(args: argparse.Namespace) -> int:
    from ..forward import evaluate

    folder = evaluate(config_of(args), plan=plan_of(args), seeds=seeds_of(args), out=args.out,
                      progress=not args.quiet)
    print((folder / "forward.md").read_text().split("## Every window")[0].rstrip())
    return 0
