"""Load the SMP Challenge video track (SMPD-Video, TikTok) release into a canonical PostFrame.

Layout: `root/{train,test}/SMP-Video_anonymized_{posts,videos,users,popularity}_{split}.jsonl` (popularity only
for train; users is one row per user, joined on uid) and optional third-party media statistics
`root/media/{train,test}_{face,audio}.csv` keyed by pid.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ._io import (
    at,
    check_counts,
    check_unique,
    dedupe_keyed,
    missing_mask,
    parse_datetime,
    parse_labels,
    read_csv,
    read_jsonl,
    require_columns,
    require_file,
    require_ids,
    require_same_columns,
    require_text,
    side_table_in_use,
    to_float,
    to_optional_str,
    to_text,
)
from ._release import load_release
from ._schema import DEFAULT_LABEL_RANGE, DataError

log = logging.getLogger("smp")

POST_FIELDS = (
    "pid",
    "uid",
    "post_content",
    "post_location",
    "post_suggested_words",
    "post_text_language",
    "video_path",
    "post_time",
)
USER_FIELDS = (
    "user_following_count",
    "user_follower_count",
    "user_likes_count",
    "user_video_count",
    "user_digg_count",
    "user_heart_count",
    "user_friend_count",
)
# videos table field -> (canonical column, numeric?)
VIDEO_FIELDS: dict[str, tuple[str, bool]] = {
    "video_height": ("meta_video_height", True),
    "video_width": ("meta_video_width", True),
    "video_duration": ("meta_video_duration", True),
    "video_ratio": ("meta_video_ratio", False),
    "video_format": ("meta_video_format", False),
    "music_title": ("meta_music_title", False),
    "music_duration": ("meta_music_duration", True),
}
# Media side-table columns kept as text; every other column is parsed as a number.
MEDIA_TEXT = {"face": ("dominant_emotion", "emotion_distribution"), "audio": ("emotion_label",)}
MEDIA_KEYS = {"face": ("pid",), "audio": ("pid", "vid")}
# The ids each table is joined on (other id fields of a table, such as the videos' uid, are not read).
ID_FIELDS = {"posts": ("pid", "uid"), "videos": ("pid",), "users": ("uid",), "popularity": ("pid",)}
# Text fields of each table (read as text or missing; a boolean, table or array there is a wrong type).
TEXT_FIELDS = {
    "posts": ("post_content", "post_location", "post_text_language", "video_path", "post_time"),
    "videos": ("video_ratio", "video_format", "music_title"),
}
SPLITS = ("train", "test")
# The release stores these per-user totals as signed 32-bit integers: a total above 2^31 - 1 (a few of the biggest
# accounts, e.g. -984901888 for 3,310,065,408 likes) wrapped around to a negative number. `user_heart_count` is the
# same total under another name (equal to `user_likes_count` on every row of the 2025 release).
OVERFLOWED_INT32 = ("user_likes_count", "user_heart_count")


def table_path(root: Path, split: str, table: str) -> Path:
    """Path of one release table, e.g. `train/SMP-Video_anonymized_posts_train.jsonl`."""
    return root / split / f"SMP-Video_anonymized_{table}_{split}.jsonl"


def load_smpd_video(
    root: str | Path,
    *,
    media: bool = True,
    label_range: Sequence[float] = DEFAULT_LABEL_RANGE,
    train_posts: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Load train and test posts of an SMPD-Video folder as one canonical PostFrame.

    `media=True` joins `media/{split}_{face,audio}.csv` when present (as `meta_face_*` / `meta_audio_*`);
    a side table present for one split must be present, with the same columns, for the other. Train labels
    outside `label_range` are an error; negative likes / hearts (a 32-bit overflow in the release) are repaired
    and reported; posts without a users or videos row are counted in a warning.

    `train_posts` (a fitted run's training posts, for `smp predict`): load only `test/` (and `media/test_*.csv`),
    checked against those posts instead of a train split: no post id of theirs, the same columns and media tables.
    """
    def join_media(root: Path, frame: pd.DataFrame) -> pd.DataFrame:
        for kind in ("face", "audio") if media else ():
            frame = _join_media(root, frame, kind, train_posts)
        return frame

    return load_release(root, read_split=_read_tables, ids_file=lambda root, split: table_path(root, split, "posts"),
                        ids=("posts", "pid"),
                        build_split=lambda root, split, tables: _build_split(root, split, tables, label_range),
                        join_side_tables=join_media, train_posts=train_posts)


