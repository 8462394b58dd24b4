"""The official SMP Challenge submission JSON: build, validate, write without ever overwriting."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Iterable

from smp.files import write_exclusive

VERSION = "VERSION 1.2"


def make_submission(post_ids: Iterable[str], scores: Iterable[float], *, prefix: str = "", external_data: str = "") -> dict:
    """`{"version", "result": [{"post_id", "popularity_score"}], "external_data": {"used", "details"}}`."""
    result = [
        {"post_id": f"{prefix}{pid}", "popularity_score": round(float(s), 6)} for pid, s in zip(post_ids, scores, strict=True)
    ]
    used = "true" if external_data else "false"
    return {"version": VERSION, "result": result, "external_data": {"used": used, "details": external_data}}


def validate_submission(sub: dict, expected_post_ids: Iterable[str], *, prefix: str = "") -> None:
    """Every expected test post exactly once, nothing else, every score finite; raise `ValueError` naming the post."""
    if sub.get("version") != VERSION:
        raise ValueError(f"submission version must be {VERSION!r}, got {sub.get('version')!r}")
    ext = sub.get("external_data")
    if not isinstance(ext, dict) or ext.get("used") not in ("true", "false") or "details" not in ext:
        raise ValueError(f"submission external_data must be {{'used': 'true'|'false', 'details': str}}, got {ext!r}")
    expected = {f"{prefix}{p}" for p in expected_post_ids}
    seen: set[str] = set()
    for row in sub.get("result", []):
        pid, score = row.get("post_id"), row.get("popularity_score")
        if pid in seen:
            raise ValueError(f"submission lists post {pid!r} twice")
        if pid not in expected:
            raise ValueError(f"submission lists post {pid!r}, which is not a test post")
        if not isinstance(score, (int, float)) or not math.isfinite(score):
            raise ValueError(f"submission score of post {pid!r} must be a finite number, got {score!r}")
        seen.add(pid)
    missing = expected - seen
    if missing:
        raise ValueError(f"submission misses {len(missing)} test post(s), e.g. {sorted(missing)[0]!r}")


def write_submission(sub: dict, path: Path) -> Path:
    return write_exclusive(path, json.dumps(sub, indent=1))
