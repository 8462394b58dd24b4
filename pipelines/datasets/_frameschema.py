"""The frame schema of a fitted run: each column of its training posts and the kind of values it holds.

New posts must have exactly these columns, each holding the same kind of values, before any fitted generator reads
them: a column they lack would become NaN on the new rows when they are stacked under the training posts, and a
column they add would be ignored, so either would change the numbers silently. `smp run` stores the schema in the run
folder (`schema.json`); `Predictor.predict`, `Predictor.fit` (test posts against training posts) and every test-only
load of `smp predict` check new posts with `_schema.check_frame_schema`, which raises the `DataError` for the problem
`schema_problem` finds here (this module imports nothing of the loaders, so `_schema` can import it).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

SCHEMA_FILE = "schema.json"
OPTIONAL_TEXT = ("category", "subcategory", "concept", "location", "language", "image_path")
# Kinds of the canonical columns (`_schema.CORE_COLUMNS`); user_* / meta_* columns are "number", "text" or "empty"
# (no value in any training post, so new posts may hold either kind).
CANONICAL_KINDS: dict[str, str] = {
    "post_id": "id", "user_id": "id", "post_time": "time", "title": "text", "tags": "tags", "description": "text",
    **{c: "optional_text" for c in OPTIONAL_TEXT},
    "latitude": "number", "longitude": "number", "geo_accuracy": "number", "label": "number", "split": "split",
}
KIND_WORDS = {"id": "ids (text)", "time": "UTC datetimes", "text": "text", "optional_text": "text or missing",
              "tags": "lists of texts", "number": "numbers", "split": "'train' / 'test'", "empty": "no values"}
# What Predictor.predict sets itself on new posts: their values are not read.
SET_ON_NEW_POSTS = ("label", "split")
# Canonical columns a mapping may leave out (smp.posts then fills the empty default), and the `attrs` key under which
# smp.posts lists those it left out: a column with values in the training posts but unmapped in the new posts would be
# empty for every new post, silently.
MAPPABLE = ("tags", "title", "description", *OPTIONAL_TEXT, "latitude", "longitude", "geo_accuracy")
UNMAPPED = "smp_unmapped_columns"
POSTS_HINT = "pass the table through smp.posts(df, mapping) (or smp.load) first"


def frame_schema(frame: pd.DataFrame) -> dict[str, str]:
    """Column -> kind of a PostFrame's columns, in its order; "empty" for one without any value."""
    out = {}
    for column in frame.columns:
        if column in MAPPABLE and not _has_values(frame[column]):
            out[column] = "empty"
        elif column in CANONICAL_KINDS:
            out[column] = CANONICAL_KINDS[column]
        elif not frame[column].notna().any():
            out[column] = "empty"
        else:
            out[column] = "number" if pd.api.types.is_numeric_dtype(frame[column].dtype) else "text"
    return out


def _has_values(values: pd.Series) -> bool:
    """Whether any value differs from the empty default smp.posts gives an unmapped column ("", [], missing)."""
    present = values.dropna().tolist()
    return any(not (v == "" if isinstance(v, str) else len(v) == 0 if isinstance(v, (list, tuple, np.ndarray))
                    else False) for v in present)


def require_postframe(frame: object, what: str) -> pd.DataFrame:
    """`frame` if it is a pandas DataFrame with the canonical columns of a PostFrame; a raw table (the source columns
    before `smp.posts` maps them) is a `ValueError` that says so, naming the columns it lacks."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{what}: expected a PostFrame (a pandas DataFrame from smp.posts), got {type(frame).__name__}")
    missing = [c for c in CANONICAL_KINDS if c not in frame.columns and c not in SET_ON_NEW_POSTS]
    if len(missing) > len(CANONICAL_KINDS) // 2:
        raise ValueError(f"{what}: not a PostFrame: it lacks the canonical columns {missing} (it has "
                         f"{sorted(map(str, frame.columns))[:20]}); {POSTS_HINT}")
    return frame


def schema_problem(frame: pd.DataFrame, schema: Mapping[str, str], skip: tuple[str, ...] = ()
                   ) -> tuple[str, object, str] | None:
    """(column, value, rule) of the first column of `frame` that the run's `schema` lacks, that `frame` lacks, that
    its mapping left out while the training posts have values in it, or whose values are not of the schema's kind
    (naming the row and value); None when `frame` matches. `skip`: columns not compared."""
    ours, theirs = [c for c in frame.columns if c not in skip], [c for c in schema if c not in skip]
    for column in theirs:
        if column not in frame.columns:
            return column, sorted(map(str, ours)), ("the run's training posts have this column but the new posts "
                                                    "lack it (a mapping entry, side table or field missing); new "
                                                    "posts' columns")
    for column in ours:
        if column not in schema:
            return column, sorted(theirs), ("the new posts have this column but the run's training posts lack it; "
                                            "training posts' columns")
    for column in frame.attrs.get(UNMAPPED, ()):
        if schema.get(column, "empty") != "empty" and column not in skip:
            return column, "no source column", ("the run's training posts have values in this column but the new "
                                                "posts' mapping maps no column to it (smp.posts left it empty for "
                                                "every new post); map it as for the training posts")
    for column in theirs:
        problem = _kind_problem(frame[column], schema[column])
        if problem is not None:
            return column, problem, f"values must be {KIND_WORDS[schema[column]]}, as in the run's training posts"
    return None


def _kind_problem(values: pd.Series, kind: str) -> str | None:
    """`row N: value` of the first value that is not of `kind` (a dtype when the whole column is the wrong type);
    None when every value fits."""
    if kind == "empty" or not len(values):
        return None
    if kind == "time":
        return None if isinstance(values.dtype, pd.DatetimeTZDtype) else f"dtype {values.dtype}"
    if kind == "number":
        if pd.api.types.is_bool_dtype(values.dtype):
            return f"dtype {values.dtype}"
        if pd.api.types.is_numeric_dtype(values.dtype) or not values.notna().any():
            return None
        return f"dtype {values.dtype}, e.g. {_first(values, lambda v: v is None)}"
    if kind in ("id", "text", "split"):
        if pd.api.types.infer_dtype(values, skipna=False) == "string":
            return None
        return _first(values, lambda v: isinstance(v, str))
    if kind == "optional_text":
        if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
            return None
        return _first(values, lambda v: v is None or isinstance(v, str) or (isinstance(v, float) and np.isnan(v)))
    if kind == "tags":
        return _first(values, lambda v: isinstance(v, (list, tuple, np.ndarray)) and all(isinstance(t, str) for t in v))
    # user_* / meta_* text: strings or missing values
    return _first(values, lambda v: v is None or isinstance(v, str) or (isinstance(v, float) and np.isnan(v)))


def _first(values: pd.Series, ok) -> str | None:
    for i, v in enumerate(values.tolist()):
        if not ok(v):
            return f"row {i + 1}: {v!r}"
    return None
