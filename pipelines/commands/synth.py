"""`smp synth`: a synthetic SMPD-Image dataset in the official layout (optionally an earlier snapshot of it)."""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
from pathlib import Path

log = logging.getLogger("smp")

HELP = "write a synthetic SMPD-Image dataset (official layout, small images)"


def arguments(p: argparse.ArgumentParser, shared) -> None:
    shared(p, "out", required=True, help="folder to write the SMPD-Image layout into (new or empty)")
    p.add_argument("--posts", type=int, default=20000, help="posts to generate, train and test together")
    p.add_argument("--users", type=int, default=2500, help="users (every user posts at least once)")
    p.add_argument("--seed", type=int, default=0, help="random seed: the same seed writes the same set")
    p.add_argument("--image-size", type=int, default=32, help="side of the generated JPEGs in pixels; 0 writes no images")
    p.add_argument("--test-frac", type=float, default=0.2,
                   help="share of posts in the test split, in (0, 1): `smp run` predicts it")
    p.add_argument("--until", default=None,
                   help="keep only posts published before this date (e.g. 2016-06-01): an earlier snapshot of the "
                        "same set; a later --until with the same seed grows it by the newer posts")


def main(args: argparse.Namespace) -> int:
    from smp.files import check_free

    from ..datasets.synthetic import generate_smpd_image

    out = check_free(args.out)
    n_test = round(args.test_frac * args.posts)
    if not 0 < args.test_frac < 1 or not 1 <= n_test < args.posts:
        # `smp run` predicts the test split and trains on the rest: a set without either cannot be run.
        raise ValueError(f"--test-frac must leave at least one test and one train post (0 < frac < 1), got "
                         f"--test-frac {args.test_frac} with --posts {args.posts} ({n_test} test posts)")
    if args.until:  # an earlier snapshot of the same data (see pipelines/datasets/snapshot.py)
        return _until(args, out)
    generate_smpd_image(out, n_posts=args.posts, n_users=args.users, seed=args.seed, image_size=args.image_size,
                        test_frac=args.test_frac, progress=not args.quiet)
    log.info("wrote a synthetic SMPD-Image set (%d posts, %d users) to %s", args.posts, args.users, out)
    return 0


def _until(args: argparse.Namespace, out: Path) -> int:
    from ..datasets.snapshot import parse_until, snapshot_smpd_image
    from ..datasets.synthetic import generate_smpd_image

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
