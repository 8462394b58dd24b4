"""Load posts from generic CSV / Parquet tables into a canonical PostFrame, driven by a column mapping.

Either two files (train with labels, test without) or one file with a split column ("train"/"test"; no split
column and no test file means every row is train). The file extension picks the reader: `.csv` / `.csv.gz`,
`.tsv`, `.parquet` / `.pq`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ._io import (
    NEW_POSTS_RULE,
    at,
    check_disjoint,
    check_unique,
    id_text,
    missing_mask,
    parse_datetime,
    parse_epoch,
    parse_labels,
    positioned,
    read_csv,
    require_columns,
    require_file,
    require_ids,
    require_same_columns,
    to_float,
    to_optional_str,
    to_text,
)
from ._frameschema import MAPPABLE, UNMAPPED
from ._schema import DEFAULT_LABEL_RANGE, SPLITS, DataError, finalize_postframe

TEXT_FIELDS = ("title", "description")
OPTIONAL_TEXT_FIELDS = ("category", "subcategory", "concept", "location", "language", "image_path")
FLOAT_FIELDS = ("latitude", "longitude", "geo_accuracy")
log = logging.getLogger("smp")
NUMERIC_SHARE = 0.9  # a user_/meta_ column with at least this share of numbers is numeric
# `attrs` key of a PostFrame whose rows are all new posts because the table lacks the mapping's label column: `fit`
# names that column when it finds no labelled post.
LABEL_SOURCE = "smp_missing_label_column"


@dataclass
class TableMapping:
    """Which source column feeds each canonical column (None: the source has none).

    `time_unit` ("s", "ms", ...) reads numeric epochs; otherwise times are parsed with `time_format` (ISO 8601
    when None; naive times are taken as UTC). `tags_sep=None` splits tags on whitespace; a list-valued column
    (Parquet) is used as is. `user_columns` / `meta_columns` are copied as `user_<name>` / `meta_<name>`
    (names already carrying the prefix are kept); numeric ones become float.

    A table without users: `user_id=None` (or the default `"user_id"` with no such column, which logs a warning).
    Every post is then its own user (its `user_id` is its `post_id`), and the automatic preset leaves every per-user
    feature out (no user posts twice).
    """

    post_id: str = "post_id"
    user_id: str | None = "user_id"
    post_time: str = "post_time"
    time_format: str | None = None
    time_unit: str | None = None
    title: str | None = None
    tags: str | None = None
    tags_sep: str | None = None
    description: str | None = None
    category: str | None = None
    subcategory: str | None = None
    concept: str | None = None
    location: str | None = None
    language: str | None = None
    latitude: str | None = None
    longitude: str | None = None
    geo_accuracy: str | None = None
    image_path: str | None = None
    label: str | None = "label"
    split: str | None = None
    user_columns: list[str] = field(default_factory=list)
    meta_columns: list[str] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> TableMapping:
        """Build from a config dict; an unknown key raises `ValueError` naming it and the valid keys."""
        valid = [f.name for f in dataclasses.fields(cls)]
        for key in data:
            if key not in valid:
                raise ValueError(f"unknown TableMapping key {key!r}; valid keys: {valid}")
        mapping = cls(**dict(data))
        for name in ("user_columns", "meta_columns"):
            value = getattr(mapping, name)
            if isinstance(value, str) or not all(isinstance(v, str) for v in value):
                raise TypeError(f"TableMapping.{name} must be a list of column names, but got {value!r}")
            setattr(mapping, name, list(value))
        for name in valid:
            value = getattr(mapping, name)
            if name not in ("user_columns", "meta_columns") and value is not None and not isinstance(value, str):
                raise TypeError(f"TableMapping.{name} must be a column name (str) or None, but got {value!r}")
            if value == "" or (isinstance(value, list) and "" in value):
                raise ValueError(f"TableMapping.{name} must name a column, but got an empty name ({value!r})")
        return mapping

    def source_columns(self, *, with_label: bool = True, with_split: bool = True) -> list[str]:
        """Source columns this mapping reads, in a stable order."""
        names = ["post_id", "user_id", "post_time", "tags", *TEXT_FIELDS, *OPTIONAL_TEXT_FIELDS, *FLOAT_FIELDS]
        if with_label:
            names.append("label")
        if with_split:
            names.append("split")
        cols = [getattr(self, n) for n in names if getattr(self, n) is not None]
        return list(dict.fromkeys([*cols, *self.user_columns, *self.meta_columns]))


def read_table(path: str | Path, *, id_columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read a CSV / TSV / Parquet file chosen by extension; `id_columns` are read as text (keeps "007").

    The index holds each row's 1-based position (`line N` of a CSV, whose header is line 1; `row N` of Parquet).
    An empty file, or a header without rows, is an error.
    """
    path = require_file(Path(path))
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".parquet", ".pq"):
        try:
            frame = positioned(pd.read_parquet(path), "row")
        except (OSError, ValueError) as e:  # pyarrow's ArrowInvalid is a ValueError
            raise DataError(path, None, type(e).__name__, f"unreadable Parquet file: {e}") from e
    else:
        sep = "\t" if ".tsv" in suffixes else "," if ".csv" in suffixes else None
        if sep is None:
            raise DataError(
                path, None, "".join(path.suffixes), "unsupported extension; use .csv, .csv.gz, .tsv or .parquet"
            )
        frame = read_csv(path, sep=sep, dtype={c: str for c in id_columns}, keep_default_na=False, na_values=[""])
    if frame.empty:
        raise DataError(path, None, f"columns {list(map(str, frame.columns))}", "file has no rows")
    return frame


