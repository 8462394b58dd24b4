"""The canonical PostFrame: one row per post, train and test rows together, canonical column names.

Every loader maps its source onto these columns; everything downstream speaks only these names.

| column | type | meaning |
|---|---|---|
| post_id | str | unique post id (the submission's `post_id`) |
| user_id | str | poster id |
| post_time | datetime64[ns, UTC] | posting time |
| title | str | post title ("" when absent) |
| tags | list[str] | hashtags / tags (empty list when absent) |
| description | str | other free text of the post ("" when absent; SMPD-Video: suggested words) |
| category, subcategory, concept | str or missing | category levels (SMPD-Image); missing where the source has none |
| location | str or missing | place / country code (SMPD-Video `post_location`) |
| language | str or missing | text language code |
| latitude, longitude, geo_accuracy | float | geo tag (NaN when absent or 0/0 "no geo") |
| image_path | str or missing | path of the image / video file relative to the data folder (`load_frame` makes it absolute) |
| label | float | popularity on the log scale; NaN on test rows |
| split | str | "train" or "test" |
| user_* | float or str | user-profile columns (numeric ones are float; e.g. user_follower_count) |
| meta_* | float or str | other per-post source columns (e.g. meta_video_duration, meta_face_has_face) |

The ``user_*`` and ``meta_*`` families differ per source; generators that use them select by prefix.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from ._frameschema import frame_schema, require_postframe, schema_problem

CORE_COLUMNS: tuple[str, ...] = (
    "post_id",
    "user_id",
    "post_time",
    "title",
    "tags",
    "description",
    "category",
    "subcategory",
    "concept",
    "location",
    "language",
    "latitude",
    "longitude",
    "geo_accuracy",
    "image_path",
    "label",
    "split",
)
STRING_COLUMNS = ("post_id", "user_id", "title", "description")
OPTIONAL_STRING_COLUMNS = ("category", "subcategory", "concept", "location", "language", "image_path")
FLOAT_COLUMNS = ("latitude", "longitude", "geo_accuracy", "label")
SPLITS = ("train", "test")
# Plausible train labels (`[data].label_range`): SMP labels are log-scale popularity, about 1-17, so anything outside
# this is a corrupt value (1e300) or a label that is not on a log scale; a narrower range is one config line.
DEFAULT_LABEL_RANGE: tuple[float, float] = (-1e4, 1e4)


class DataError(ValueError):
    """Bad input data: the message names the file, the column and an offending value."""

    def __init__(self, file: str | Path, column: str | None, value: object, rule: str) -> None:
        self.file, self.column, self.value, self.rule = str(file), column, value, rule
        where = f"column {column!r}" if column else "file"
        super().__init__(f"{file}: {where}: {rule} (got {value!r})")


def empty_core(n: int) -> dict[str, object]:
    """Default values for every core column, for loaders whose source lacks some of them."""
    return {
        "title": [""] * n,
        "tags": [[] for _ in range(n)],
        "description": [""] * n,
        **{c: [None] * n for c in OPTIONAL_STRING_COLUMNS},
        **{c: np.full(n, np.nan) for c in FLOAT_COLUMNS},
    }


def finalize_postframe(frame: pd.DataFrame, source: str | Path,
                       train_posts: pd.DataFrame | None = None) -> pd.DataFrame:
    """Order and type the columns, then validate; `source` names the data in error messages. `train_posts` (a
    test-only load for a fitted run): the new posts must have the columns of the run's training posts."""
    missing = [c for c in CORE_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(source, missing[0], None, f"loader produced no canonical column(s) {missing}")
    extra = [c for c in frame.columns if c not in CORE_COLUMNS]
    bad_extra = [c for c in extra if not str(c).startswith(("user_", "meta_"))]
    if bad_extra:
        raise DataError(source, bad_extra[0], None, "non-canonical columns must start with 'user_' or 'meta_'")
    frame = frame.loc[:, list(CORE_COLUMNS) + sorted(extra)].reset_index(drop=True)
    for c in STRING_COLUMNS:
        frame[c] = frame[c].fillna("").astype(object).map(str)
    for c in OPTIONAL_STRING_COLUMNS:
        frame[c] = frame[c].astype(object).where(frame[c].notna(), None)
    for c in FLOAT_COLUMNS:
        frame[c] = pd.to_numeric(frame[c], errors="coerce").astype(float)
    frame["tags"] = frame["tags"].map(lambda v: [str(t) for t in v] if isinstance(v, (list, tuple, np.ndarray)) else [])
    validate_postframe(frame, source)
    if train_posts is not None:
        require_trained_columns(frame, train_posts, source)
    return frame


def require_trained_columns(frame: pd.DataFrame, train_posts: pd.DataFrame, source: str | Path) -> None:
    """New posts loaded without a train split must carry exactly the columns of the run's training posts, each
    holding the same kind of values: the run's frame schema (`_frameschema.py`), the check `Predictor.predict` makes."""
    check_frame_schema(frame, frame_schema(train_posts), source)


def check_frame_schema(frame: pd.DataFrame, schema: Mapping[str, str], source: str | Path, *,
                       skip: tuple[str, ...] = ()) -> None:
    """Raise a `DataError` naming the column, value and rule of the first way `frame` differs from the run's frame
    `schema` (`_frameschema.schema_problem`); a table that is not a PostFrame at all is a `ValueError` saying so."""
    require_postframe(frame, str(source))
    problem = schema_problem(frame, schema, skip)
    if problem is not None:
        raise DataError(source, *problem)


def validate_postframe(frame: pd.DataFrame, source: str | Path) -> None:
    """Check the invariants every consumer relies on; raise `DataError` naming source, column and value."""
    if frame["post_id"].eq("").any():
        raise DataError(source, "post_id", "", "post ids must be non-empty")
    dup = frame["post_id"].duplicated()
    if dup.any():
        raise DataError(source, "post_id", frame.loc[dup, "post_id"].iloc[0], "post ids must be unique")
    if frame["user_id"].eq("").any():
        raise DataError(source, "user_id", "", "user ids must be non-empty")
    if not isinstance(frame["post_time"].dtype, pd.DatetimeTZDtype):
        raise DataError(source, "post_time", str(frame["post_time"].dtype), "post_time must be a UTC datetime")
    if frame["post_time"].isna().any():
        row = frame.loc[frame["post_time"].isna(), "post_id"].iloc[0]
        raise DataError(source, "post_time", f"missing for post {row}", "every post needs a time")
    bad_split = ~frame["split"].isin(SPLITS)
    if bad_split.any():
        raise DataError(source, "split", frame.loc[bad_split, "split"].iloc[0], f"split must be one of {SPLITS}")
    train = frame["split"].eq("train")
    lab = frame.loc[train, "label"].to_numpy()
    if (~np.isfinite(lab)).any():
        i = np.flatnonzero(~np.isfinite(lab))[0]
        raise DataError(
            source, "label", f"{lab[i]} for post {frame.loc[train, 'post_id'].iloc[i]}", "train labels must be finite"
        )
