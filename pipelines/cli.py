"""The `smp` command line: one table of subcommands."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Callable

log = logging.getLogger("smp")


def _cmd_run(args: argparse.Namespace) -> int:
    from .config import load_config
    from .run import run

    cfg = load_config(args.config)
    if args.data:
        cfg.data.path = args.data
    if args.name:
        cfg.name = args.name
    if args.permute_labels:
        cfg.name = f"{cfg.name}-permuted"
    run(cfg, out=args.out, progress=not args.quiet, permute_labels=args.permute_labels)
    return 0


def _cmd_tune(args: argparse.Namespace) -> int:
    from .config import load_config
    from .training import tune_run

    cfg = load_config(args.config)
    if args.data:
        cfg.data.path = args.data
    tc = cfg.tuning
    tc.models = args.model or tc.models
    tc.n_trials = args.trials or tc.n_trials
    tc.timeout = tc.timeout if args.timeout is None else args.timeout
    tc.workers = args.workers or tc.workers
    tc.metric = args.metric or tc.metric
    tc.storage = args.storage or tc.storage
    tc.retune = tc.retune or args.retune
    if tc.workers < 1 or tc.n_trials < 1:
        raise ValueError(f"--workers and --trials must be >= 1, got {tc.workers} and {tc.n_trials}")
    tune_run(cfg, out=args.out, progress=not args.quiet)
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from .run import predict_run

    predict_run(args.run, args.data, args.out, progress=not args.quiet)
    return 0


def _cmd_synth(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .datasets.synthetic import generate_smpd_image

    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} already exists and is not empty; refusing to overwrite it")
    generate_smpd_image(out, n_posts=args.posts, n_users=args.users, seed=args.seed, image_size=args.image_size,
                        test_frac=args.test_frac, progress=not args.quiet)
    log.info("wrote a synthetic SMPD-Image set (%d posts, %d users) to %s", args.posts, args.users, out)
    return 0


def _cmd_features(args: argparse.Namespace) -> int:
    from features import GENERATORS

    rows = [{"name": k, "group": c.group, "uses_target": c.uses_target, "version": c.version,
             "requires": list(c.requires) + [f"{p}*" for p in c.requires_prefix], "params": c.default_params()}
            for k, c in GENERATORS.items()]
    if args.json:
        print(json.dumps(rows, indent=1, default=str))
        return 0
    print(f"{'name':<20} {'group':<10} {'target':<7} requires / default params")
    for r in rows:
        print(f"{r['name']:<20} {r['group']:<10} {str(r['uses_target']):<7} {', '.join(r['requires'])}")
        if r["params"]:
            print(f"{'':<39} {r['params']}")
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    from ensembles import MODELS

    rows = [{"key": k, "summary": c.summary, "defaults": c.defaults} for k, c in sorted(MODELS.items())]
    if args.json:
        print(json.dumps(rows, indent=1, default=str))
        return 0
    for r in rows:
        print(f"{r['key']:<10} {r['summary']}")
        if r["defaults"]:
            print(f"{'':<10} {r['defaults']}")
    return 0


def _args_run(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=None,
                   help="TOML file or bundled config name (default, smpd_video, smpd_image, synthetic_full); "
                        "default: the bundled synthetic default")
    p.add_argument("--out", default=None, help="run folder to create (default: a new runs/<timestamp>-<name>)")
    p.add_argument("--data", default=None, help="override [data].path")
    p.add_argument("--name", default=None, help="override the run name")
    p.add_argument("--permute-labels", action="store_true",
                   help="leak check: shuffle the training labels; honest CV scores must come out near zero SRC")


def _args_predict(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", required=True, help="a finished run folder")
    p.add_argument("--data", required=True, help="a data folder in the run's layout; its test split is predicted")
    p.add_argument("--out", required=True, help="CSV to create (post_id,popularity_score); never overwritten")


def _args_synth(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="folder to write the SMPD-Image layout into")
    p.add_argument("--posts", type=int, default=20000)
    p.add_argument("--users", type=int, default=2500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--image-size", type=int, default=32, help="side of the generated JPEGs; 0 writes no images")
    p.add_argument("--test-frac", type=float, default=0.2)


def _args_tune(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=None, help="TOML file or bundled config name; its [tuning] gives the defaults")
    p.add_argument("--data", default=None, help="override [data].path")
    p.add_argument("--model", action="append", default=None,
                   help="[[models]] name to tune (repeatable; default: [tuning].models, else every one with a space)")
    p.add_argument("--trials", type=int, default=None, help="finished trials per model, over all sessions/workers")
    p.add_argument("--timeout", type=float, default=None, help="time budget per model in seconds (0: none)")
    p.add_argument("--workers", type=int, default=None, help="processes on this machine sharing each study")
    p.add_argument("--metric", choices=("src", "mae", "smp"), default=None, help="objective (default [tuning].metric)")
    p.add_argument("--storage", default=None, help="study database URL (default: SQLite in the cache dir)")
    p.add_argument("--retune", action="store_true", help="discard a finished study for the same data and tune again")
    p.add_argument("--out", default=None, help="folder to create (default: a new runs/<timestamp>-<name>-tune)")


def _args_list(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output")


COMMANDS: dict[str, tuple[str, Callable, Callable]] = {
    "run": ("run a config end to end into a new run folder (+ submission)", _args_run, _cmd_run),
    "predict": ("predict the test split of a data folder with a finished run", _args_predict, _cmd_predict),
    "tune": ("Optuna-tune level-1 learners on CV (resumable study, --workers N processes)", _args_tune, _cmd_tune),
    "synth": ("write a synthetic SMPD-Image dataset (official layout, small images)", _args_synth, _cmd_synth),
    "features": ("list registered feature generators", _args_list, _cmd_features),
    "models": ("list registered models", _args_list, _cmd_models),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smp", description="Social media popularity prediction toolkit")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars or info logs")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_, add_args, func) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        add_args(p)
        p.set_defaults(func=func)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="[smp] %(message)s",
                        stream=sys.stderr)
    try:
        return args.func(args)
    except (ValueError, KeyError, FileNotFoundError, FileExistsError, TypeError) as e:
        # User mistakes get one clear line, not a traceback (set SMP_DEBUG=1 for the traceback).
        import os

        if os.environ.get("SMP_DEBUG"):
            raise
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"smp {args.command}: error: {msg}  (SMP_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
