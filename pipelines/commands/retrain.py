"""`smp retrain`: train a challenger on the current data and promote it if it beats the champion (cron-safe)."""

from __future__ import annotations

import argparse
import json
import sys

from .options import tracker_of

HELP = "train a challenger and promote it if it beats the champion (cron-safe)"


def arguments(p: argparse.ArgumentParser, shared) -> None:
    shared(p, "config", required=True, help="TOML file or bundled config name")
    shared(p, "data", help="override [data].path: the current data folder")
    p.add_argument("--retune", action="store_true", help="re-tune hyperparameters in this job ([tuning])")
    p.add_argument("--registry", default=None, help="override [retrain].registry_dir")
    shared(p, "mlflow")


def main(args: argparse.Namespace) -> int:
    from ..config import load_config
    from ..model_registry import RegistryLocked
    from ..retraining import retrain
    from ..tracking import track

    cfg = load_config(args.config)
    tracker = tracker_of(cfg, args)
    try:
        res = retrain(cfg, data=args.data, retune=args.retune, progress=not args.quiet, registry_dir=args.registry)
    except RegistryLocked as e:
        print(f"smp retrain: {e}", file=sys.stderr)
        return 75  # EX_TEMPFAIL: cron may simply try again next time
    track(tracker, "retrain", args.registry or cfg.retrain.registry_dir, version=res.version)
    print(json.dumps({"version": res.version, "promoted": res.promoted, "champion": res.champion,
                      "validation": res.manifest["validation"]}, indent=1, default=str))
    return 0
