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


def _cmd_ablate(args: argparse.Namespace) -> int:
    from .ablate import ablate
    from .config import load_config

    cfg = load_config(args.config)
    if args.data:
        cfg.data.path = args.data
    only = [v.strip() for v in args.only.split(",") if v.strip()] if args.only else None
    ablate(cfg, out=args.out, jobs=args.jobs, progress=not args.quiet, only=only)
    return 0


def _args_ablate(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=None, help="TOML file or bundled config name (as for `smp run`)")
    p.add_argument("--out", default=None,
                   help="ablation folder (default: a new runs/<timestamp>-<name>-ablation); naming an interrupted "
                        "one resumes it, finished variants are not rerun")
    p.add_argument("--jobs", type=int, default=0, help="variants run at once in separate processes (0: cores / 2)")
    p.add_argument("--data", default=None, help="override [data].path")
    p.add_argument("--only", default=None, help="comma-separated variant names to run besides `full`")


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


def _cmd_analyze(args: argparse.Namespace) -> int:
    from .analyze import analyze_emotion

    paths = analyze_emotion(args.run, standardize=not args.raw)
    print(paths["md"].read_text())
    return 0


def _args_analyze(p: argparse.ArgumentParser) -> None:
    p.add_argument("what", choices=["emotion"], help="emotion: EIJL's emotion-interaction OLS on the training posts")
    p.add_argument("--run", required=True, help="a finished run folder; results go to its analysis/ folder")
    p.add_argument("--raw", action="store_true", help="do not z-score txt_emo, img_emo, likability before products")


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


def _args_list(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output")


COMMANDS: dict[str, tuple[str, Callable, Callable]] = {
    "run": ("run a config end to end into a new run folder (+ submission)", _args_run, _cmd_run),
    "ablate": ("run the config and each variant without a feature group / training component; ablation table",
               _args_ablate, _cmd_ablate),
    "predict": ("predict the test split of a data folder with a finished run", _args_predict, _cmd_predict),
    "synth": ("write a synthetic SMPD-Image dataset (official layout, small images)", _args_synth, _cmd_synth),
    "features": ("list registered feature generators", _args_list, _cmd_features),
    "models": ("list registered models", _args_list, _cmd_models),
    "analyze": ("analyses of a finished run (emotion: EIJL regression)", _args_analyze, _cmd_analyze),
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