def _read_tables(root: Path, split: str, train: dict[str, pd.DataFrame] | None) -> dict[str, pd.DataFrame]:
    """Read and check one split's tables: required fields (train) or train/test column parity (test), unique keys."""
    names = ("posts", "videos", "users", "popularity") if split == "train" else ("posts", "videos", "users")
    required = {
        "posts": POST_FIELDS,
        "videos": ("pid", *VIDEO_FIELDS),
        "users": ("uid", *USER_FIELDS),
        "popularity": ("pid", "popularity"),
    }
    tables = {}
    for name in names:
        path = table_path(root, split, name)
        frame = read_jsonl(path, required=required[name])
        if train is not None:
            require_same_columns(train[name], frame, required[name], path)
        require_columns(frame, required[name], path)
        for key in ID_FIELDS[name]:
            frame[key] = require_ids(frame[key], path, key)
        for field in TEXT_FIELDS.get(name, ()):
            require_text(frame[field], path, field)
        if name == "posts":
            require_text(frame["post_suggested_words"], path, "post_suggested_words", lists=True)
        key = "uid" if name == "users" else "pid"
        # Numbers are parsed here so an error names the line of this file, not of the joined posts.
        numeric = (
            USER_FIELDS
            if name == "users"
            else [f for f, (_, num) in VIDEO_FIELDS.items() if num]
            if name == "videos"
            else ()
        )
        repaired: dict[str, tuple[int, str]] = {}
        for field in numeric:
            raw = frame[field]
            frame[field] = to_float(raw, path, field, strict=True)
            if name == "users" and field in OVERFLOWED_INT32:
                frame[field], repaired[field] = _repair_int32(frame[field].to_numpy(), raw)
            check_counts(frame[field].to_numpy(), raw, path, field)
        repaired = {f: r for f, r in repaired.items() if r[0]}
        if repaired:
            log.warning("%s: repaired negative %s, a 32-bit overflow in the release (value + 2^32): %s", path,
                        " and ".join(repaired), "; ".join(f"{n} row(s) of {f}, e.g. {e}" for f, (n, e) in repaired.items()))
        if name == "users":
            # The release repeats some users verbatim; only disagreeing rows are an error.
            frame = dedupe_keyed(frame[["uid", *USER_FIELDS]], "uid", path)
        else:
            check_unique(frame[key], path, key)
        tables[name] = frame
    return tables


def _repair_int32(parsed: np.ndarray, raw: pd.Series) -> tuple[np.ndarray, tuple[int, str]]:
    """Negative whole numbers in [-2^31, 0) are 32-bit overflows of totals in [2^31, 2^32): add 2^32.

    Returns the repaired values and (rows repaired, an example "line 139: -984901888 -> 3310065408").
    """
    wrapped = (parsed < 0) & (parsed >= -(2.0**31)) & (parsed == np.round(parsed))
    if not wrapped.any():
        return parsed, (0, "")
    i = int(np.flatnonzero(wrapped)[0])
    fixed = parsed.copy()
    fixed[wrapped] += 2.0**32
    return fixed, (int(wrapped.sum()), f"{at(raw, i)} -> {int(fixed[i])}")


