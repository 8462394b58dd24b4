"""Load the SMPD-Image (Flickr) release in its official folder layout into a canonical PostFrame.

Layout (see shared/DATA.md): `root/{train,test}/{split}_{category,text,temporalspatial_information,
additional_information,user_data}.json` (row-aligned tables), `{split}_img_filepath.txt`, `train_label.txt`,
and optionally `root/user_additional.csv` (per-user stats crawled by challenge teams, keyed by Pathalias).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ._io import (
    as_text,
    check_counts,
    check_unique,
    dedupe_keyed,
    missing_mask,
    parse_epoch,
    parse_labels,
    read_csv,
    read_json_table,
    read_lines,
    require_columns,
    require_file,
    require_ids,
    require_same_columns,
    side_table_in_use,
    to_float,
    to_optional_str,
    to_text,
)
from ._release import load_release
from ._schema import DEFAULT_LABEL_RANGE, DataError

log = logging.getLogger("smp")

# Row-aligned JSON tables and the fields the loader reads from each (all required).
JSON_TABLES: dict[str, tuple[str, ...]] = {
    "category": ("Pid", "Uid", "Category", "Subcategory", "Concept"),
    "text": ("Title", "Mediatype", "Alltags"),
    "temporalspatial_information": ("Postdate", "Latitude", "Longitude", "Geoaccuracy"),
    "additional_information": ("Pathalias", "Ispublic", "Mediastatus"),
    "user_data": (
        "photo_firstdate",
        "photo_count",
        "ispro",
        "timezone_offset",
        "photo_firstdatetaken",
        "timezone_id",
        "user_description",
        "location_description",
    ),
}
# Fields some releases lack: read when present, NaN otherwise (`canbuypro` is the spelling in some copies).
OPTIONAL_USER_FIELDS: dict[str, tuple[str, ...]] = {"canbuy_pro": ("canbuy_pro", "canbuypro")}

USER_NUMERIC = {"photo_firstdate": "user_photo_firstdate", "photo_count": "user_photo_count", "ispro": "user_ispro"}
USER_TEXT = {
    "timezone_id": "user_timezone_id",
    "user_description": "user_description",
    "location_description": "user_location_description",
}
# user_additional.csv column -> canonical column.
USER_ADDITIONAL: dict[str, str] = {
    "totalViews": "user_total_views",
    "totalTags": "user_total_tags",
    "totalGeotagged": "user_total_geotagged",
    "totalFaves": "user_total_faves",
    "totalInGroup": "user_total_in_group",
    "photoCount": "user_photo_count_crawl",
    "followerCount": "user_follower_count",
    "followingCount": "user_following_count",
}
USER_ADDITIONAL_FILE = "user_additional.csv"
SPLITS = ("train", "test")


def load_smpd_image(
    root: str | Path,
    *,
    user_additional: bool | str | Path = True,
    label_range: Sequence[float] = DEFAULT_LABEL_RANGE,
    train_posts: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Load train and test posts of an SMPD-Image folder as one canonical PostFrame.

    `user_additional`: True joins `root/user_additional.csv` when that file exists (its columns are absent
    otherwise), False never joins it, a path joins that file (which must exist). Train labels outside
    `label_range` are an error.

    `train_posts` (a fitted run's training posts, for `smp predict`): load only `test/` (and `user_additional.csv`,
    which must be there exactly when the run was trained with it), checked against those posts instead of a train
    split: no post id of theirs, the same columns.
    """
    def join_user_additional(root: Path, frame: pd.DataFrame) -> pd.DataFrame:
        path = _user_additional_path(root, user_additional, train_posts)
        return frame if path is None else _join_user_additional(frame, path)

    return load_release(root, read_split=_read_split, ids_file=lambda root, split: _table_path(root, split, "category"),
                        ids=("category", "Pid"),
                        build_split=lambda root, split, tables: _build_split(root, split, tables, label_range),
                        join_side_tables=join_user_additional, train_posts=train_posts)


def _table_path(root: Path, split: str, table: str) -> Path:
    return root / split / f"{split}_{table}.json"


def _read_split(root: Path, split: str, train: dict[str, pd.DataFrame] | None) -> dict[str, pd.DataFrame]:
    """Read one split's JSON tables, checking required fields (train) or train/test column parity (test)."""
    tables: dict[str, pd.DataFrame] = {}
    for table, fields in JSON_TABLES.items():
        path = _table_path(root, split, table)
        frame = read_json_table(path)
        if train is not None:
            require_same_columns(train[table], frame, (*fields, "Pid", "Uid"), path)
        require_columns(frame, fields, path)
        tables[table] = frame
    _check_aligned(root, split, tables)
    return tables


