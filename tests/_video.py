"""Small SMPD-Video folders for tests: a synthetic one (always available) and a 300-post copy of the real release.

The real copy is written to a temporary folder from `shared/data/smpd-video` (never committed); tests that use it
skip where that data is absent.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from smp.pipelines.datasets.smpd_video import USER_FIELDS
from smp.pipelines.datasets.smpd_video import table_path as video_path

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "smpd-video"

__all__ = ["REAL", "USER_FIELDS", "video_path", "write_real_copy", "write_tiny_video"]


def _write_jsonl(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def write_tiny_video(root: Path, n_train: int = 24, n_test: int = 8) -> Path:
    """A synthetic SMPD-Video folder in the release's layout, with face and audio side tables."""
    splits = {"train": range(n_train), "test": range(n_train, n_train + n_test)}
    for split, ids in splits.items():
        _write_jsonl(video_path(root, split, "posts"), [
            {"pid": f"POST{i:04d}", "uid": f"USER{i % 7:03d}", "post_content": f"fyp,tag{i % 5},cats",
             "post_location": "US", "post_suggested_words": ["cat videos"], "post_text_language": "en",
             "video_path": f"{split}/USER{i % 7:03d}/VIDEO{i:04d}.mp4",
             "post_time": f"2023-{1 + i % 12:02d}-{1 + i % 28:02d} 12:{i % 60:02d}"} for i in ids])
        _write_jsonl(video_path(root, split, "videos"), [
            {"vid": f"VIDEO{i:04d}", "pid": f"POST{i:04d}", "uid": f"USER{i % 7:03d}", "video_height": 1024,
             "video_width": 576, "video_duration": 10 + i, "video_ratio": "540p", "video_format": "mp4",
             "music_title": "original sound", "music_duration": 10 + i} for i in ids])
        users = sorted({i % 7 for i in ids})
        _write_jsonl(video_path(root, split, "users"), [
            {"uid": f"USER{u:03d}", **{f: 10 * u + k for k, f in enumerate(USER_FIELDS)}} for u in users])
        if split == "train":
            _write_jsonl(video_path(root, split, "popularity"), [
                {"pid": f"POST{i:04d}", "uid": f"USER{i % 7:03d}", "popularity": 5.0 + (i % 9) / 2} for i in ids])
        media = root / "media"
        media.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"pid": [f"POST{i:04d}" for i in ids], "has_face": [i % 2 for i in ids],
                      "face_frame_rate": [0.5] * len(ids), "dominant_emotion": ["none"] * len(ids)}
                     ).to_csv(media / f"{split}_face.csv", index=False)
        pd.DataFrame({"vid": [f"VIDEO{i:04d}" for i in ids], "pid": [f"POST{i:04d}" for i in ids],
                      "tempo": [120.0 + i for i in ids], "emotion_label": ["calm"] * len(ids)}
                     ).to_csv(media / f"{split}_audio.csv", index=False)
    return root


def write_real_copy(root: Path, n_train: int = 300, n_test: int = 100) -> Path:
    """The first `n_train` train and `n_test` test posts of the real release with their rows of every table,
    lines copied verbatim (so the file format is the release's own)."""
    for split, n in (("train", n_train), ("test", n_test)):
        lines = video_path(REAL, split, "posts").read_text(encoding="utf-8").splitlines(keepends=True)[:n]
        pids = {json.loads(line)["pid"] for line in lines}
        uids = {json.loads(line)["uid"] for line in lines}
        out = video_path(root, split, "posts")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("".join(lines), encoding="utf-8")
        tables = {"videos": ("pid", pids), "users": ("uid", uids)}
        if split == "train":
            tables["popularity"] = ("pid", pids)
        for table, (key, keep) in tables.items():
            src = video_path(REAL, split, table).read_text(encoding="utf-8").splitlines(keepends=True)
            video_path(root, split, table).write_text(
                "".join(line for line in src if json.loads(line)[key] in keep), encoding="utf-8")
        for kind in ("face", "audio"):
            src = REAL / "media" / f"{split}_{kind}.csv"
            if src.is_file():
                table = pd.read_csv(src, dtype=str, keep_default_na=False)
                (root / "media").mkdir(exist_ok=True)
                table[table["pid"].isin(pids)].to_csv(root / "media" / f"{split}_{kind}.csv", index=False)
    return root