def _build_split(
    root: Path, split: str, tables: dict[str, pd.DataFrame], label_range: Sequence[float]
) -> pd.DataFrame:
    """Map one split's posts (joined with videos, users and popularity) onto canonical columns."""
    posts = tables["posts"]
    posts_path = table_path(root, split, "posts")
    n = len(posts)
    out = pd.DataFrame(
        {
            "post_id": posts["pid"].to_numpy(),
            "user_id": posts["uid"].to_numpy(),
            "post_time": parse_datetime(posts["post_time"], posts_path, "post_time").array,
            "title": "",
            "tags": to_text(posts["post_content"]).map(_split_commas).to_numpy(),
            "description": posts["post_suggested_words"].map(_join_words).to_numpy(),
            "category": None,
            "subcategory": None,
            "concept": None,
            "location": to_optional_str(posts["post_location"]).to_numpy(),
            "language": to_optional_str(posts["post_text_language"]).to_numpy(),
            "latitude": np.nan,
            "longitude": np.nan,
            "geo_accuracy": np.nan,
            "image_path": to_optional_str(posts["video_path"]).to_numpy(),
            "label": np.nan,
            "split": split,
        },
        index=pd.RangeIndex(n),
    )
    if split == "train":
        pop_path = table_path(root, split, "popularity")
        pop = tables["popularity"]
        labels = pd.Series(
            parse_labels(pop["popularity"], pop_path, "popularity", label_range=label_range),
            index=pop["pid"].to_numpy(),
        )
        lacking = ~out["post_id"].isin(labels.index)
        if lacking.any():
            raise DataError(
                pop_path,
                "popularity",
                f"no row for pid {out.loc[lacking, 'post_id'].iloc[0]!r}",
                "every train post needs a label",
            )
        out["label"] = labels.reindex(out["post_id"].to_numpy()).to_numpy()

    users = tables["users"]
    _warn_unmatched(out, out["user_id"].isin(users["uid"]), table_path(root, split, "users"), "uid", "user_*")
    aligned = users.set_index("uid").reindex(out["user_id"].to_numpy())
    for field in USER_FIELDS:
        out[field] = aligned[field].to_numpy(dtype=float)

    _warn_unmatched(out, out["post_id"].isin(tables["videos"]["pid"]), table_path(root, split, "videos"), "pid",
                    "meta_video_* / meta_music_*")
    videos = tables["videos"].set_index("pid").reindex(out["post_id"].to_numpy()).reset_index(drop=True)
    for field, (column, numeric) in VIDEO_FIELDS.items():
        out[column] = videos[field].to_numpy(dtype=float) if numeric else to_optional_str(videos[field]).to_numpy()
    return out


def _warn_unmatched(out: pd.DataFrame, matched: pd.Series, path: Path | str, key: str, columns: str) -> None:
    """Posts with no row in a side table keep NaN in its columns; say how many, so it is never silent."""
    lacking = ~matched.to_numpy()
    if lacking.any():
        first = out.loc[lacking, "post_id"].iloc[0]
        log.warning("%s: %d of %d posts have no row for their %s (e.g. post %s); their %s columns are NaN",
                    path, int(lacking.sum()), len(out), key, first, columns)


def _split_commas(text: str) -> list[str]:
    return [t for t in (p.strip() for p in text.split(",")) if t]


def _join_words(words: object) -> str:
    """Suggested words (a list in the release) as one ", "-joined string; a plain string is kept."""
    if isinstance(words, (list, tuple, np.ndarray)):
        return ", ".join(str(w) for w in words if w is not None)
    return words if isinstance(words, str) else ""


def _media_path(root: Path, split: str, kind: str) -> Path:
    return root / "media" / f"{split}_{kind}.csv"