def _check_aligned(root: Path, split: str, tables: dict[str, pd.DataFrame]) -> None:
    """Row-aligned tables must have equal row counts and, where they carry Pid/Uid, the same ids per row."""
    ref_path = _table_path(root, split, "category")
    ref = tables["category"]
    n = len(ref)
    for table, frame in tables.items():
        path = _table_path(root, split, table)
        if len(frame) != n:
            raise DataError(
                path,
                None,
                f"{len(frame)} rows vs {n} in {ref_path.name}",
                "row-aligned files must have the same number of rows",
            )
        for key in ("Pid", "Uid"):
            if table == "category" or key not in frame.columns:
                continue
            ours = as_text(frame[key]).to_numpy()
            theirs = as_text(ref[key]).to_numpy()
            diff = np.flatnonzero(ours != theirs)
            if diff.size:
                i = int(diff[0])
                raise DataError(
                    path,
                    key,
                    f"record {i + 1}: {ours[i]!r} vs {theirs[i]!r} in {ref_path.name}",
                    "row-aligned files must list the same posts in the same order",
                )
    for key in ("Pid", "Uid"):
        ref[key] = require_ids(ref[key], ref_path, key)
    check_unique(ref["Pid"], ref_path, "Pid")


def _build_split(
    root: Path, split: str, tables: dict[str, pd.DataFrame], label_range: Sequence[float]
) -> pd.DataFrame:
    """Map one split's tables onto canonical columns."""
    cat, text = tables["category"], tables["text"]
    geo, add, user = tables["temporalspatial_information"], tables["additional_information"], tables["user_data"]
    n = len(cat)
    geo_path = _table_path(root, split, "temporalspatial_information")
    user_path = _table_path(root, split, "user_data")

    images = read_lines(require_file(root / split / f"{split}_img_filepath.txt"))
    if len(images) != n:
        raise DataError(
            root / split / f"{split}_img_filepath.txt",
            None,
            f"{len(images)} lines vs {n} posts",
            "one image path per post",
        )
    if split == "train":
        label_path = require_file(root / split / "train_label.txt")
        lines = read_lines(label_path)
        if len(lines) != n:
            raise DataError(label_path, "label", f"{len(lines)} lines vs {n} posts", "one label per post")
        label = parse_labels(lines, label_path, "label", label_range=label_range)
    else:
        label = np.full(n, np.nan)

    lat = to_float(geo["Latitude"], geo_path, "Latitude", strict=True)
    lon = to_float(geo["Longitude"], geo_path, "Longitude", strict=True)
    acc = to_float(geo["Geoaccuracy"], geo_path, "Geoaccuracy", strict=True)
    # 0/0 is how the release writes "no geotag"; a tag needs both coordinates.
    no_geo = np.isnan(lat) | np.isnan(lon) | ((lat == 0) & (lon == 0))
    lat, lon, acc = (np.where(no_geo, np.nan, v) for v in (lat, lon, acc))

    out = pd.DataFrame(
        {
            "post_id": as_text(cat["Pid"]).to_numpy(),
            "user_id": as_text(cat["Uid"]).to_numpy(),
            "post_time": parse_epoch(geo["Postdate"], geo_path, "Postdate").array,
            "title": to_text(text["Title"]).to_numpy(),
            "tags": to_text(text["Alltags"]).str.split().to_numpy(),
            "description": "",
            "category": to_optional_str(cat["Category"]).to_numpy(),
            "subcategory": to_optional_str(cat["Subcategory"]).to_numpy(),
            "concept": to_optional_str(cat["Concept"]).to_numpy(),
            "location": None,
            "language": None,
            "latitude": lat,
            "longitude": lon,
            "geo_accuracy": acc,
            "image_path": to_optional_str(pd.Series(images, dtype=object)).to_numpy(),
            "label": label,
            "split": split,
            "meta_pathalias": to_optional_str(add["Pathalias"]).to_numpy(),
            "meta_ispublic": to_float(
                add["Ispublic"], _table_path(root, split, "additional_information"), "Ispublic", strict=False
            ),
            "meta_mediastatus": to_optional_str(add["Mediastatus"]).to_numpy(),
            "meta_mediatype": to_optional_str(text["Mediatype"]).to_numpy(),
        }
    )
    for src, dst in USER_NUMERIC.items():
        out[dst] = to_float(user[src], user_path, src, strict=False)
    check_counts(out["user_photo_count"].to_numpy(), user["photo_count"], user_path, "photo_count")
    canbuy = next((c for c in OPTIONAL_USER_FIELDS["canbuy_pro"] if c in user.columns), None)
    out["user_canbuy_pro"] = to_float(user[canbuy], user_path, canbuy, strict=False) if canbuy else np.nan
    out["user_timezone_offset"] = _timezone_hours(user["timezone_offset"])
    out["user_photo_firstdatetaken"] = _epoch_seconds(user["photo_firstdatetaken"])
    for src, dst in USER_TEXT.items():
        out[dst] = to_optional_str(user[src]).to_numpy()
    return out


