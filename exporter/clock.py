"""Time, as one object the edge hands down: what the poll, the store and the sources read and wait on.

The wall clock dates what is published (the last successful poll's timestamp, the errors' times);
the monotonic clock measures ages and schedules, so a wall-clock step (NTP, a VM resumed) can
neither make stale data fresh nor expire good data; ``sleep`` is the pause between retries.  The
exporter runs on :data:`SYSTEM_CLOCK`; being handed down rather than imported, the clock can be
one that moves only when told to, which makes every schedule, age and pause exact and instant.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def wall(self) -> float:
        """Seconds since the epoch (``time.time``)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never steps (``time.monotonic``)."""
        ...

    def sleep(self, seconds: float) -> None:
        ...


class SystemClock:
    """The system's clocks, looked up in :mod:`time` at every call (so freezegun can move them)."""

    def wall(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


SYSTEM_CLOCK = SystemClock()
