"""Shared reading and parsing helpers for the loaders; every failure is a `DataError` naming file, column, value.

Where a value sits is given one way everywhere, 1-based as an editor shows it: `line N` of a JSON-lines, CSV or
text file (a CSV's header is line 1), `record N` of a JSON list or dict table, `row N` of a Parquet file. Readers
put that number in the frame's index (named "line", "record" or "row"), so every parser can name it.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from operator import itemgetter
from pathlib import Path

import numpy as np
import pandas as pd

from ._schema import DEFAULT_LABEL_RANGE, SPLITS, DataError

log = logging.getLogger("smp")

# Tokens the challenge releases use for "no value" inside string-typed fields.
MISSING_TOKENS = frozenset({"", "None", "null", "nan", "NaN"})
# No real count or measurement comes near this; a larger value is a corrupt or overflowed field (1e300, 1e20).
MAX_ABS_VALUE = 1e15
POSITION_NAMES = ("line", "record", "row")


def plain(value: object) -> object:
    """A numpy scalar as the Python value, so messages read `inf`, not `np.float64(inf)`."""
    return value.item() if isinstance(value, np.generic) else value


def row_label(values: pd.Series, i: int) -> str:
    """Where the `i`-th value (by position) sits in its file: `line 7`, `record 3` or `row 12`, 1-based."""
    name = values.index.name
    if name in POSITION_NAMES:
        return f"{name} {values.index[i]}"
    return f"row {i + 1}"


def at(values: pd.Series, i: int) -> str:
    """`line 7: '1e300'`: the position and the raw value, for a DataError's value."""
    return f"{row_label(values, i)}: {plain(values.iloc[i])!r}"


def positioned(frame: pd.DataFrame, name: str, first: int = 1) -> pd.DataFrame:
    """`frame` with its index set to 1-based file positions (`name` is line / record / row)."""
    frame.index = pd.RangeIndex(first, first + len(frame), name=name)
    return frame


def decode_utf8(data: bytes, path: Path | str) -> str:
    """`data` as text; bytes that are not UTF-8 raise a `DataError` naming the file, line, column and byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise DataError(path, None, f"line {line}, column {column}: byte {data[e.start]:#04x}",
                        "file must be UTF-8 text") from None


def read_text(path: Path) -> str:
    """A required UTF-8 text file's contents (gunzipped when it ends in .gz); an empty file is an error."""
    data = require_file(path).read_bytes()
    if path.suffix.lower() == ".gz":
        import gzip
        import zlib

        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(path, None, type(e).__name__, f"unreadable gzip file: {e}") from e
    text = decode_utf8(data, path)
    if not text.strip():
        raise DataError(path, None, f"{len(text)} bytes", "file is empty")
    return text


def require_file(path: Path) -> Path:
    """Return `path` if it is a file, else raise a `DataError` naming it."""
    if not path.is_file():
        raise DataError(path, None, str(path), "required file is missing")
    return path


def require_columns(frame: pd.DataFrame, columns: Iterable[str], file: Path | str) -> None:
    """Raise a `DataError` naming the first of `columns` that `frame` (read from `file`) lacks."""
    for column in columns:
        if column not in frame.columns:
            raise DataError(
                file, column, sorted(map(str, frame.columns)), "required column is missing; available columns"
            )


def require_same_columns(train: pd.DataFrame, test: pd.DataFrame, used: Iterable[str], test_file: Path | str) -> None:
    """Raise if the test table lacks a column that the train table has and the loader uses."""
    for column in used:
        if column in train.columns and column not in test.columns:
            raise DataError(
                test_file,
                column,
                sorted(map(str, test.columns)),
                "train has this column but the test file lacks it; test columns",
            )