def load_table(
    train_path: str | Path | None,
    test_path: str | Path | None = None,
    mapping: TableMapping | Mapping[str, object] | None = None,
    *,
    label_range: Sequence[float] = DEFAULT_LABEL_RANGE,
    train_posts: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Load one or two tables as a canonical PostFrame (see the module docstring for the two shapes).

    Train labels outside `label_range` are an error naming the file, line and value. `train_posts` (a fitted run's
    training posts, for `smp predict`): read only `test_path` (`train_path` is not read and may be None), checked
    against those posts: no post id of theirs, the same columns.
    """
    if mapping is None:
        mapping = TableMapping()
    elif not isinstance(mapping, TableMapping):
        mapping = TableMapping.from_dict(mapping)
    ids = tuple(c for c in (mapping.post_id, mapping.user_id) if c is not None)
    if train_posts is not None:
        if test_path is None:
            raise ValueError("a test-only load (train_posts given) needs the test table's path")
        test_path = Path(test_path)
        test = read_table(test_path, id_columns=ids)
        mapping = without_missing_users(mapping, test, test_path)
        require_columns(test, mapping.source_columns(with_label=False, with_split=False), test_path)
        test_ids = require_ids(test[mapping.post_id], test_path, mapping.post_id)
        check_unique(test_ids, test_path, mapping.post_id)
        check_disjoint(train_posts["post_id"], test_ids, test_path, mapping.post_id, NEW_POSTS_RULE)
        frame = _map(test, np.full(len(test), "test", dtype=object), mapping, test_path, label_range)
        return finalize_postframe(frame, test_path, train_posts)
    if train_path is None:
        raise ValueError("load_table needs the train table's path (or train_posts, for a test-only load)")
    train_path = Path(train_path)
    train = read_table(train_path, id_columns=ids)
    mapping = without_missing_users(mapping, train, train_path)
    if test_path is None:
        require_columns(train, mapping.source_columns(), train_path)
        if mapping.split is None:
            split = np.full(len(train), "train", dtype=object)
        else:
            split = to_text(train[mapping.split]).str.strip().str.lower().to_numpy(dtype=object)
            bad = ~np.isin(split, SPLITS)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise DataError(train_path, mapping.split, at(train[mapping.split], i), f"split must be one of {SPLITS}")
        check_unique(require_ids(train[mapping.post_id], train_path, mapping.post_id), train_path, mapping.post_id)
        frame = _map(train, split, mapping, train_path, label_range)
        return finalize_postframe(frame, train_path)

    test_path = Path(test_path)
    test = read_table(test_path, id_columns=ids)
    require_columns(train, mapping.source_columns(with_split=False), train_path)
    unlabelled = mapping.source_columns(with_label=False, with_split=False)
    require_same_columns(train, test, unlabelled, test_path)
    require_columns(test, unlabelled, test_path)
    for path, table in ((train_path, train), (test_path, test)):
        check_unique(require_ids(table[mapping.post_id], path, mapping.post_id), path, mapping.post_id)
    check_disjoint(require_ids(train[mapping.post_id], train_path, mapping.post_id),
                   require_ids(test[mapping.post_id], test_path, mapping.post_id), f"{train_path} and {test_path}",
                   mapping.post_id)
    parts = [
        _map(train, np.full(len(train), "train", dtype=object), mapping, train_path, label_range),
        _map(test, np.full(len(test), "test", dtype=object), mapping, test_path, label_range),
    ]
    return finalize_postframe(pd.concat(parts, ignore_index=True), f"{train_path} + {test_path}")


def posts_from_frame(table: pd.DataFrame, mapping: TableMapping | Mapping[str, object] | None = None, *,
                     split: str | None = None, source: str = "<DataFrame>",
                     label_range: Sequence[float] = DEFAULT_LABEL_RANGE) -> pd.DataFrame:
    """Map an in-memory table (a pandas DataFrame) onto a canonical PostFrame, as `load_table` maps a file.

    `split` ("train" / "test") labels every row; by default the mapping's split column decides, else rows are
    "train" when the table has the label column and "test" when it has none (new posts need no label).
    """
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"posts: expected a pandas DataFrame, got {type(table).__name__}")
    table = positioned(table.copy(), "row")  # errors name `row N`, 1-based, as in the DataFrame's order
    if mapping is None:
        mapping = TableMapping()
    elif not isinstance(mapping, TableMapping):
        mapping = TableMapping.from_dict(mapping)
    mapping = without_missing_users(mapping, table, source)
    has_label = mapping.label is not None and mapping.label in table.columns
    labels_from_table = split is None and mapping.split is None  # train or test by the label column alone
    if split is None and mapping.split is not None and mapping.split in table.columns:
        labels = to_text(table[mapping.split]).str.strip().str.lower().to_numpy(dtype=object)
        bad = ~np.isin(labels, SPLITS)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataError(source, mapping.split, at(table[mapping.split], i), f"split must be one of {SPLITS}")
    else:
        split = split or ("train" if has_label else "test")
        if split not in SPLITS:
            raise ValueError(f"posts: split must be one of {SPLITS} or None, got {split!r}")
        labels = np.full(len(table), split, dtype=object)
    need_label = bool((labels == "train").any())
    require_columns(table, mapping.source_columns(with_label=need_label, with_split=False), source)
    check_unique(require_ids(table[mapping.post_id], source, mapping.post_id), source, mapping.post_id)
    frame = finalize_postframe(_map(table, labels, mapping, source, label_range), source)
    if not has_label and mapping.label is not None and labels_from_table:
        frame.attrs[LABEL_SOURCE] = mapping.label
    frame.attrs[UNMAPPED] = [name for name in MAPPABLE if getattr(mapping, name) is None]
    return frame


def without_missing_users(mapping: TableMapping, table: pd.DataFrame, source) -> TableMapping:
    """`mapping` for a table without users when it keeps the default `user_id` column name and the table has no
    such column (a named column that is missing stays an error)."""
    if mapping.user_id == TableMapping.user_id and mapping.user_id not in table.columns:
        log.warning("%s: no column %r, so these posts have no users: per-user features are left out (map user_id "
                    "to the poster's column to use them, or user_id=None to say there is none)", source,
                    mapping.user_id)
        return dataclasses.replace(mapping, user_id=None)
    return mapping


def _map(
    table: pd.DataFrame, split: np.ndarray, m: TableMapping, path: Path, label_range: Sequence[float]
) -> pd.DataFrame:
    """Map one table's columns onto canonical ones; labels are parsed for train rows only.

    `table` keeps its file-position index, so every parser's error names the line.
    """
    n = len(table)
    post_ids = require_ids(table[m.post_id], path, m.post_id).to_numpy()
    out = pd.DataFrame(
        {
            "post_id": post_ids,
            "user_id": post_ids if m.user_id is None else require_ids(table[m.user_id], path, m.user_id).to_numpy(),
            "post_time": _times(table[m.post_time], m, path).array,
            "split": split,
        },
        index=pd.RangeIndex(n),
    )
    out["tags"] = _tags(table[m.tags], m.tags_sep, path, m.tags) if m.tags else [[] for _ in range(n)]
    for name in TEXT_FIELDS:
        col = getattr(m, name)
        out[name] = to_text(_require_flat(table[col], path, col)).to_numpy() if col else ""
    for name in OPTIONAL_TEXT_FIELDS:
        col = getattr(m, name)
        out[name] = to_optional_str(_require_flat(table[col], path, col)).to_numpy() if col else None
    for name in FLOAT_FIELDS:
        col = getattr(m, name)
        out[name] = to_float(table[col], path, col, strict=True) if col else np.nan
    label = np.full(n, np.nan)
    is_train = split == "train"
    if m.label is not None and m.label in table.columns and is_train.any():
        rows = np.flatnonzero(is_train)
        label[rows] = parse_labels(table[m.label].iloc[rows], path, m.label, label_range=label_range)
    out["label"] = label
    # Profile columns are built apart and joined once: thousands of single-column inserts fragment the frame.
    extra = {}
    for prefix, columns in (("user_", m.user_columns), ("meta_", m.meta_columns)):
        for col in columns:
            name = col if col.startswith(prefix) else f"{prefix}{col}"
            extra[name] = _numeric_or_text(table[col], path, col)
    return pd.concat([out, pd.DataFrame(extra, index=out.index)], axis=1) if extra else out


def _times(values: pd.Series, m: TableMapping, path: Path) -> pd.Series:
    if m.time_unit is not None:
        return parse_epoch(values, path, m.post_time, unit=m.time_unit)
    if pd.api.types.is_numeric_dtype(values.dtype):
        raise DataError(
            path, m.post_time, str(values.dtype), "numeric times need `time_unit` (e.g. 's') in the mapping"
        )
    return parse_datetime(values, path, m.post_time, m.time_format)


def _tags(values: pd.Series, sep: str | None, path: Path | str, column: str) -> list[list[str]]:
    """Tags from a delimited string (whitespace when `sep` is None), a number (a tag column pandas read as numbers)
    or a list-valued column (Parquet); a nested list, a table or a boolean raises naming its row."""
    out = []
    for i, v in enumerate(values.tolist()):
        if isinstance(v, str):
            tags = [t.strip() for t in (v.split(sep) if sep else v.split())]
        elif isinstance(v, (list, tuple, np.ndarray)):
            tags = [_tag_text(t) for t in v]
        else:
            tags = [_tag_text(v)]
        if any(t is None for t in tags):
            raise DataError(path, column, at(values, i), "tags must be text or numbers, or a list of them")
        out.append([t for t in tags if t.strip()])
    return out


def _tag_text(value: object) -> str | None:
    """A tag's text: a string, or a number as `id_text` spells it ("" for a missing value); None for a list, table
    or boolean."""
    if value is None or (isinstance(value, (float, np.floating)) and np.isnan(value)):
        return ""
    if isinstance(value, (float, np.floating)) and np.isfinite(value) and not float(value).is_integer():
        return str(float(value))
    return id_text(value)


def _require_flat(values: pd.Series, path: Path | str, column: str) -> pd.Series:
    """`values` unless one is a list or a table (a Parquet list or struct), which would become text like
    "{'n': 1}" silently; that one raises naming its row."""
    nested = values.astype(object).map(lambda v: isinstance(v, (list, tuple, dict, np.ndarray))).to_numpy()
    if nested.any():
        raise DataError(path, column, at(values, int(np.flatnonzero(nested)[0])),
                        "value must be a number or text, not a list or table")
    return values


def _numeric_or_text(values: pd.Series, path: Path, column: str) -> np.ndarray | pd.Series:
    """Numeric and boolean columns as float (finite, not absurdly large); anything else as text, None for missing.

    A column whose present values are mostly (90%) numbers is numeric, and its few non-numbers are an error naming
    the cell: one typo must not turn a follower count into a text column silently.
    """
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.astype(float).to_numpy()
    _require_flat(values, path, column)
    if pd.api.types.is_numeric_dtype(values.dtype):
        return to_float(values, path, column, strict=True)
    missing = missing_mask(values)
    parsed = pd.to_numeric(values.astype(object).where(~missing, None), errors="coerce").astype(float).to_numpy()
    present = int((~missing).sum())
    if present and (~np.isnan(parsed) & ~missing).sum() >= NUMERIC_SHARE * present:
        return to_float(values, path, column, strict=True)
    return to_optional_str(values).to_numpy()
