"""The skeleton every release-folder loader (SMPD-Image, SMPD-Video) shares: read each split's tables, map them onto
canonical columns, join the optional side tables, then finalise the PostFrame."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from ._io import read_splits
from ._schema import DataError, finalize_postframe

Tables = dict[str, pd.DataFrame]


def load_release(
    root: str | Path,
    *,
    read_split: Callable[[Path, str, Tables | None], Tables],
    ids_file: Callable[[Path, str], Path],
    ids: tuple[str, str],
    build_split: Callable[[Path, str, Tables], pd.DataFrame],
    join_side_tables: Callable[[Path, pd.DataFrame], pd.DataFrame],
    train_posts: pd.DataFrame | None,
) -> pd.DataFrame:
    """Load a release folder as one canonical PostFrame.

    `read_split(root, split, train_tables)` reads and checks one split's tables (see `read_splits`; `ids` and
    `ids_file(root, split)` name the post-id column and its file), `build_split(root, split, tables)` maps them onto
    canonical columns, and `join_side_tables(root, frame)` adds the optional per-post or per-user tables. With
    `train_posts` (a fitted run's training posts, for `smp predict`) only `test/` is read, checked against them.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(root, None, str(root), "data folder does not exist")
    tables = read_splits(lambda split, train: read_split(root, split, train), lambda split: ids_file(root, split),
                         ids, train_posts)
    frame = pd.concat([build_split(root, split, t) for split, t in tables.items()], ignore_index=True)
    return finalize_postframe(join_side_tables(root, frame), root, train_posts)
