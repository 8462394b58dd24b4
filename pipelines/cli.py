"""The `smp` command line: the options verbs share, declared once here, and one table of subcommands, each a module
of `pipelines/commands/` (its own options and a thin `main` over the core module that does the work)."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from .commands import (ablate, analyze, compare, evaluate, explain, features, models, predict, registry, retrain,
                       run, synth, tune)

log = logging.getLogger("smp")

COMMANDS = {"run": run, "ablate": ablate, "predict": predict, "explain": explain, "evaluate": evaluate,
            "compare": compare, "tune": tune, "synth": synth, "retrain": retrain, "registry": registry,
            "features": features, "models": models, "analyze": analyze}

# Options several verbs take: flags and argparse settings; a verb may change `help`, `required` or `default`.
SHARED: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "config": (("--config",), {"default": None, "help": "TOML file or bundled config name (as for `smp run`)"}),
    "data": (("--data",), {"default": None, "help": "override [data].path"}),
    "out": (("--out",), {"default": None, "help": "folder to create; never overwritten"}),
    "run": (("--run",), {"required": True, "help": "a finished run folder"}),
    "mlflow": (("--mlflow",), {"default": None, "metavar": "URI",
                               "help": "log to this MLflow tracking URI (overrides [tracking] mlflow_uri; needs the "
                                       "extra `tracking`)"}),
    "seeds": (("--seeds",), {"default": None, "help": "comma-separated seeds, one fit each per window (default: the "
                                                      "config's seed)"}),
    "json": (("--json",), {"action": "store_true", "help": "machine-readable output"}),
}


def shared(p: argparse.ArgumentParser, name: str, **changes: Any) -> None:
    """Add the shared option `name` to a verb's parser (`windows`: the forward-window options), with `changes`."""
    if name == "windows":
        p.add_argument("--windows", type=int, default=1, metavar="K",
                       help="forward windows: K consecutive blocks of the latest labelled posts, each scored by a fit "
                            "on the posts before it")
        p.add_argument("--span", "--holdout-frac", dest="span", type=float, default=None, metavar="FRAC",
                       help="share of the labelled posts the windows score (default 0.2 for one window, 0.4 for "
                            "several)")
        p.add_argument("--sliding", action="store_true",
                       help="each window trains on as many posts as the first one has, right before it (default: "
                            "expanding, every earlier post)")
        shared(p, "seeds")
        return
    if name not in SHARED:
        raise KeyError(f"unknown shared option {name!r}; shared options: {sorted(SHARED)} and 'windows'")
    flags, settings = SHARED[name]
    settings = {**settings, **changes}
    if settings.get("required"):
        settings.pop("default", None)
    p.add_argument(*flags, **settings)


class _HelpWithDefaults(argparse.HelpFormatter):
    """Each option's help ends with its default, unless the help already says it or there is none to say."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        unset = action.default is None or action.default is False or action.default is argparse.SUPPRESS
        if action.option_strings and "default" not in text and not action.required and not unset:
            text += " (default: %(default)s)"
        return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smp", description="Social media popularity prediction toolkit",
                                     formatter_class=_HelpWithDefaults)
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars or info logs")
    # The global flags are accepted after the verb too (`smp run -q`); SUPPRESS keeps the value given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="no progress bars or info logs (also accepted before the command)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, verb in COMMANDS.items():
        p = sub.add_parser(name, help=verb.HELP, description=verb.HELP, parents=[common],
                           formatter_class=_HelpWithDefaults)
        verb.arguments(p, shared)
        p.set_defaults(func=verb.main)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="[smp] %(message)s",
                        stream=sys.stderr)
    # Libraries that log every epoch or file at INFO (gensim's Word2Vec, Ray) would bury
    # the run's own lines under the root handler; their warnings still come through.
    for name in ("gensim", "ray", "httpx", "sentence_transformers"):
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        return args.func(args)
    except (ValueError, KeyError, FileNotFoundError, FileExistsError, TypeError, TimeoutError) as e:
        # User mistakes get one clear line, not a traceback (set SMP_DEBUG=1 for the traceback).
        import os

        if os.environ.get("SMP_DEBUG"):
            raise
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"smp {args.command}: error: {msg}  (SMP_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
