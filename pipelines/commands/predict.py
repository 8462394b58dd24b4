"""`smp predict`: a finished run (or the registry's champion) on the test split of a data folder, into a CSV."""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger("smp")

HELP = "predict the test split of a data folder with a finished run"


def arguments(p: argparse.ArgumentParser, shared) -> None:
    shared(p, "run", required=False, help="a finished run folder (default: the registry's champion)")
    p.add_argument("--registry", default="registry", help="registry folder whose champion predicts without --run")
    shared(p, "data", required=True, help="a data folder in the run's layout; its test split is predicted")
    shared(p, "out", required=True, help="CSV to create (post_id,popularity_score); never overwritten")


def main(args: argparse.Namespace) -> int:
    from ..prediction import predict_run

    run_dir = args.run
    if run_dir is None:  # the registry's champion (see `smp registry`)
        from ..model_registry import Registry

        run_dir = Registry(args.registry).run_dir("champion")
        log.info("predicting with the champion: %s", run_dir)
    predict_run(run_dir, args.data, args.out, progress=not args.quiet)
    return 0
