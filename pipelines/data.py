"""Resolve a `[data]` config into a PostFrame: the format's loader (`datasets.FORMATS`), generating the synthetic set
when asked; `load_posts(cfg)` for every verb, `smp.load(format, path)` for notebooks."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path

import pandas as pd

from smp.files import staged_dir
from smp.memory import release_memory

from .config import DataConfig, OutputConfig, RunConfig
from .datasets import FORMATS, DataError, TableMapping, load_dataset, load_table

log = logging.getLogger("smp")


def synthetic_dir(data: DataConfig, output: OutputConfig) -> Path:
    """Where the synthetic set of these parameters lives; generated once (atomically) and reused."""
    if data.path:
        return Path(data.path)
    key = hashlib.sha256(json.dumps(data.synthetic, sort_keys=True).encode()).hexdigest()[:12]
    return Path(output.cache_dir) / "synthetic" / key


def ensure_synthetic(data: DataConfig, output: OutputConfig, progress: bool = True) -> Path:
    from .datasets.synthetic import generate_smpd_image

    root = synthetic_dir(data, output)
    if (root / "train").is_dir():
        return root
    try:
        with staged_dir(root) as tmp:
            generate_smpd_image(tmp, progress=progress, **data.synthetic)
    except FileExistsError:
        if not (root / "train").is_dir():  # another process finished the same set first: use theirs
            raise
    return root


def data_root(data: DataConfig, output: OutputConfig, progress: bool = True) -> Path | None:
    """The data folder of a config (generating a synthetic set first); None for `table` data."""
    fmt = FORMATS[data.format]
    if fmt.generated:
        return ensure_synthetic(data, output, progress)
    if fmt.load is None:
        return None
    if not data.path:
        raise DataError("<config [data]>", "path", None, f"format {data.format!r} needs a data folder ({fmt.files})")
    root = Path(data.path)
    if not root.is_dir():
        raise DataError(root, None, str(root), "data folder not found")
    return root


def load_frame(data: DataConfig, output: OutputConfig, *, root: Path | None = None,
               train_posts: pd.DataFrame | None = None, progress: bool = True) -> pd.DataFrame:
    """Load the PostFrame the config describes; `root` overrides the data folder (as `smp predict --data` does).

    `train_posts` (a fitted run's training posts): load only the test split, checked against them (see
    `datasets`); a one-file table (train and test rows in one file, told apart by a split column) is read whole.
    """
    fmt = FORMATS[data.format]
    if data.format == "frame":
        raise DataError("<config [data]>", "format", "frame", "the posts were handed over in memory: there is "
                        "nothing to load; fit with smp.Predictor(config).fit(posts)")
    if fmt.load is None:
        t = dict(data.table)
        train, test, mapping = t.pop("train", None), t.pop("test", None), t.pop("mapping", {})
        if t:
            raise DataError("<config [data.table]>", sorted(t)[0], None, "valid keys are train, test, mapping")
        if not train:
            raise DataError("<config [data.table]>", "train", None, "a table config needs a train file")
        if root is not None:  # predict: the new folder holds files of the same names
            train = str(Path(root) / Path(train).name)
            test = str(Path(root) / Path(test).name) if test else None
        return load_table(train, test, mapping=TableMapping.from_dict(mapping), label_range=data.label_range,
                          train_posts=train_posts if test else None)
    root = Path(root) if root is not None else data_root(data, output, progress)
    return load(data.format, root, **{"label_range": data.label_range, **data.options, "train_posts": train_posts})


def load(format: str, path: str | Path, **options) -> pd.DataFrame:
    """The PostFrame of a data folder in `format` (`smpd_video`, `smpd_image`, `synthetic`), media paths absolute.

    `smp.load("smpd_video", "../shared/data/smpd-video")` in a notebook; `options` go to the loader (e.g.
    `label_range`, `media`; `train_posts=predictor.train_posts_` loads a folder holding only `test/`).
    """
    frame = load_dataset(format, path, **options)
    return absolute_media_paths(frame, Path(path))


def absolute_media_paths(frame: pd.DataFrame, root: Path) -> pd.DataFrame:
    """`image_path` made absolute against the data folder it was loaded from.

    Loaders give paths relative to their folder; a run keeps its training posts and `smp predict` adds posts
    from another folder, so each row must carry where its own file lies. Image generators cache rows by the
    file's bytes, not its path, so moving a data folder keeps every cached embedding.
    """
    base = Path(root).resolve()
    paths = frame["image_path"].astype(object)
    rel = paths.map(lambda p: isinstance(p, str) and bool(p) and not Path(p).is_absolute())
    if rel.any():
        frame = frame.copy()
        frame.loc[rel, "image_path"] = [str(base / p) for p in paths[rel]]
    return frame


def load_posts(cfg: RunConfig, *, progress: bool = True) -> tuple[pd.DataFrame, Path | None]:
    """The config's PostFrame (train and test posts) and the data folder it came from (None for tables)."""
    t = time.perf_counter()
    root = data_root(cfg.data, cfg.output, progress)
    frame = load_frame(cfg.data, cfg.output, root=root, progress=progress)
    log.info("loaded %d posts (%d train, %d test, %d users) in %.1fs", len(frame), int(frame["split"].eq("train").sum()),
             int(frame["split"].eq("test").sum()), frame["user_id"].nunique(), time.perf_counter() - t)
    release_memory()  # the loader's temporaries (parsed JSON, per-file frames)
    return frame, root