def id_text(value: object) -> str | None:
    """The one spelling of an id (or tag) value: text as written ("007" stays), an integer or an integral float as
    its decimal digits (13389 and 13389.0, which pandas gives a numeric column with a gap, are one id); None for
    anything else (a boolean, a fraction, NaN, a list, array or table)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)) and np.isfinite(value) and float(value).is_integer():
        return str(int(value))
    return None


def require_ids(values: pd.Series, file: Path | str, column: str) -> pd.Series:
    """Ids as text, normalised by `id_text`; a missing (null, "", "None"), boolean, fractional, list, array or table
    id (a Parquet struct) raises naming its position."""
    obj = values.astype(object)
    if pd.api.types.infer_dtype(obj, skipna=False) == "string":  # the common case, without a per-value pass
        text, bad = obj, missing_mask(obj)
    else:
        text = obj.map(id_text)
        bad = missing_mask(obj) | text.isna().to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(file, column, at(values, i), "ids must be non-empty strings or integers")
    return text.astype(object)


def require_text(values: pd.Series, file: Path | str, column: str, *, lists: bool = False) -> pd.Series:
    """A text field must hold text (or a number, read as its text) or nothing; a boolean, table or (unless `lists`,
    for list-valued fields) array is a wrong type, which would otherwise become text like "[1, 2]" silently."""
    kinds = (bool, dict) if lists else (bool, dict, list)
    bad = values.astype(object).map(lambda v: isinstance(v, kinds)).to_numpy()
    if lists:
        bad = bad | values.astype(object).map(lambda v: isinstance(v, list) and not all(isinstance(x, str) for x in v)).to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        rule = "value must be text, a list of texts or empty" if lists else "value must be text or empty"
        raise DataError(file, column, at(values, i), rule)
    return values


def missing_mask(values: pd.Series) -> np.ndarray:
    """True where a value is absent: None/NaN or one of the string tokens in `MISSING_TOKENS`."""
    obj = values.astype(object)
    return (obj.isna() | obj.isin(MISSING_TOKENS)).to_numpy()


def as_text(values: pd.Series) -> pd.Series:
    """Values as an object Series of str (numbers from JSON become their text); skips the per-value pass when
    everything already is a string, which matters at 300k rows."""
    obj = values.astype(object)
    if pd.api.types.infer_dtype(obj, skipna=False) == "string":
        return obj
    return obj.map(lambda v: v if isinstance(v, str) else str(v)).astype(object)


def to_float(values: pd.Series, file: Path | str, column: str, *, strict: bool) -> np.ndarray:
    """Parse numbers (strings like "1", "0.5", "None"); missing tokens give NaN.

    strict=True raises a `DataError` on a value that is not a plausible number: text, a boolean, an array, inf, or a
    magnitude above `MAX_ABS_VALUE` (used for the columns every model relies on); strict=False turns text into NaN
    (profile side fields of the releases, which hold "None", "" and the like) but still refuses inf and absurd
    magnitudes, which no release holds.
    """
    missing = missing_mask(values)
    obj = values.astype(object).where(~missing, None)
    not_scalar = obj.map(lambda v: isinstance(v, (bool, list, dict, tuple))).to_numpy()
    parsed = pd.to_numeric(obj.where(~not_scalar, None), errors="coerce").astype(float).to_numpy(copy=True)
    if strict:
        bad = (np.isnan(parsed) & ~missing) | not_scalar
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataError(file, column, at(values, i), "value must be a number or empty")
    else:
        parsed[not_scalar] = np.nan
    absurd = np.isinf(parsed) | (np.abs(np.nan_to_num(parsed)) > MAX_ABS_VALUE)
    if absurd.any():
        i = int(np.flatnonzero(absurd)[0])
        raise DataError(file, column, at(values, i), f"value must be finite and within +-{MAX_ABS_VALUE:.0e}")
    return parsed


def check_counts(parsed: np.ndarray, values: pd.Series, file: Path | str, column: str) -> None:
    """Counts (followers, likes, views, sizes, durations) must be >= 0; NaN (missing) is allowed."""
    bad = parsed < 0
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(file, column, at(values, i), "counts must be non-negative")


def to_optional_str(values: pd.Series) -> pd.Series:
    """Strings as an object column, with None where the value is missing."""
    return as_text(values).where(~missing_mask(values), None).astype(object)


def to_text(values: pd.Series) -> pd.Series:
    """Free text as an object column; only true nulls become "" (the literal text of a title is kept)."""
    obj = values.astype(object)
    return as_text(obj.where(obj.notna(), ""))


# The times a PostFrame can hold (datetime64[ns]: pandas' nanosecond range, about 1677-09-22 to 2262-04-11), in whole
# years: a later or earlier time is a corrupt value (a year 2999, an epoch in the wrong unit), named by `utc_times`.
TIME_RANGE = (pd.Timestamp("1678-01-01", tz="UTC"), pd.Timestamp("2261-12-31", tz="UTC"))
TIME_RANGE_RULE = "time must lie between 1678 and 2261 (the nanosecond times pandas holds)"


def utc_times(times: pd.Series, values: pd.Series, file: Path | str, column: str) -> pd.Series:
    """Parsed `times` as datetime64[ns, UTC] (naive ones taken as UTC); a time outside `TIME_RANGE` raises naming
    the file, column, row and raw value of `values` (what was parsed, in the same order)."""
    if getattr(times.dt, "tz", None) is None:
        times = times.dt.tz_localize("UTC")
    times = times.dt.tz_convert("UTC")
    outside = ((times < TIME_RANGE[0]) | (times > TIME_RANGE[1])).to_numpy()
    if outside.any():
        raise DataError(file, column, at(values, int(np.flatnonzero(outside)[0])), TIME_RANGE_RULE)
    return times.dt.as_unit("ns")


def parse_epoch(values: pd.Series, file: Path | str, column: str, unit: str = "s") -> pd.Series:
    """Parse numeric epochs (numbers or numeric strings) to UTC times; any missing or bad value is an error."""
    missing = missing_mask(values)
    parsed = pd.to_numeric(values.astype(object).where(~missing, None), errors="coerce").astype(float)
    bad = parsed.isna().to_numpy() | ~np.isfinite(parsed.to_numpy())
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(file, column, at(values, i), f"time must be a numeric epoch in unit {unit!r}")
    # Out of range before converting: pandas' own error for a huge epoch names no row.
    ns = parsed.to_numpy() * pd.Timedelta(1, unit=unit).value
    outside = (ns < TIME_RANGE[0].value) | (ns > TIME_RANGE[1].value)
    if outside.any():
        raise DataError(file, column, at(values, int(np.flatnonzero(outside)[0])), f"{TIME_RANGE_RULE}; as an "
                        f"epoch in unit {unit!r}")
    return utc_times(pd.to_datetime(parsed, unit=unit, utc=True), values, file, column)


def parse_datetime(values: pd.Series, file: Path | str, column: str, fmt: str | None = None) -> pd.Series:
    """Parse date-time strings (ISO 8601 unless `fmt`); naive times are taken as UTC; a bad or out-of-range value is
    an error naming its row."""
    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(values.dtype):
        times = values
        bad = times.isna().to_numpy()
    else:
        missing = missing_mask(values)
        # Only text is a date-time here: pandas would read a bare number as an epoch of some unit, silently.
        text = values.astype(object).map(lambda v: v if isinstance(v, str) else None).where(~missing, None)
        times = pd.to_datetime(text, format=fmt or "ISO8601", utc=True, errors="coerce")
        bad = times.isna().to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        rule = (
            f"time must match format {fmt!r}" if fmt else "time must be an ISO 8601 date-time like '2022-08-25 16:15'"
        )
        raise DataError(file, column, at(values, i), rule)
    return utc_times(times, values, file, column)


def parse_labels(
    values: Sequence[object] | pd.Series,
    file: Path | str,
    column: str,
    *,
    label_range: Sequence[float] = DEFAULT_LABEL_RANGE,
) -> np.ndarray:
    """Parse labels to floats; a value that is not a finite number within `label_range` raises naming its position.

    A plain sequence is taken as the lines of a text file (position i is line i + 1).
    """
    if isinstance(values, pd.Series):
        series = values.astype(object)
    else:
        series = pd.Series(list(values), dtype=object, index=pd.RangeIndex(1, len(values) + 1, name="line"))
    not_scalar = series.map(lambda v: isinstance(v, (bool, list, dict, tuple))).to_numpy()
    parsed = pd.to_numeric(series.where(~not_scalar, None), errors="coerce").astype(float).to_numpy()
    bad = ~np.isfinite(parsed) | not_scalar
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(file, column, at(series, i), "labels must be finite numbers")
    low, high = label_range
    out = (parsed < low) | (parsed > high)
    if out.any():
        i = int(np.flatnonzero(out)[0])
        raise DataError(file, column, at(series, i),
                        f"labels must lie in the plausible range [{low:g}, {high:g}] ([data].label_range; SMP labels "
                        "are log-scale popularity, about 1-17)")
    return parsed


def read_lines(path: Path) -> list[str]:
    """Lines of a text file, stripped, without the empty lines a trailing newline leaves at the end."""
    lines = [line.strip() for line in read_text(path).splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _no_duplicate_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """`json` keeps the last of two equal keys silently; a record that says two things is an error."""
    out: dict[str, object] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")  # NaN / Infinity: Python's json accepts them, JSON does not


def _loads(text: str) -> object:
    return json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constant)


def read_json_table(path: Path) -> pd.DataFrame:
    """Read a JSON table: a list of records, or a dict column -> list / {row index: value} (some SMPD releases).

    Values stay as Python objects (mostly strings); the loaders parse them per column. The index holds each
    record's 1-based position (`record N`).
    """
    text = read_text(path)
    try:
        data = _loads(text)
    except json.JSONDecodeError as e:
        raise DataError(path, None, f"line {e.lineno} column {e.colno}", f"invalid JSON: {e.msg}") from e
    except ValueError as e:
        raise DataError(path, None, str(e), "invalid JSON") from e
    if isinstance(data, list):
        if data and not all(isinstance(r, dict) for r in data):
            bad = next(i for i, r in enumerate(data) if not isinstance(r, dict))
            raise DataError(path, None, f"record {bad + 1}: {data[bad]!r}", "a list-shaped JSON table must hold objects")
        frame = _records_to_frame(data)
    elif isinstance(data, dict):
        frame = _columns_to_frame(data, path)
    else:
        raise DataError(path, None, type(data).__name__, "JSON table must be a list of records or a dict of columns")
    if frame.empty:
        raise DataError(path, None, "no records", "file is empty")
    return positioned(frame, "record")


def _records_to_frame(records: list[dict[str, object]]) -> pd.DataFrame:
    """Object columns from a list of records (no str inference: the loaders parse each column themselves)."""
    if not records:
        return pd.DataFrame()
    keys = list(records[0])
    try:
        # Fast path: every record has exactly the first record's keys (same count, all present).
        if set(map(len, records)) != {len(keys)}:
            raise KeyError(keys)
        get = itemgetter(*keys) if len(keys) > 1 else (lambda r: (r[keys[0]],))
        columns = list(zip(*map(get, records)))
    except KeyError:
        keys = list(dict.fromkeys(k for r in records for k in r))
        columns = [[r.get(k) for r in records] for k in keys]
    return pd.DataFrame({k: pd.Series(list(col), dtype=object) for k, col in zip(keys, columns)})


def _columns_to_frame(data: dict[str, object], path: Path) -> pd.DataFrame:
    """Build a frame from a dict of columns; index-keyed columns are ordered by their (numeric) row keys."""
    columns: dict[str, list[object]] = {}
    keys: list[str] | None = None
    n: int | None = None
    for name, col in data.items():
        if isinstance(col, dict):
            if keys is None:
                keys = list(col)
                if all(isinstance(k, str) and k.lstrip("-").isdigit() for k in keys):
                    keys = sorted(keys, key=int)
            if len(col) != len(keys) or any(k not in col for k in keys):
                extra = next((k for k in col if k not in set(keys)), None)
                raise DataError(
                    path,
                    name,
                    f"{len(col)} rows (e.g. key {extra!r})",
                    f"every column must have the same {len(keys)} row keys",
                )
            values = [col[k] for k in keys]
        elif isinstance(col, list):
            values = col
        else:
            raise DataError(
                path, name, type(col).__name__, "a dict-shaped JSON table must map columns to lists or dicts"
            )
        if n is not None and len(values) != n:
            raise DataError(path, name, f"{len(values)} values", f"every column must have the same length ({n})")
        n = len(values)
        columns[name] = pd.Series(values, dtype=object)
    return pd.DataFrame(columns)


def read_jsonl(path: Path, *, required: Iterable[str] = ()) -> pd.DataFrame:
    """Read a JSON-lines table (one object per line); the index is each record's 1-based line number.

    A line that is not UTF-8, not strict JSON (NaN / Infinity, a duplicated key), not an object, or that lacks a
    `required` field which other lines have raises naming its line; so does a file with no records.
    """
    records, lines = [], []
    with require_file(path).open("rb") as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise DataError(path, None, f"line {lineno}, column {e.start + 1}: byte {raw[e.start]:#04x}",
                                "file must be UTF-8 text") from None
            if not line.strip():
                continue
            try:
                record = _loads(line)
            except json.JSONDecodeError as e:
                raise DataError(path, None, f"line {lineno}: {line[:80]!r}", f"invalid JSON: {e.msg}") from e
            except ValueError as e:
                raise DataError(path, None, f"line {lineno}: {line[:80]!r}", f"invalid JSON: {e}") from e
            if not isinstance(record, dict):
                raise DataError(path, None, f"line {lineno}: {line[:80]!r}", "each line must be a JSON object")
            records.append(record)
            lines.append(lineno)
    if not records:
        raise DataError(path, None, "no records", "file is empty")
    frame = _records_to_frame(records)
    present = set(frame.columns)
    for field in required:
        if field in present:
            lacking = next((n for r, n in zip(records, lines) if field not in r), None)
            if lacking is not None:
                raise DataError(path, field, f"line {lacking}", "field is missing from this line (other lines have it)")
    frame.index = pd.Index(lines, name="line")
    return frame


def read_csv(path: Path, **kwargs: object) -> pd.DataFrame:
    """Read a CSV / TSV file (UTF-8; `kwargs` go to `pd.read_csv`); the index is each row's 1-based line number.

    A file that is empty, not UTF-8, or has a row with more or fewer fields than its header (a truncated or
    shifted row, which pandas would pad with NaN silently) raises naming the file and line.
    """
    text = read_text(path)
    sep = str(kwargs.get("sep", ","))
    starts, width, end = [], None, 0
    try:
        reader = csv.reader(io.StringIO(text), delimiter=sep, strict=True)
        for fields in reader:
            begin, end = end + 1, reader.line_num
            if not fields:
                continue
            if width is None:
                width = len(fields)
                dup = next((f for i, f in enumerate(fields) if f in fields[:i]), None)
                if dup is not None:  # pandas would rename the second one "name.1" silently
                    raise DataError(path, dup, f"line {begin}", "column names in the header must be unique")
                continue
            if len(fields) != width:
                raise DataError(path, None, f"line {begin}: {len(fields)} fields",
                                f"every row must have the header's {width} fields")
            starts.append(begin)
    except csv.Error as e:
        raise DataError(path, None, f"line {reader.line_num}", f"invalid CSV: {e}") from e
    try:
        frame = pd.read_csv(io.StringIO(text), **kwargs)
    except (ValueError, pd.errors.ParserError) as e:
        raise DataError(path, None, type(e).__name__, f"unreadable CSV: {e}") from e
    if len(frame) == len(starts):
        frame.index = pd.Index(starts, name="line")
    else:  # quoted newlines the csv module and pandas count differently: fall back to data rows, 1-based
        frame = positioned(frame, "row")
    return frame


# The rules `check_disjoint` states: a folder's own two splits, or new posts against a fitted run's training posts.
DISJOINT_RULE = "a post id must not appear in both train and test"
NEW_POSTS_RULE = "a post id of the new posts must not be one of the run's training posts (predict only unseen posts)"


def check_disjoint(train_ids: pd.Series, test_ids: pd.Series, file: Path | str, column: str,
                   rule: str = DISJOINT_RULE) -> None:
    """Raise a `DataError` naming the first test id (in the test file's order, with its position) that is also a
    train id: a post scored while its own label is in the training rows would leak."""
    shared = test_ids.isin(set(train_ids)).to_numpy()
    if shared.any():
        raise DataError(file, column, at(test_ids, int(np.flatnonzero(shared)[0])), rule)


def read_splits(
    read_split: Callable[[str, dict[str, pd.DataFrame] | None], dict[str, pd.DataFrame]],
    ids_file: Callable[[str], Path],
    ids: tuple[str, str],
    train_posts: pd.DataFrame | None,
) -> dict[str, dict[str, pd.DataFrame]]:
    """Each split's tables of a release folder, by `read_split(split, train_tables)` (None for train itself, or in a
    test-only load); then no test post id may be a train post id.

    `ids` is (table, column) of the post ids, `ids_file(split)` that table's file. With `train_posts` (a fitted run's
    training posts) only the test split is read and its ids are checked against theirs: the folder needs no train/.
    """
    tables: dict[str, dict[str, pd.DataFrame]] = {}
    for split in SPLITS if train_posts is None else ("test",):
        tables[split] = read_split(split, tables.get("train"))
    table, column = ids
    test_ids = tables["test"][table][column]
    if train_posts is None:
        check_disjoint(tables["train"][table][column], test_ids, f"{ids_file('train')} and {ids_file('test')}", column)
    else:
        check_disjoint(train_posts["post_id"], test_ids, ids_file("test"), column, NEW_POSTS_RULE)
    return tables


def side_table_in_use(path: Path, trained: bool, columns: str) -> bool:
    """Whether a test-only load joins the optional side table `path`: it must exist exactly when the run's training
    posts carry its `columns` (e.g. "meta_face_*"), else the new posts would lack columns the models read, or carry
    ones they never saw, silently."""
    present = path.is_file()
    if trained and not present:
        raise DataError(path, None, str(path),
                        f"required file is missing: the run's training posts carry its {columns} columns")
    if present and not trained:
        raise DataError(path, None, str(path), f"the run's training posts have no {columns} columns (it was trained "
                        "without this side table); remove the file or fit a run with it")
    return present


def check_unique(values: pd.Series, file: Path | str, column: str) -> None:
    """Raise a `DataError` naming the first duplicated id (and its positions, when the index holds them)."""
    dup = values.duplicated()
    if dup.any():
        value = values[dup].iloc[0]
        if values.index.name in POSITION_NAMES:
            where = [str(values.index[i]) for i in np.flatnonzero(values.eq(value).to_numpy())[:2]]
            raise DataError(file, column, value, f"ids must be unique ({values.index.name}s {' and '.join(where)})")
        raise DataError(file, column, value, "ids must be unique")


def dedupe_keyed(frame: pd.DataFrame, key: str, file: Path | str) -> pd.DataFrame:
    """Drop exact duplicate rows of a per-key side table; conflicting rows for one key are an error."""
    frame = frame.drop_duplicates()
    dup = frame[key].duplicated()
    if dup.any():
        raise DataError(file, key, frame.loc[dup, key].iloc[0], "one row per key (rows for this key disagree)")
    return frame
