"""`smp features`: the registered feature generators, their groups, whether they use the label, their inputs."""

from __future__ import annotations

import argparse
import json

HELP = "list registered feature generators"


def arguments(p: argparse.ArgumentParser, shared) -> None:
    shared(p, "json")


def main(args: argparse.Namespace) -> int:
    from smp.features import GENERATORS

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
