"""`smp registry`: list, show or roll back the versions of the model registry (`pipelines/model_registry.py`)."""

from __future__ import annotations

import argparse
import json
import sys

HELP = "list / show / roll back model registry versions"


def arguments(p: argparse.ArgumentParser, shared) -> None:
    p.add_argument("action", choices=("list", "show", "rollback"),
                   help="list: every version; show: one version's manifest; rollback: make VERSION the champion")
    p.add_argument("version", nargs="?", default=None, help="vNNNN (show: default the champion)")
    p.add_argument("--registry", default=None, help="registry folder (default: the config's, else ./registry)")
    shared(p, "config", help="take the registry folder from this config's [retrain]")
    shared(p, "json", help="machine-readable output (show: with the full config)")


def main(args: argparse.Namespace) -> int:
    from ..model_registry import Registry, RegistryLocked

    root = args.registry
    if root is None:
        from ..config import load_config

        root = load_config(args.config).retrain.registry_dir if args.config else "registry"
    reg = Registry(root)
    if args.action == "list":
        return _list(reg, root, args.json)
    version = args.version or "champion"
    if args.action == "show":
        m = reg.manifest(version)
        if not args.json:
            m = {k: v for k, v in m.items() if k != "config"}  # --json shows the full config too
        print(json.dumps({**m, "run": str(reg.run_dir(version))}, indent=1, default=str))
        return 0
    if args.version is None:
        raise ValueError("rollback needs a VERSION, e.g. `smp registry rollback v0002`")
    try:
        with reg.lock():
            previous = reg.champion()
            reg.rollback(args.version)
    except RegistryLocked as e:
        print(f"smp registry: {e}", file=sys.stderr)
        return 75
    print(f"champion: {args.version} (was {previous})")
    return 0


def _list(reg, root, as_json: bool) -> int:
    rows = reg.table()
    if as_json:
        print(json.dumps(rows, indent=1, default=str))
        return 0
    if not rows:
        print(f"registry {root}: no versions")
        return 0
    print(f"{'':2}{'version':<8} {'created':<26} {'parent':<7} {'promoted':<8} {'metric':<6} "
          f"{'challenger':>10} {'champion':>9} {'window':>6} {'train':>7} data")
    for r in rows:
        fmt = (lambda v: "-" if v is None else f"{v:.4f}")
        print(f"{'*' if r['champion'] else ' ':2}{r['version']:<8} {str(r['created']):<26} "
              f"{str(r['parent'] or '-'):<7} {str(r['promoted']):<8} {str(r['metric']):<6} "
              f"{fmt(r['challenger']):>10} {fmt(r['champion_score']):>9} {str(r['window_rows']):>6} "
              f"{str(r['train_rows']):>7} {r['data']}")
    return 0
