"""`smp tune`: Optuna tuning of level-1 learners on CV into a tuning folder (resumable studies)."""

from __future__ import annotations

import argparse

from .options import config_of

HELP = "Optuna-tune level-1 learners on CV (resumable study, --workers N processes)"


def arguments(p: argparse.ArgumentParser, shared) -> None:
    shared(p, "config", help="TOML file or bundled config name; its [tuning] gives the defaults")
    shared(p, "data")
    p.add_argument("--model", action="append", default=None,
                   help="[[models]] name to tune (repeatable; default: [tuning].models, else every one with a space)")
    p.add_argument("--trials", type=int, default=None, help="finished trials per model, over all sessions/workers")
    p.add_argument("--timeout", type=float, default=None, help="time budget per model in seconds (0: none)")
    p.add_argument("--workers", type=int, default=None, help="processes on this machine sharing each study")
    p.add_argument("--metric", choices=("src", "mae", "mse", "mape", "smp"), default=None,
                   help="objective (default [tuning].metric)")
    p.add_argument("--storage", default=None, help="study database URL (default: SQLite in the cache dir)")
    p.add_argument("--retune", action="store_true", help="discard a finished study for the same data and tune again")
    shared(p, "out", help="folder to create (default: a new runs/<timestamp>-<name>-tune)")


def main(args: argparse.Namespace) -> int:
    from smp.ensembles.tuning import dashboard_command, default_storage

    from ..runner import tune_run

    cfg = config_of(args)
    tc = cfg.tuning
    cfg = cfg.evolve(tuning={
        "models": args.model or tc.models, "n_trials": args.trials or tc.n_trials,
        "timeout": tc.timeout if args.timeout is None else args.timeout, "workers": args.workers or tc.workers,
        "metric": args.metric or tc.metric, "storage": args.storage or tc.storage, "retune": tc.retune or args.retune,
    })
    tune_run(cfg, out=args.out, progress=not args.quiet)
    print(f"study dashboard: {dashboard_command(cfg.tuning.storage or default_storage(cfg.output.cache_dir))}")
    return 0
