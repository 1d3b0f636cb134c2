"""Published expositions and their atomic swap.

The poll loop renders each complete snapshot once, compresses it once, and publishes it by
replacing one reference; ``/metrics`` only ever reads that reference, so a scrape never waits on
HAProxy, never sees half a poll, and costs no rendering.  HAProxy's series and the exporter's
own status lines are separate parts: after a failed poll the last good HAProxy part is still
served (with ``haproxy_up 0``) until it is older than ``max_age``, then only the status part is.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from exporter.exposition.gzip import Part


@dataclass(frozen=True)
class DataPart:
    """HAProxy's series from one successful poll, with the wall time it was taken."""

    part: Part
    taken_at: float
    samples: int


@dataclass(frozen=True)
class Published:
    data: DataPart | None
    status: Part  # exporter status while ``data`` is fresh
    status_stale: Part  # exporter status once ``data`` is too old (haproxy_up 0, stale 1)


class Store:
    """Holds the latest :class:`Published`; readers never block writers."""

    def __init__(self, max_age: float) -> None:
        self.max_age = max_age
        self._published: Published | None = None

    def publish(self, published: Published) -> None:
        self._published = published  # a single reference swap: atomic for readers


    def parts(self, now: float | None = None) -> list[Part]:
        """What ``/metrics`` serves right now: data + status, or only status when data is stale."""
        pub = self._published
        if pub is None:
            return []
        now = time.time() if now is None else now
        if pub.data is not None and now - pub.data.taken_at <= self.max_age:
            return [pub.data.part, pub.status]
        return [pub.status_stale]

    @property
    def published(self) -> Published | None:
        return self._published
