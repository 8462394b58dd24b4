"""The `smp` command line: one table of subcommands."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Callable

log = logging.getLogger("smp")


def _config(args: argparse.Namespace, **changes):
    """The `--config` of a verb with `--data` (when the verb has it) and `changes` applied (None: unchanged)."""
    from .config import load_config

    cfg = load_config(args.config)
    changes = {k: v for k, v in changes.items() if v is not None}
    if getattr(args, "data", None):
        changes["data"] = {"path": args.data}
    return cfg.evolve(**changes) if changes else cfg


def _cmd_run(args: argparse.Namespace) -> int:
    from .run import run
    from .tracking import track

    cfg = _config(args, name=args.name, engine=args.engine)
    if args.repeats < 1 or (args.repeats > 1 and not args.permute_labels):
        raise ValueError(f"--repeats N (N >= 2) repeats the leak check over N permutations and needs "
                         f"--permute-labels; got --repeats {args.repeats}"
                         f"{'' if args.permute_labels else ' without --permute-labels'}")
    if args.permute_labels:
        cfg = cfg.evolve(name=f"{cfg.name}-permuted")
    if args.permute_labels and args.repeats > 1:
        from .leakcheck import leak_check

        folder = leak_check(cfg, repeats=args.repeats, out=args.out, progress=not args.quiet)
        report = json.loads((folder / "leak_check.json").read_text())
        print((folder / "leak_check.md").read_text())
        return 0 if report["near_zero"] else 1  # a suspected leak fails the command, so a script notices
    tracker = _tracker(cfg, args)
    track(tracker, "run", run(cfg, out=args.out, progress=not args.quiet, permute_labels=args.permute_labels))
    if args.permute_labels:
        log.info("one permutation is one draw of noise (about +-1/sqrt(rows) SRC); --repeats 10 reports each model's "
                 "mean and spread over ten permutations against a noise band")
    return 0


def _plan(args: argparse.Namespace):
    """The forward windows of `--windows`, `--span` (or `--holdout-frac`) and `--sliding`."""
    from .evaluate import ForwardPlan

    return ForwardPlan.of(args.windows, args.span, sliding=args.sliding)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from .evaluate import evaluate

    cfg = _config(args)
    seeds = parse_seeds(args.seeds) if args.seeds is not None else None
    folder = evaluate(cfg, plan=_plan(args), seeds=seeds, out=args.out, progress=not args.quiet)
    print((folder / "forward.md").read_text().split("## Every window")[0].rstrip())
    return 0


def _args_windows(p: argparse.ArgumentParser) -> None:
    p.add_argument("--windows", type=int, default=1, metavar="K",
                   help="forward windows: K consecutive blocks of the latest labelled posts, each scored by a fit on "
                        "the posts before it")
    p.add_argument("--span", "--holdout-frac", dest="span", type=float, default=None, metavar="FRAC",
                   help="share of the labelled posts the windows score (default 0.2 for one window, 0.4 for several)")
    p.add_argument("--sliding", action="store_true",
                   help="each window trains on as many posts as the first one has, right before it (default: "
                        "expanding, every earlier post)")
    p.add_argument("--seeds", default=None, help="comma-separated seeds, one fit each per window (default: the "
                                                 "config's seed)")


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


def _args_evaluate(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=None, help="TOML file or bundled config name (as for `smp run`)")
    _args_windows(p)
    p.add_argument("--out", default=None, help="folder to create (default: a new runs/<timestamp>-<name>-forward)")
    p.add_argument("--data", default=None, help="override [data].path")


def _cmd_compare(args: argparse.Namespace) -> int:
    from .compare import compare

    seeds = parse_seeds(args.seeds) if args.seeds is not None else None
    folder = compare(args.a, args.b, plan=_plan(args), seeds=seeds, data=args.data, out=args.out,
                     progress=not args.quiet)
    report = json.loads((folder / "compare.json").read_text())
    print("\n".join(report["verdicts"]))
    print(f"(A = {args.a}, B = {args.b}; details in {folder / 'compare.md'})")
    return 0


def _args_compare(p: argparse.ArgumentParser) -> None:
    p.add_argument("a", metavar="A", help="config name, TOML path, or CONFIG:VARIANT (an ablation variant)")
    p.add_argument("b", metavar="B", help="the system compared with A (the differences are B - A)")
    _args_windows(p)
    p.set_defaults(windows=4)
    p.add_argument("--out", default=None, help="folder to create (default: a new runs/<timestamp>-A-vs-B-compare)")
    p.add_argument("--data", default=None, help="override [data].path of both systems")


def _tracker(cfg, args: argparse.Namespace):
    """`--mlflow URI` over `[tracking] mlflow_uri`; checked before the long work (see pipelines/tracking.py)."""
    from .tracking import Tracker

    if args.mlflow:
        cfg = cfg.evolve(tracking={"mlflow_uri": args.mlflow})
    return Tracker.from_config(cfg)


def _args_mlflow(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mlflow", default=None, metavar="URI",
                   help="log to this MLflow tracking URI (overrides [tracking] mlflow_uri; needs the extra `tracking`)")


def _cmd_ablate(args: argparse.Namespace) -> int:
    from .ablate import ablate
    from .tracking import track

    cfg = _config(args)
    only = [v.strip() for v in args.only.split(",") if v.strip()] if args.only else None
    tracker = _tracker(cfg, args)
    plan = None
    if args.windows or args.forward:
        from .evaluate import ForwardPlan

        plan = ForwardPlan.of(args.windows or 1, args.forward)
    track(tracker, "ablate", ablate(cfg, out=args.out, jobs=args.jobs, progress=not args.quiet, only=only,
                                    plan=plan, seeds=parse_seeds(args.seeds) if args.seeds is not None else None))
    return 0


def _args_ablate(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=None, help="TOML file or bundled config name (as for `smp run`)")
    p.add_argument("--out", default=None,
                   help="ablation folder (default: a new runs/<timestamp>-<name>-ablation); naming an interrupted "
                        "one resumes it, finished variants are not rerun")
    p.add_argument("--jobs", type=int, default=0, help="variants run at once in separate processes (0: cores / 2)")
    p.add_argument("--data", default=None, help="override [data].path")
    p.add_argument("--only", default=None, help="comma-separated variant names to run besides `full`")
    p.add_argument("--forward", type=float, default=None, metavar="FRAC",
                   help="score every variant by the forward evaluation (train on the earliest posts, score the latest "
                        "FRAC, e.g. 0.2) instead of CV (default: CV)")
    p.add_argument("--windows", type=int, default=None, metavar="K",
                   help="score every variant on K forward windows over the latest FRAC (--forward; default 0.4) and "
                        "give each variant's paired difference to full with its interval and verdict")
    p.add_argument("--seeds", default=None, help="with --windows / --forward: comma-separated seeds, one fit each")
    _args_mlflow(p)


def _cmd_tune(args: argparse.Namespace) -> int:
    from smp.ensembles.tuning import dashboard_command, default_storage

    from .tune import tune_run

    cfg = _config(args)
    tc = cfg.tuning
    cfg = cfg.evolve(tuning={
        "models": args.model or tc.models, "n_trials": args.trials or tc.n_trials,
        "timeout": tc.timeout if args.timeout is None else args.timeout, "workers": args.workers or tc.workers,
        "metric": args.metric or tc.metric, "storage": args.storage or tc.storage, "retune": tc.retune or args.retune,
    })
    tune_run(cfg, out=args.out, progress=not args.quiet)
    print(f"study dashboard: {dashboard_command(cfg.tuning.storage or default_storage(cfg.output.cache_dir))}")
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from .predict import predict_run

    run_dir = args.run
    if run_dir is None:  # the registry's champion (see `smp registry`)
        from .registry import Registry

        run_dir = Registry(args.registry).run_dir("champion")
        log.info("predicting with the champion: %s", run_dir)
    predict_run(run_dir, args.data, args.out, progress=not args.quiet)
    return 0


def _cmd_synth(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .datasets.synthetic import generate_smpd_image

    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} already exists and is not empty; refusing to overwrite it")
    n_test = round(args.test_frac * args.posts)
    if not 0 < args.test_frac < 1 or not 1 <= n_test < args.posts:
        # `smp run` predicts the test split and trains on the rest: a set without either cannot be run.
        raise ValueError(f"--test-frac must leave at least one test and one train post (0 < frac < 1), got "
                         f"--test-frac {args.test_frac} with --posts {args.posts} ({n_test} test posts)")
    if args.until:  # an earlier snapshot of the same data (see pipelines/datasets/snapshot.py)
        return _synth_until(args, out)
    generate_smpd_image(out, n_posts=args.posts, n_users=args.users, seed=args.seed, image_size=args.image_size,
                        test_frac=args.test_frac, progress=not args.quiet)
    log.info("wrote a synthetic SMPD-Image set (%d posts, %d users) to %s", args.posts, args.users, out)
    return 0


def _synth_until(args: argparse.Namespace, out) -> int:
    import shutil
    import tempfile
    from pathlib import Path

    from .datasets.snapshot import parse_until, snapshot_smpd_image
    from .datasets.synthetic import generate_smpd_image

    until = parse_until(args.until)
    out.parent.mkdir(parents=True, exist_ok=True)
    full = Path(tempfile.mkdtemp(prefix=".synth-full-", dir=out.parent))
    try:
        generate_smpd_image(full, n_posts=args.posts, n_users=args.users, seed=args.seed,
                            image_size=args.image_size, test_frac=args.test_frac, progress=not args.quiet)
        kept = snapshot_smpd_image(full, out, until)
    finally:
        shutil.rmtree(full, ignore_errors=True)
    log.info("wrote the posts before %s of a synthetic set (%d posts, %d users, seed %d) to %s: %d train, %d test",
             args.until, args.posts, args.users, args.seed, out, kept["train"], kept["test"])
    return 0


def _cmd_retrain(args: argparse.Namespace) -> int:
    from .config import load_config
    from .registry import RegistryLocked
    from .retrain import retrain
    from .tracking import track

    cfg = load_config(args.config)
    tracker = _tracker(cfg, args)
    try:
        res = retrain(cfg, data=args.data, retune=args.retune, progress=not args.quiet, registry_dir=args.registry)
    except RegistryLocked as e:
        print(f"smp retrain: {e}", file=sys.stderr)
        return 75  # EX_TEMPFAIL: cron may simply try again next time
    track(tracker, "retrain", args.registry or cfg.retrain.registry_dir, version=res.version)
    print(json.dumps({"version": res.version, "promoted": res.promoted, "champion": res.champion,
                      "validation": res.manifest["validation"]}, indent=1, default=str))
    return 0


def _cmd_registry(args: argparse.Namespace) -> int:
    from .registry import Registry, RegistryLocked

    root = args.registry
    if root is None:
        from .config import load_config

        root = load_config(args.config).retrain.registry_dir if args.config else "registry"
    reg = Registry(root)
    if args.action == "list":
        rows = reg.table()
        if args.json:
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


def _cmd_features(args: argparse.Namespace) -> int:
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


def _cmd_models(args: argparse.Namespace) -> int:
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
    p.add_argument("--engine", default=None, choices=("local", "ray"), help="override `engine` (where fold fits run)")
    p.add_argument("--permute-labels", action="store_true",
                   help="leak check: shuffle the training labels; honest CV scores must come out near zero SRC")
    _args_mlflow(p)
    p.add_argument("--repeats", type=int, default=1,
                   help="with --permute-labels: repeat over N permutations and report each model's mean and spread "
                        "of CV SRC against a noise band (exit 1 when a mean is outside it)")


def _args_predict(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", default=None, help="a finished run folder (default: the registry's champion)")
    p.add_argument("--registry", default="registry", help="registry folder whose champion predicts without --run")
    p.add_argument("--data", required=True, help="a data folder in the run's layout; its test split is predicted")
    p.add_argument("--out", required=True, help="CSV to create (post_id,popularity_score); never overwritten")


def _args_synth(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="folder to write the SMPD-Image layout into (new or empty)")
    p.add_argument("--posts", type=int, default=20000, help="posts to generate, train and test together")
    p.add_argument("--users", type=int, default=2500, help="users (every user posts at least once)")
    p.add_argument("--seed", type=int, default=0, help="random seed: the same seed writes the same set")
    p.add_argument("--image-size", type=int, default=32, help="side of the generated JPEGs in pixels; 0 writes no images")
    p.add_argument("--test-frac", type=float, default=0.2,
                   help="share of posts in the test split, in (0, 1): `smp run` predicts it")
    p.add_argument("--until", default=None,
                   help="keep only posts published before this date (e.g. 2016-06-01): an earlier snapshot of the "
                        "same set; a later --until with the same seed grows it by the newer posts")


def _args_retrain(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="TOML file or bundled config name")
    p.add_argument("--data", default=None, help="override [data].path: the current data folder")
    p.add_argument("--retune", action="store_true", help="re-tune hyperparameters in this job ([tuning])")
    p.add_argument("--registry", default=None, help="override [retrain].registry_dir")
    _args_mlflow(p)


def _args_registry(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("list", "show", "rollback"),
                   help="list: every version; show: one version's manifest; rollback: make VERSION the champion")
    p.add_argument("version", nargs="?", default=None, help="vNNNN (show: default the champion)")
    p.add_argument("--registry", default=None, help="registry folder (default: the config's, else ./registry)")
    p.add_argument("--config", default=None, help="take the registry folder from this config's [retrain]")
    p.add_argument("--json", action="store_true", help="machine-readable output (show: with the full config)")


def _args_tune(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=None, help="TOML file or bundled config name; its [tuning] gives the defaults")
    p.add_argument("--data", default=None, help="override [data].path")
    p.add_argument("--model", action="append", default=None,
                   help="[[models]] name to tune (repeatable; default: [tuning].models, else every one with a space)")
    p.add_argument("--trials", type=int, default=None, help="finished trials per model, over all sessions/workers")
    p.add_argument("--timeout", type=float, default=None, help="time budget per model in seconds (0: none)")
    p.add_argument("--workers", type=int, default=None, help="processes on this machine sharing each study")
    p.add_argument("--metric", choices=("src", "mae", "mse", "mape", "smp"), default=None, help="objective (default [tuning].metric)")
    p.add_argument("--storage", default=None, help="study database URL (default: SQLite in the cache dir)")
    p.add_argument("--retune", action="store_true", help="discard a finished study for the same data and tune again")
    p.add_argument("--out", default=None, help="folder to create (default: a new runs/<timestamp>-<name>-tune)")


def _cmd_explain(args: argparse.Namespace) -> int:
    from .explain import explain_run

    explain_run(args.run, args.data, args.out, posts=args.post, model=args.model, progress=not args.quiet)
    return 0


def _args_explain(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", required=True, help="a finished run folder")
    p.add_argument("--data", required=True, help="a data folder in the run's layout; its test posts are explained")
    p.add_argument("--post", action="append", default=None, metavar="ID",
                   help="post id to draw a waterfall plot for (repeatable; default: the highest and lowest predicted)")
    p.add_argument("--model", default=None, help="model of the run to explain (default: the final one)")
    p.add_argument("--out", required=True, help="folder to create (contributions, plots); never overwritten")


def _args_list(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output")


COMMANDS: dict[str, tuple[str, Callable, Callable]] = {
    "run": ("run a config end to end into a new run folder (+ submission)", _args_run, _cmd_run),
    "ablate": ("run the config and each variant without a feature group / training component; ablation table",
               _args_ablate, _cmd_ablate),
    "predict": ("predict the test split of a data folder with a finished run", _args_predict, _cmd_predict),
    "explain": ("per-post feature contributions of a finished run's predictions (+ waterfall / summary plots)",
                _args_explain, _cmd_explain),
    "evaluate": ("forward scores over K windows of later posts, each trained on the posts before it, with "
                 "intervals", _args_evaluate, _cmd_evaluate),
    "compare": ("two configs (or a config and an ablation variant) on the same forward windows: paired "
                "differences with intervals and a verdict", _args_compare, _cmd_compare),
    "tune": ("Optuna-tune level-1 learners on CV (resumable study, --workers N processes)", _args_tune, _cmd_tune),
    "synth": ("write a synthetic SMPD-Image dataset (official layout, small images)", _args_synth, _cmd_synth),
    "retrain": ("train a challenger and promote it if it beats the champion (cron-safe)", _args_retrain,
                _cmd_retrain),
    "registry": ("list / show / roll back model registry versions", _args_registry, _cmd_registry),
    "features": ("list registered feature generators", _args_list, _cmd_features),
    "models": ("list registered models", _args_list, _cmd_models),
    "analyze": ("analyses of a finished run (emotion: EIJL regression)", _args_analyze, _cmd_analyze),
}


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
    for name, (help_, add_args, func) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_, parents=[common], formatter_class=_HelpWithDefaults)
        add_args(p)
        p.set_defaults(func=func)
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
