"""Loaders into the canonical PostFrame (see `_schema.py` for the column contract) and the synthetic generator.

`LOADERS` maps a folder-layout name to its loader (`load_dataset(name, root, **options)` dispatches on it);
generic CSV / Parquet tables go through `load_table` with a `TableMapping`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from ._schema import CORE_COLUMNS, DataError, finalize_postframe, validate_postframe
from .smpd_image import load_smpd_image
from .smpd_video import load_smpd_video
from .synthetic import generate_smpd_image
from .tabular import TableMapping, load_table

LOADERS: dict[str, Callable[..., pd.DataFrame]] = {
    "smpd_image": load_smpd_image,
    "smpd_video": load_smpd_video,
}


def load_dataset(name: str, root: str | Path, **options: object) -> pd.DataFrame:
    """Load the data folder `root` with the loader registered as `name` in `LOADERS`."""
    try:
        loader = LOADERS[name]
    except KeyError:
        raise KeyError(f"unknown dataset layout {name!r}; valid layouts: {sorted(LOADERS)}") from None
    return loader(root, **options)


__all__ = [
    "CORE_COLUMNS",
    "DataError",
    "LOADERS",
    "TableMapping",
    "finalize_postframe",
    "generate_smpd_image",
    "load_dataset",
    "load_smpd_image",
    "load_smpd_video",
    "load_table",
    "validate_postframe",
]
