"""Media files of the posts (images, videos, audio): paths resolved against the data folder, bytes read and images
decoded, with one warning per batch naming the first file that is missing, unreadable or undecodable (its row's
features are NaN)."""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Sequence


def resolve_paths(paths: Sequence[object], root: str | None) -> list[str | None]:
    """Absolute image paths: relative ones are taken relative to `root` (or the working directory)."""
    base = Path(root) if root else None
    out: list[str | None] = []
    for p in paths:
        if not isinstance(p, str) or not p:
            out.append(None)
            continue
        path = Path(p)
        out.append(str(path if path.is_absolute() or base is None else base / path))
    return out


def read_image_bytes(paths: Sequence[str | None], who: str, *, warn: bool = True) -> list[bytes | None]:
    """The files' bytes (None where missing or unreadable), with one warning naming the first bad file (unless
    `warn` is off: the caller reports them with its own)."""
    return read_files(paths, who, Path.read_bytes, warn=warn)


def read_files(paths: Sequence[str | None], who: str, read, *, kind: str = "image", warn: bool = True) -> list:
    """`read(Path)` of each file (None where a path is missing or the file cannot be read), with one warning naming
    the first bad `kind` file (unless `warn` is off)."""
    out: list = []
    bad: list[str] = []
    for p in paths:
        if p is None:
            out.append(None)
            continue
        try:
            out.append(read(Path(p)))
        except OSError:
            out.append(None)
            bad.append(p)
    if bad and warn:
        warn_images(who, bad, "missing or unreadable", kind=kind)
    return out


def decode_images(blobs: Sequence[bytes], paths: Sequence[str], who: str, *, draft: int | None = None) -> list:
    """PIL RGB images; undecodable ones are None (one warning naming the first).

    `draft`: the size the caller will resize to. JPEGs are then decoded at the smallest DCT scale (1/2, 1/4, 1/8)
    that still covers `draft` x `draft` pixels, which costs a fraction of a full decode of a large photo.
    """
    from PIL import Image

    images, bad = [], []
    for b, p in zip(blobs, paths):
        try:
            im = Image.open(io.BytesIO(b))
            if draft is not None and im.format == "JPEG":
                im.draft("RGB", (int(draft), int(draft)))
            im.load()
            images.append(im.convert("RGB"))
        except Exception:
            images.append(None)
            bad.append(p)
    if bad:
        warn_images(who, bad, "not decodable as images")
    return images


def warn_images(who: str, bad: list[str], what: str, *, kind: str = "image") -> None:
    more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
    warnings.warn(f"feature generator {who!r}: {kind} file {bad[0]!r}{more} {what}; their features are NaN",
                  RuntimeWarning, stacklevel=3)
