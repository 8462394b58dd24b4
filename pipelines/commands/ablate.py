"""`smp ablate`: the config and each variant without a feature group or a training component."""

from __future__ import annotations

import argparse

from .options import config_of, seeds_of, tracker_of

HELP = "run the config and each variant without a feature group / training component; ablation table"


def arguments(p: argparse.ArgumentParser, shared) -> None:
    shared(p, "config")
    shared(p, "out", help="ablation folder (default: a new runs/<timestamp>-<name>-ablation); naming an interrupted "
                          "one resumes it, finished variants are not rerun")
    p.add_argument("--jobs", type=int, default=0, help="variants run at once in separate processes (0: cores / 2)")
    shared(p, "data")
    p.add_argument("--only", default=None, help="comma-separated variant names to run besides `full`")
    p.add_argument("--forward", type=float, default=None, metavar="FRAC",
                   help="score every variant by the forward evaluation (train on the earliest posts, score the latest "
                        "FRAC, e.g. 0.2) instead of CV (default: CV)")
    p.add_argument("--windows", type=int, default=None, metavar="K",
                   help="score every variant on K forward windows over the latest FRAC (--forward; default 0.4) and "
                        "give each variant's paired difference to full with its interval and verdict")
    shared(p, "seeds", help="with --windows / --forward: comma-separated seeds, one fit each")
    shared(p, "mlflow")


def main(args: argparse.Namespace) -> int:
    from ..ablation import ablate
    from ..tracking import track

    cfg = config_of(args)
    only = [v.strip() for v in args.only.split(",") if v.strip()] if args.only else None
    tracker = tracker_of(cfg, args)
    plan = None
    if args.windows or args.forward:
        from ..forward import ForwardPlan

        plan = ForwardPlan.of(args.windows or 1, args.forward)
    track(tracker, "ablate", ablate(cfg, out=args.out, jobs=args.jobs, progress=not args.quiet, only=only,
                                    plan=plan, seeds=seeds_of(args)))
    return 0
