"""Loaders into the canonical PostFrame (see `_schema.py` for the column contract) and the synthetic generator.

`FORMATS` is the one table of data formats (config `[data] format`): each names what its folder holds and its
loader (`load_dataset(name, root, **options)` dispatches on it); generic CSV / Parquet tables go through
`load_table` with a `TableMapping`, in-memory DataFrames through `posts_from_frame`.

Every loader (and `load_table`) takes `train_posts=`: a fitted run's training posts, for `smp predict`. It then
reads only the test split (a folder may hold `test/` alone) and checks it against those posts where it would
check it against the train split: no post id of theirs, the same columns and side tables.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ._schema import CORE_COLUMNS, DataError, finalize_postframe, validate_postframe
from .smpd_image import load_smpd_image
from .smpd_video import load_smpd_video
from .synthetic import generate_smpd_image
from .tabular import TableMapping, load_table, posts_from_frame

@dataclass(frozen=True)
class DataFormat:
    """A `[data] format`: what its data is and the loader of its folder (None: `table`, read from its config); a
    loader takes `train_posts=` for a test-only load (see the module docstring)."""

    name: str
    files: str
    load: Callable[..., pd.DataFrame] | None
    generated: bool = False  # written by the synthetic generator first (into the cache), then loaded


FORMATS: dict[str, DataFormat] = {f.name: f for f in (
    DataFormat("synthetic", "a generated SMPD-Image set (official layout)", load_smpd_image, generated=True),
    DataFormat("smpd_image", "train/ and test/ folders of the official SMPD-Image JSON files (test/ alone to "
               "predict)", load_smpd_image),
    DataFormat("smpd_video", "train/ and test/ folders of the SMP-Video jsonl files, media/ optional "
               "(test/ alone to predict)",
               load_smpd_video),
    DataFormat("table", "CSV / Parquet tables named by [data.table] (train, test, mapping)", None),
    DataFormat("frame", "posts handed over in memory (smp.posts / smp.Predictor); nothing to load", None),
)}


def load_dataset(name: str, root: str | Path, **options: object) -> pd.DataFrame:
    """Load the data folder `root` in format `name` (see `FORMATS`); `options` go to its loader (`train_posts=`: only
    the test split, checked against a fitted run's training posts)."""
    if name not in FORMATS:
        raise KeyError(f"unknown data format {name!r}; valid formats: {sorted(FORMATS)}")
    fmt = FORMATS[name]
    if fmt.load is None:
        raise ValueError(f"format {name!r} reads tables, not a folder: use load_table / smp.posts")
    return fmt.load(root, **options)


__all__ = [
    "CORE_COLUMNS",
    "DataError",
    "DataFormat",
    "FORMATS",
    "TableMapping",
    "finalize_postframe",
    "generate_smpd_image",
    "load_dataset",
    "load_smpd_image",
    "load_smpd_video",
    "load_table",
    "posts_from_frame",
    "validate_postframe",
]
