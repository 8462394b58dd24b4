"""What several verbs do with the shared options: the config with `--data` applied, the `--mlflow` tracker, the
forward windows and the `--seeds` list."""

from __future__ import annotations

import argparse


def config_of(args: argparse.Namespace, **changes):
    """The `--config` of a verb with `--data` (when the verb has it) and `changes` applied (None: unchanged)."""
    from ..config import load_config

    cfg = load_config(args.config)
    changes = {k: v for k, v in changes.items() if v is not None}
    if getattr(args, "data", None):
        changes["data"] = {"path": args.data}
    return cfg.evolve(**changes) if changes else cfg


def tracker_of(cfg, args: argparse.Namespace):
    """`--mlflow URI` over `[tracking] mlflow_uri`; checked before the long work (see pipelines/tracking.py)."""
    from ..tracking import Tracker

    if args.mlflow:
        cfg = cfg.evolve(tracking={"mlflow_uri": args.mlflow})
    return Tracker.from_config(cfg)


def plan_of(args: argparse.Namespace):
    """The forward windows of `--windows`, `--span` (or `--holdout-frac`) and `--sliding`."""
    from ..forward import ForwardPlan

    return ForwardPlan.of(args.windows, args.span, sliding=args.sliding)


def seeds_of(args: argparse.Namespace) -> list[int] | None:
    """`--seeds`, parsed (None when not given)."""
    return parse_seeds(args.seeds) if args.seeds is not None else None


def parse_seeds(text: str, flag: str = "--seeds") -> list[int]:
    """Comma-separated integer seeds ("0,1,2"), each once: an empty item, a non-integer or a repeated seed (which
    would count one fit twice and shrink the spread) raises a `ValueError` naming `flag`."""
    seeds: list[int] = []
    for item in text.split(","):
        item = item.strip()
        try:
            seed = int(item)
        except ValueError:
            raise ValueError(f"{flag} must be comma-separated integers like 0,1,2, got {text!r} (item {item!r} is "
                             "not an integer)") from None
        if seed in seeds:
            raise ValueError(f"{flag} must name each seed once, got {text!r} (seed {seed} twice)")
        if seed < 0:
            raise ValueError(f"{flag} must be integers >= 0, got {text!r} (seed {seed})")
        seeds.append(seed)
    return seeds