def _timezone_hours(values: pd.Series) -> np.ndarray:
    """Timezone offsets like "+08:00", "-0530" or plain numbers, as hours east of UTC (NaN when absent)."""
    codes, uniques = pd.factorize(values.astype(object).where(~missing_mask(values), None))
    text = pd.Series([str(v).strip() for v in uniques], dtype=object)
    parts = text.str.extract(r"^(?P<sign>[+-]?)(?P<h>\d{1,2}):?(?P<m>\d{2})?$")
    hours = pd.to_numeric(parts["h"], errors="coerce") + pd.to_numeric(parts["m"], errors="coerce").fillna(0) / 60
    hours = hours.where(parts["sign"] != "-", -hours)
    parsed = hours.fillna(pd.to_numeric(text, errors="coerce")).astype(float).to_numpy()
    return _take(parsed, codes)


def _epoch_seconds(values: pd.Series) -> np.ndarray:
    """Dates given as unix seconds or "YYYY-MM-DD HH:MM:SS" strings, as float unix seconds (NaN when unparsable)."""
    codes, uniques = pd.factorize(values.astype(object).where(~missing_mask(values), None))
    obj = pd.Series(uniques, dtype=object)
    numeric = pd.to_numeric(obj, errors="coerce").astype(float)
    times = pd.to_datetime(obj.where(numeric.isna(), None), format="ISO8601", utc=True, errors="coerce")
    seconds = (times - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
    return _take(numeric.fillna(seconds).astype(float).to_numpy(), codes)


def _take(parsed_uniques: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Expand per-unique parsed values back to rows; code -1 (a missing value) gives NaN."""
    out = np.full(len(codes), np.nan)
    ok = codes >= 0
    out[ok] = parsed_uniques[codes[ok]]
    return out


def _user_additional_path(root: Path, option: bool | str | Path, train_posts: pd.DataFrame | None) -> Path | None:
    """The crawled user stats to join: None for `False`; for `True` the folder's file when it exists (a test-only
    load: exactly when the run's training posts carry its columns); a given path must exist."""
    if option is False:
        return None
    if option is True:
        path = root / USER_ADDITIONAL_FILE
        if train_posts is not None:
            trained = any(c in train_posts.columns for c in USER_ADDITIONAL.values())
            return path if side_table_in_use(path, trained, "user_total_* (crawled user stats)") else None
        return path if path.is_file() else None
    return require_file(Path(option))


def _join_user_additional(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Join the crawled per-user stats on Pathalias; posts whose alias is absent or unknown get NaN."""
    extra = read_csv(path, dtype={"Pathalias": str}, keep_default_na=False, na_values=[""])
    require_columns(extra, ("Pathalias", *USER_ADDITIONAL), path)
    extra = extra.loc[~missing_mask(extra["Pathalias"]), ["Pathalias", *USER_ADDITIONAL]]
    extra = dedupe_keyed(extra, "Pathalias", path)
    stats = pd.DataFrame({dst: to_float(extra[src], path, src, strict=False) for src, dst in USER_ADDITIONAL.items()})
    for src, dst in USER_ADDITIONAL.items():  # every crawled column is a total: views, tags, faves, followers, ...
        check_counts(stats[dst].to_numpy(), extra[src], path, src)
    stats.index = extra["Pathalias"].astype(object).to_numpy()
    aliases = frame["meta_pathalias"].astype(object)
    lacking = ~aliases.isin(stats.index).to_numpy()
    if lacking.any():
        log.warning("%s: %d of %d posts have no row for their Pathalias (e.g. post %s); their user_total_* and "
                    "user_*_count columns from it are NaN", path, int(lacking.sum()), len(frame),
                    frame.loc[lacking, "post_id"].iloc[0])
    aligned = stats.reindex(aliases.to_numpy())
    for column in stats.columns:
        frame[column] = aligned[column].to_numpy()
    return frame
