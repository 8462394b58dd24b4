"""Earlier snapshots of an SMPD-Image folder: the posts published before a date, for retraining on grown data.

Scheduled retraining sees the same stream of posts grow. A synthetic set written once with a fixed seed and cut
at increasing dates gives exactly that: every snapshot holds the identical rows of the earlier ones (same ids,
texts, labels, images) plus the posts published since, so per-row caches can reuse the earlier rows.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ._schema import DataError

_TABLES = ("category", "text", "temporalspatial_information", "additional_information", "user_data")


def parse_until(value: str) -> int:
    """A date (`2016-03-01`), a timestamp (`2016-03-01T12:00`, UTC unless it says otherwise) or unix seconds."""
    try:
        return int(value)
    except ValueError:
        pass
    try:
        t = datetime.fromisoformat(value)
    except ValueError as e:
        raise ValueError(f"--until must be a date, an ISO timestamp or unix seconds, got {value!r}") from e
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return int(t.timestamp())


def snapshot_smpd_image(src: str | Path, dst: str | Path, until: int) -> dict[str, int]:
    """Copy the posts of `src` (SMPD-Image layout) published before unix time `until` into `dst`.

    Every per-post file keeps its row order; images of kept posts are hard-linked (copied across file systems);
    `user_additional.csv` is copied whole. Returns the kept row count per split.
    """
    src, dst = Path(src), Path(dst)
    if dst.exists() and any(dst.iterdir()):
        raise FileExistsError(f"{dst} already exists and is not empty; refusing to overwrite it")
    kept = {}
    for split in ("train", "test"):
        folder = src / split
        ts_path = folder / f"{split}_temporalspatial_information.json"
        if not ts_path.is_file():
            raise DataError(ts_path, None, None, "not an SMPD-Image folder (file missing)")
        times = json.loads(ts_path.read_text(encoding="utf-8"))
        try:
            keep = np.array([int(float(r["Postdate"])) < until for r in times], dtype=bool)
        except (KeyError, ValueError) as e:
            raise DataError(ts_path, "Postdate", None, f"unreadable post date ({e})") from e
        out = dst / split
        out.mkdir(parents=True, exist_ok=True)
        for table in _TABLES:
            path = folder / f"{split}_{table}.json"
            records = json.loads(path.read_text(encoding="utf-8"))
            if len(records) != len(keep):
                raise DataError(path, None, len(records), f"expected {len(keep)} rows like {ts_path.name}")
            (out / path.name).write_text(json.dumps([r for r, k in zip(records, keep) if k]), encoding="utf-8")
        lines = {}
        for name in (f"{split}_img_filepath.txt", "train_label.txt" if split == "train" else None):
            if name and (folder / name).is_file():
                rows = (folder / name).read_text(encoding="utf-8").splitlines()
                lines[name] = [r for r, k in zip(rows, keep) if k]
                (out / name).write_text("".join(r + "\n" for r in lines[name]), encoding="utf-8")
        for rel in lines.get(f"{split}_img_filepath.txt", []):
            image = src / rel
            if image.is_file():
                (dst / rel).parent.mkdir(parents=True, exist_ok=True)
                try:
                    (dst / rel).hardlink_to(image)
                except OSError:
                    shutil.copy2(image, dst / rel)
        kept[split] = int(keep.sum())
    if (src / "user_additional.csv").is_file():
        shutil.copy2(src / "user_additional.csv", dst / "user_additional.csv")
    return kept
