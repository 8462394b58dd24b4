"""Hand freed heap memory back to the operating system between large steps.

glibc keeps freed blocks of up to 32 MB in its heap for reuse (its mmap threshold grows with each large block
freed), so after a feature generator's temporaries or a fold's copies of the matrix die, the process keeps their
pages: at 305k posts the driver held ~2 GB of free heap into training. `release_memory()` asks glibc to return
them (`malloc_trim`, microseconds on a small heap); elsewhere (another libc, another OS) it does nothing.
"""

from __future__ import annotations

import ctypes
import sys


def release_memory() -> None:
    """Return the heap's free pages to the OS where the C library allows it."""
    if not sys.platform.startswith("linux"):
        return
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the process's own C library
    except (OSError, AttributeError):  # musl and others have no malloc_trim
        return
    trim.argtypes = [ctypes.c_size_t]
    trim(0)
