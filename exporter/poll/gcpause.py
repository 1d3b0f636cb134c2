"""Pause Python's cyclic garbage collector while a snapshot is built.

Building and rendering a large snapshot allocates hundreds of thousands of small tuples and
strings that all stay alive until the text is rendered.  Each allocation burst triggers the
cyclic collector, which then re-scans the whole half-built snapshot again and again, for a large
share of the build's CPU time at scale (BENCHMARKS.md).  The snapshot holds no
reference cycles (tuples of strings and label objects), so reference counting frees it all the
same; pausing the collector only skips useless scans.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def gc_paused() -> Iterator[None]:
    """Disable the cyclic collector for the block; re-enable it only if it was enabled before."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
