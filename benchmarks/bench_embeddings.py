"""Throughput (rows/s) of every embedding encoder on the default synthetic posts, cache bypassed.

    .venv/bin/python benchmarks/bench_embeddings.py [--config default] [--rows 2000] [--device auto]
                     [--clip MODEL_OR_FOLDER] [--resolutions 32,64,224]

Loads the config's PostFrame (the synthetic set is generated once and cached), takes the first `--rows` posts and
times each generator's `fit_transform` with an empty in-memory row cache, so every row is encoded (model loading is
done, and timed separately, before the clock starts). CLIP runs only with `--clip` (no CLIP weights ship here; a
tiny random CLIP folder measures the code path, not a real model's speed). Prints one line per encoder.
"""

from __future__ import annotations

import argparse
import time
import warnings


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="default")
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--clip", default=None, help="CLIP model id or folder (default: skip CLIP)")
    ap.add_argument("--resolutions", default="32,64,224", help="EfficientNet input sizes to time")
    args = ap.parse_args()

    from smp.features import RowStore, get_generator
    from smp.features._encoders import resolve_device
    from smp.pipelines.config import load_config
    from smp.pipelines.data import load_frame

    cfg = load_config(args.config)
    frame = load_frame(cfg.data, cfg.output, progress=False).iloc[: args.rows].reset_index(drop=True)
    device = resolve_device(args.device)
    print(f"{len(frame)} posts from config {cfg.name!r}, device {device}")
    runs = [
        ("glove", {"column": "title"}),
        ("glove", {"column": "tags"}),
        ("word2vec", {}),
        ("sentence", {"device": device}),
        ("image_stats", {}),
        *[("image_encoder", {"resolution": int(r), "device": device}) for r in args.resolutions.split(",")],
    ]
    if args.clip:
        runs += [("clip_text", {"model": args.clip, "device": device}),
                 ("clip_image", {"model": args.clip, "device": device})]
    warnings.simplefilter("ignore", RuntimeWarning)
    for name, params in runs:
        t = time.perf_counter()
        get_generator(name, params).fit_transform(frame.iloc[:8])  # load the model (timed apart)
        load_s = time.perf_counter() - t
        gen = get_generator(name, params).use_rows(RowStore())  # an empty memory store: every row is embedded
        t = time.perf_counter()
        gen.fit_transform(frame)
        s = time.perf_counter() - t
        extra = ", ".join(f"{k}={v}" for k, v in params.items() if k != "device")
        print(f"{name:14s} {extra:28s} {len(frame) / s:9.1f} rows/s  ({s:.1f}s; load {load_s:.1f}s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
