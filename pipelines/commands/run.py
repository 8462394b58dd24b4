"""`smp run`: a config end to end into a new run folder (+ submission); with `--permute-labels` the leak check."""

from __future__ import annotations

import argparse
import json
import logging

from .options import config_of, tracker_of

log = logging.getLogger("smp")

HELP = "run a config end to end into a new run folder (+ submission)"


def arguments(p: argparse.ArgumentParser, shared) -> None:
    shared(p, "config", help="TOML file or bundled config name (default, smpd_video, smpd_image, synthetic_full); "
                             "default: the bundled synthetic default")
    shared(p, "out", help="run folder to create (default: a new runs/<timestamp>-<name>)")
    shared(p, "data")
    p.add_argument("--name", default=None, help="override the run name")
    p.add_argument("--engine", default=None, choices=("local", "ray"), help="override `engine` (where fold fits run)")
    p.add_argument("--permute-labels", action="store_true",
                   help="leak check: shuffle the training labels; honest CV scores must come out near zero SRC")
    shared(p, "mlflow")
    p.add_argument("--repeats", type=int, default=1,
                   help="with --permute-labels: repeat over N permutations and report each model's mean and spread "
                        "of CV SRC against a noise band (exit 1 when a mean is outside it)")


def main(args: argparse.Namespace) -> int:
    from ..runner import run
    from ..tracking import track

    cfg = config_of(args, name=args.name, engine=args.engine)
    if args.repeats < 1 or (args.repeats > 1 and not args.permute_labels):
        raise ValueError(f"--repeats N (N >= 2) repeats the leak check over N permutations and needs "
                         f"--permute-labels; got --repeats {args.repeats}"
                         f"{'' if args.permute_labels else ' without --permute-labels'}")
    if args.permute_labels:
        cfg = cfg.evolve(name=f"{cfg.name}-permuted")
    if args.permute_labels and args.repeats > 1:
        from ..leak_check import leak_check

        folder = leak_check(cfg, repeats=args.repeats, out=args.out, progress=not args.quiet)
        report = json.loads((folder / "leak_check.json").read_text())
        print((folder / "leak_check.md").read_text())
        return 0 if report["near_zero"] else 1  # a suspected leak fails the command, so a script notices
    tracker = tracker_of(cfg, args)
    track(tracker, "run", run(cfg, out=args.out, progress=not args.quiet, permute_labels=args.permute_labels))
    if args.permute_labels:
        log.info("one permutation is one draw of noise (about +-1/sqrt(rows) SRC); --repeats 10 reports each model's "
                 "mean and spread over ten permutations against a noise band")
    return 0
