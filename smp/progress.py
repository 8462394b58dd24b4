"""Progress bars only where someone watches them: a terminal or a notebook.

`smp run > log 2>&1` must leave plain log lines: a bar redrawn with carriage returns writes every redraw into the
file. Every bar of smp is made here, so one rule decides for all of them.
"""

from __future__ import annotations

import sys
from typing import Any


def watched() -> bool:
    """True when stderr (where bars draw) is a terminal, or a Jupyter kernel's stream (bars render as widgets)."""
    err = sys.stderr
    if err is None:
        return False
    if type(err).__module__.startswith("ipykernel"):
        return True
    isatty = getattr(err, "isatty", None)
    return bool(isatty and isatty())


def progress_bar(iterable: Any = None, *, enabled: bool = True, **kwargs: Any):
    """A `tqdm.auto` bar over `iterable` (kwargs as tqdm's), drawn only when `enabled` and `watched()`; otherwise a
    silent one that still iterates, counts and accepts `update` / `set_postfix`."""
    from tqdm.auto import tqdm

    return tqdm(iterable, disable=not (enabled and watched()), **kwargs)