def _join_media(root: Path, frame: pd.DataFrame, kind: str, train_posts: pd.DataFrame | None = None) -> pd.DataFrame:
    """Join `media/{split}_{kind}.csv` on pid as `meta_{kind}_<column>`; absent for both splits means skipped.

    With `train_posts` (a test-only load) only the test table is read; the run's training posts stand in for the
    train table: it must exist exactly when they carry `meta_{kind}_*` columns, with those value columns."""
    splits = SPLITS if train_posts is None else ("test",)
    paths = {split: _media_path(root, split, kind) for split in splits}
    if train_posts is None:
        if not any(p.is_file() for p in paths.values()):
            return frame
        for split in SPLITS:
            require_file(paths[split])  # one split's side table without the other's would give test rows NaN silently
    else:
        trained = any(str(c).startswith(f"meta_{kind}_") for c in train_posts.columns)
        if not side_table_in_use(paths["test"], trained, f"meta_{kind}_*"):
            return frame
    tables = {}
    for split in splits:
        table = read_csv(paths[split], dtype={"pid": str, "vid": str}, keep_default_na=False, na_values=[""])
        require_columns(table, ("pid",), paths[split])
        table["pid"] = require_ids(table["pid"], paths[split], "pid")
        check_unique(table["pid"], paths[split], "pid")
        tables[split] = table
    if train_posts is None:
        require_same_columns(tables["train"], tables["test"], tables["train"].columns, paths["test"])
        require_same_columns(tables["test"], tables["train"], tables["test"].columns, paths["train"])
        value_columns = [c for c in tables["train"].columns if c not in MEDIA_KEYS[kind]]
        # A column is text when the train table holds no number in it at all (an unknown text column); otherwise
        # each split's values are parsed in their own file, so an error names that file and line.
        text_columns = {c for c in value_columns if c in MEDIA_TEXT[kind] or _all_text(tables["train"][c])}
    else:
        value_columns, text_columns = _trained_media_columns(tables["test"], paths["test"], train_posts, kind)
    for split in splits:
        table = tables[split]
        for column in value_columns:
            if column in text_columns:
                table[column] = to_optional_str(table[column])
            else:
                table[column] = to_float(table[column], paths[split], column, strict=True)
    combined = pd.concat([tables[s][["pid", *value_columns]] for s in splits], ignore_index=True)
    check_unique(combined["pid"], " and ".join(map(str, paths.values())), "pid")
    for split in splits:
        part = frame["split"].eq(split).to_numpy()
        _warn_unmatched(frame[part], frame.loc[part, "post_id"].isin(tables[split]["pid"]), paths[split], "pid",
                        f"meta_{kind}_*")
    combined = combined.set_index("pid").reindex(frame["post_id"].to_numpy()).reset_index(drop=True)
    for column in value_columns:
        values = combined[column]
        frame[f"meta_{kind}_{column}"] = (
            values.astype(object).to_numpy() if column in text_columns else values.to_numpy(dtype=float)
        )
    return frame


def _trained_media_columns(test: pd.DataFrame, path: Path, train_posts: pd.DataFrame, kind: str
                           ) -> tuple[list[str], set[str]]:
    """(value columns, text columns) of a test-only load's media table: the run's training posts stand in for the
    train table (their `meta_<kind>_*` columns are its value columns), and the test table must have exactly those."""
    prefix = f"meta_{kind}_"
    value_columns = [c.removeprefix(prefix) for c in train_posts.columns if c.startswith(prefix)]
    have = [str(c) for c in test.columns]
    lacking = [c for c in value_columns if c not in have]
    if lacking:
        raise DataError(path, lacking[0], sorted(have), f"the run's training posts have this media column "
                        f"({prefix}{lacking[0]}) but the test file lacks it; test columns")
    extra = [c for c in have if c not in value_columns and c not in MEDIA_KEYS[kind]]
    if extra:
        raise DataError(path, extra[0], sorted(value_columns), "the run's training posts have no such media column "
                        "(it was trained without it); their media columns")
    # Text where the training posts hold text: how the train table's column was read when the run was fitted.
    text = {c for c in value_columns
            if c in MEDIA_TEXT[kind] or not pd.api.types.is_numeric_dtype(train_posts[prefix + c])}
    return value_columns, text


def _all_text(values: pd.Series) -> bool:
    """True when every present value is non-numeric text (and at least one is present)."""
    missing = missing_mask(values)
    parsed = pd.to_numeric(values.astype(object).where(~missing, None), errors="coerce").astype(float).to_numpy()
    return bool((np.isnan(parsed) & ~missing).all() and (~missing).any())
