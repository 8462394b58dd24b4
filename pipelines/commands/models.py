"""`smp models`: the registered model keys with their summaries and default parameters."""

from __future__ import annotations

import argparse
import json

HELP = "list registered models"


def arguments(p: argparse.ArgumentParser, shared) -> None:
    shared(p, "json")


def main(args: argparse.Namespace) -> int:
    from smp.ensembles import MODELS

    rows = [{"key": k, "summary": c.summary, "defaults": c.defaults} for k, c in sorted(MODELS.items())]
    if args.json:
        print(json.dumps(rows, indent=1, default=str))
        return 0
    for r in rows:
        print(f"{r['key']:<10} {r['summary']}")
        if r["defaults"]:
            print(f"{'':<10} {r['defaults']}")
    return 0
