"""Resolve a `[data]` config into a PostFrame: run the right loader, generating the synthetic set when asked."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pandas as pd

from .config import DataConfig, OutputConfig
from .datasets import DataError

# The loader that reads each config format's files (synthetic data is written in the SMPD-Image layout).
LAYOUT = {"synthetic": "smpd_image", "smpd_image": "smpd_image", "smpd_video": "smpd_video", "table": "table"}


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
    tmp = root.with_name(f".{root.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    generate_smpd_image(tmp, progress=progress, **data.synthetic)
    tmp.replace(root)
    return root


def data_root(data: DataConfig, output: OutputConfig, progress: bool = True) -> Path | None:
    if data.format == "synthetic":
        return ensure_synthetic(data, output, progress)
    if data.format == "table":
        return None
    if not data.path:
        raise DataError("<config [data]>", "path", None, f"format {data.format!r} needs a data folder")
    root = Path(data.path)
    if not root.is_dir():
        raise DataError(root, None, str(root), "data folder not found")
    return root


def load_frame(data: DataConfig, output: OutputConfig, *, root: Path | None = None, progress: bool = True) -> pd.DataFrame:
    """Load the PostFrame the config describes; `root` overrides the data folder (as `smp predict --data` does)."""
    from .datasets import load_smpd_image, load_smpd_video, load_table, TableMapping

    layout = LAYOUT[data.format]
    if layout == "table":
        t = dict(data.table)
        train, test, mapping = t.pop("train", None), t.pop("test", None), t.pop("mapping", {})
        if t:
            raise DataError("<config [data.table]>", sorted(t)[0], None, "valid keys are train, test, mapping")
        if not train:
            raise DataError("<config [data.table]>", "train", None, "a table config needs a train file")
        if root is not None:  # predict: the new folder holds files of the same names
            train = str(Path(root) / Path(train).name)
            test = str(Path(root) / Path(test).name) if test else None
        return load_table(train, test, mapping=TableMapping.from_dict(mapping), label_range=data.label_range)
    root = Path(root) if root is not None else data_root(data, output, progress)
    loader = load_smpd_image if layout == "smpd_image" else load_smpd_video
    frame = loader(root, **{"label_range": data.label_range, **data.options})
    frame = absolute_media_paths(frame, root)
    frame.attrs["data_root"] = str(root)  # image generators resolve any remaining relative `image_path` against it
    return frame


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
