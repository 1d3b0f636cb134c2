"""Each target's snapshot (its page and its status) and their atomic swap.

The poll renders each complete page once, compresses it once, and publishes it by replacing one
reference; a scrape only ever reads references, so it never waits on HAProxy, never sees half a
poll, and costs no rendering.  HAProxy's series (the :class:`~exporter.exposition.page.Page`) and
the exporter's own status lines (a :class:`~exporter.exposition.page.Part`) are apart: after a
failed poll the last good page is still served (with ``haproxy_up 0``) until it is older than
``max_age``, then only the status part is.

Ages are measured on the monotonic clock, so a wall-clock step (NTP, a VM resumed) can neither
make a dead HAProxy's data look fresh nor expire good data early.  The only part made at scrape
time is the exporter's own process figures (memory, CPU, open files), which must describe the
moment of the scrape; it is small and kept for a second.

Writers are several poll threads and the main thread's reload; readers are the HTTP loop.  Every
change of the published set happens under one lock, as a new mapping swapped in whole, so two
polls never lose each other's publication and readers, who take no lock, see one set or the next.
A poller publishes through a :class:`Lease` on its target's name, which ``forget`` revokes in the
same locked step that drops the name: a poll still running when its target left the config
cannot publish it again (the check and the swap are one step), whatever the thread timing.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable, Mapping

from exporter.clock import SYSTEM_CLOCK, Clock
from exporter.exposition.page import Page, Part
from exporter.poll.record import PollRecord

DEFAULT_TARGET = ""  # the single HAProxy of a config without ``targets:``


@dataclass(frozen=True)
class Snapshot:
    """What one target serves: the page of its last successful poll (None before the first), and
    its status as it reads while the page is fresh and once it is older than ``max_age``."""

    page: Page | None
    status: Part  # exporter status while ``page`` is fresh
    status_stale: Part  # exporter status once ``page`` is too old (haproxy_up 0, stale 1)
    record: PollRecord | None = None  # the last poll as it went, for the operator's view (record.py)


class LivePart:
    """A part rendered on demand and kept for ``ttl`` seconds (the exporter's process figures)."""

    def __init__(self, render: Callable[[], str], ttl: float = 1.0, clock: Clock = SYSTEM_CLOCK) -> None:
        self._render = render
        self._ttl = ttl
        self._clock = clock
        self._cached: tuple[float, Part] | None = None

    def __call__(self) -> Part:
        now = self._clock.monotonic()
        cached = self._cached
        if cached is None or now - cached[0] >= self._ttl:
            cached = self._cached = (now, Part.of(self._render()))
        return cached[1]


class Lease:
    """The right to publish one target's snapshots, from :meth:`Store.lease` until :meth:`Store.forget`."""

    def __init__(self, store: Store, target: str) -> None:
        self.store = store
        self.target = target

    def publish(self, snapshot: Snapshot) -> bool:
        """Publish, unless the target left the config meanwhile (then nothing changes: False)."""
        return self.store.publish_under(self, snapshot)


class Store:
    """The latest :class:`Snapshot` of every target; readers never block writers.

    ``/metrics`` serves the default target, or with several targets the ``overview`` (the
    exporter's own view of all of them); ``/probe?target=`` serves one target.
    """

    def __init__(self, max_age: float, clock: Clock = SYSTEM_CLOCK, live: Callable[[], Part] | None = None) -> None:
        self.max_age = max_age
        self.clock = clock  # the poll's: ages are measured on its monotonic clock
        self.live = live  # a part made at scrape time, appended to every answer
        self._lock = threading.Lock()  # every writer of _targets and _leases
        self._targets: Mapping[str, Snapshot] = {}  # never changed in place: replaced whole, under _lock
        self._leases: dict[str, Lease] = {}
        self._overview: Part | None = None

    def lease(self, target: str) -> Lease:
        """A new right to publish ``target``; an older lease of the same name is no longer valid."""
        with self._lock:
            lease = self._leases[target] = Lease(self, target)
        return lease

    def publish(self, snapshot: Snapshot, target: str = DEFAULT_TARGET) -> None:
        """Publish as the only writer of ``target`` (a one-off, a test): pollers publish through
        their :class:`Lease`, so that a forgotten target stays forgotten."""
        self.lease(target).publish(snapshot)

    def publish_under(self, lease: Lease, snapshot: Snapshot) -> bool:
        """Publish for ``lease``'s target if the lease is still the target's (checked and swapped
        in one locked step); False, and nothing changes, once the target was forgotten."""
        with self._lock:
            if self._leases.get(lease.target) is not lease:
                return False
            self._targets = {**self._targets, lease.target: snapshot}
        return True

    def publish_overview(self, part: Part | None) -> None:
        self._overview = part

    def forget(self, target: str) -> None:
        """Drop a target that left the config, and revoke its lease in the same step."""
        with self._lock:
            self._leases.pop(target, None)
            self._targets = {k: v for k, v in self._targets.items() if k != target}

    def parts(self, now: float | None = None) -> list[Page | Part]:
        """What ``/metrics`` serves right now (empty before the first poll completed)."""
        if self._overview is not None:
            return self._with_live([self._overview])
        published = self._targets.get(DEFAULT_TARGET)
        return self._with_live(self._fresh(published, now)) if published is not None else []

    def probe(self, target: str, now: float | None = None) -> list[Page | Part] | None:
        """What ``/probe?target=`` serves: None for a name no poll has published."""
        published = self._targets.get(target)
        if published is None:
            return None
        return self._with_live(self._fresh(published, now))

    def _fresh(self, snapshot: Snapshot, now: float | None) -> list[Page | Part]:
        if self.is_fresh(snapshot, now):
            assert snapshot.page is not None
            return [snapshot.page, snapshot.status]
        return [snapshot.status_stale]

    def is_fresh(self, snapshot: Snapshot, now: float | None = None) -> bool:
        """Whether ``snapshot``'s HAProxy series are served now (its page no older than ``max_age``)."""
        now = self.clock.monotonic() if now is None else now
        page = snapshot.page
        return page is not None and now - page.taken_mono <= self.max_age

    def snapshot(self, target: str) -> Snapshot | None:
        """``target``'s latest snapshot (the operator's view reads its record), None before any."""
        return self._targets.get(target)

    def _with_live(self, parts: list[Page | Part]) -> list[Page | Part]:
        return parts + [self.live()] if self.live is not None and parts else parts

    @property
    def published(self) -> Snapshot | None:
        """The default target's latest snapshot."""
        return self._targets.get(DEFAULT_TARGET)

    def target_names(self) -> list[str]:
        return list(self._targets)
