"""Shared reading and parsing helpers for the loaders; every failure is a `DataError` naming file, column, value."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from operator import itemgetter
from pathlib import Path

import numpy as np
import pandas as pd

from ._schema import DataError

# Tokens the challenge releases use for "no value" inside string-typed fields.
MISSING_TOKENS = frozenset({"", "None", "null", "nan", "NaN"})


def plain(value: object) -> object:
    """A numpy scalar as the Python value, so messages read `inf`, not `np.float64(inf)`."""
    return value.item() if isinstance(value, np.generic) else value


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

    strict=True raises a `DataError` on a value that is neither a number nor a missing token (used for the
    columns every model relies on); strict=False turns such values into NaN (profile side fields).
    """
    missing = missing_mask(values)
    obj = values.astype(object).where(~missing, None)
    parsed = pd.to_numeric(obj, errors="coerce").astype(float).to_numpy()
    if strict:
        bad = np.isnan(parsed) & ~missing
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataError(file, column, f"row {i}: {plain(values.iloc[i])!r}", "value must be a number or empty")
    return parsed


def to_optional_str(values: pd.Series) -> pd.Series:
    """Strings as an object column, with None where the value is missing."""
    return as_text(values).where(~missing_mask(values), None).astype(object)


def to_text(values: pd.Series) -> pd.Series:
    """Free text as an object column; only true nulls become "" (the literal text of a title is kept)."""
    obj = values.astype(object)
    return as_text(obj.where(obj.notna(), ""))


def to_utc_ns(times: pd.Series) -> pd.Series:
    """Normalise a datetime series to datetime64[ns, UTC] (pandas 3 infers s/us units from the input)."""
    if getattr(times.dt, "tz", None) is None:
        times = times.dt.tz_localize("UTC")
    return times.dt.tz_convert("UTC").dt.as_unit("ns")


def parse_epoch(values: pd.Series, file: Path | str, column: str, unit: str = "s") -> pd.Series:
    """Parse numeric epochs (numbers or numeric strings) to UTC times; any missing or bad value is an error."""
    missing = missing_mask(values)
    parsed = pd.to_numeric(values.astype(object).where(~missing, None), errors="coerce").astype(float)
    bad = parsed.isna().to_numpy() | ~np.isfinite(parsed.to_numpy())
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(
            file, column, f"row {i}: {plain(values.iloc[i])!r}", f"time must be a numeric epoch in unit {unit!r}"
        )
    return to_utc_ns(pd.to_datetime(parsed, unit=unit, utc=True))


def parse_datetime(values: pd.Series, file: Path | str, column: str, fmt: str | None = None) -> pd.Series:
    """Parse date-time strings (ISO 8601 unless `fmt`); naive times are taken as UTC; bad values are an error."""
    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(values.dtype):
        times = values
        bad = times.isna().to_numpy()
    else:
        missing = missing_mask(values)
        times = pd.to_datetime(
            values.astype(object).where(~missing, None), format=fmt or "ISO8601", utc=True, errors="coerce"
        )
        bad = times.isna().to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        rule = (
            f"time must match format {fmt!r}" if fmt else "time must be an ISO 8601 date-time like '2022-08-25 16:15'"
        )
        raise DataError(file, column, f"row {i}: {plain(values.iloc[i])!r}", rule)
    return to_utc_ns(times)


def parse_labels(
    values: Sequence[object] | pd.Series, file: Path | str, column: str, *, line_offset: int = 1
) -> np.ndarray:
    """Parse labels to floats; an unparsable or non-finite value raises naming its line (row + `line_offset`)."""
    series = pd.Series(values, dtype=object) if not isinstance(values, pd.Series) else values.astype(object)
    parsed = pd.to_numeric(series, errors="coerce").astype(float).to_numpy()
    bad = ~np.isfinite(parsed)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(
            file, column, f"line {i + line_offset}: {plain(series.iloc[i])!r}", "labels must be finite numbers"
        )
    return parsed


def read_lines(path: Path) -> list[str]:
    """Lines of a text file, stripped, without the empty lines a trailing newline leaves at the end."""
    lines = [line.strip() for line in require_file(path).read_text(encoding="utf-8").splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def read_json_table(path: Path) -> pd.DataFrame:
    """Read a JSON table: a list of records, or a dict column -> list / {row index: value} (some SMPD releases).

    Values stay as Python objects (mostly strings); the loaders parse them per column.
    """
    try:
        with require_file(path).open(encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise DataError(path, None, f"line {e.lineno} column {e.colno}", f"invalid JSON: {e.msg}") from e
    if isinstance(data, list):
        if data and not all(isinstance(r, dict) for r in data):
            bad = next(i for i, r in enumerate(data) if not isinstance(r, dict))
            raise DataError(path, None, f"record {bad}: {data[bad]!r}", "a list-shaped JSON table must hold objects")
        return _records_to_frame(data)
    if isinstance(data, dict):
        return _columns_to_frame(data, path)
    raise DataError(path, None, type(data).__name__, "JSON table must be a list of records or a dict of columns")


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


def read_jsonl(path: Path) -> pd.DataFrame:
    """Read a JSON-lines table (one object per line); a bad line raises naming its line number."""
    records = []
    with require_file(path).open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(path, None, f"line {lineno}: {line[:80]!r}", f"invalid JSON: {e.msg}") from e
            if not isinstance(record, dict):
                raise DataError(path, None, f"line {lineno}: {line[:80]!r}", "each line must be a JSON object")
            records.append(record)
    return _records_to_frame(records)


def check_unique(values: pd.Series, file: Path | str, column: str) -> None:
    """Raise a `DataError` naming the first duplicated id."""
    dup = values.duplicated()
    if dup.any():
        raise DataError(file, column, values[dup].iloc[0], "ids must be unique")


def dedupe_keyed(frame: pd.DataFrame, key: str, file: Path | str) -> pd.DataFrame:
    """Drop exact duplicate rows of a per-key side table; conflicting rows for one key are an error."""
    frame = frame.drop_duplicates()
    dup = frame[key].duplicated()
    if dup.any():
        raise DataError(file, key, frame.loc[dup, key].iloc[0], "one row per key (rows for this key disagree)")
    return frame
