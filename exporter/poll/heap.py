"""Give the memory a poll freed back to the system once no poll runs.

A poll builds the next page while the last one is still served: the table it parsed, the columns
and label texts it compared and dropped, the text of every family it rendered, all freed by the
end of the poll.  Small objects live in Python's own arenas; the larger ones (columns, value
tuples, family texts) come from glibc's heap, where they leave holes between what stays, and the
next poll fills those holes again: without a trim the process keeps the poll's peak resident for
good (BENCHMARKS.md, "Where the memory goes").  ``malloc_trim(0)`` hands
the free pages of every arena back; the next poll faults them in again, which costs it a few
percent of its CPU, less than the reuse of the last poll's work saved (BENCHMARKS.md).
"""

from __future__ import annotations

import ctypes
import ctypes.util
from typing import Callable


def heap_trimmer() -> Callable[[], None] | None:
    """glibc's ``malloc_trim(0)``, or None where the C library has none (musl, macOS)."""
    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError, TypeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int

    def release() -> None:
        trim(0)

    return release
