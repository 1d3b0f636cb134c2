"""What the log lines said, added up as they arrive: histograms of the timers, codes, terminations.

A ring may bring a hundred thousand lines a second, so a line costs no Python-level step of its
own: a block of lines (one read of the stream) is matched in one ``findall``
(format.BatchMatcher), its fields are counted in C (``Counter.update`` over zipped columns:
identical (backend, server, timer value) triples become one entry) into counts kept until the
next poll, and only then are the distinct entries folded into the histograms (or sooner, when
they become many).  Timers are whole milliseconds and repeat a lot over a poll interval, which
is what makes the entries few.

Names become labels only if the latest ``show stat`` of the same HAProxy has them
(:meth:`Tally.set_known`): a log line cannot make series of its own.  A family holds at most
``max_series`` series; what would go beyond is counted, as is every part of a line that names an
unknown proxy or server, or holds a code or state HAProxy does not write.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from operator import add
from typing import Any, Callable, NamedTuple

from exporter.exposition.native import MIN_SCHEMA, NativeHistogram, coarser, halve
from exporter.sources.logs.config import LogsConfig
from exporter.sources.logs.counting import Counting, Normal, Series, Values, Waiting, normalize

log = logging.getLogger("exporter.logs")

NO_SERVER = "<NOSRV>"
PENDING = 1 << 16  # distinct pending entries past which they are folded at once (bounded memory)
# How long counts may wait in the pending ones: the reader folds them this often while lines come,
# so that a poll finds them folded (its own thread does not pay for it) and at most this old.
FOLD_EVERY = 1.0


class Known(NamedTuple):
    """The names the latest ``show stat`` lists: what may become a label."""

    frontends: frozenset[str]
    backends: frozenset[str]
    servers: frozenset[tuple[str, str]]


class Histogram:
    """One series' buckets (not cumulative: one count per bound, then one above the last) and sum;
    with native histograms on, its native buckets too: index → count at the configured schema less
    ``shift`` (each halving of the resolution, when the series held more than its limit), and the
    count of zeros (0 ms: the zero bucket)."""

    __slots__ = ("counts", "total_ms", "native", "shift", "zero")

    def __init__(self, size: int, native: bool = False) -> None:
        self.counts = [0] * size
        self.total_ms = 0
        self.native: dict[int, int] | None = {} if native else None
        self.shift = 0
        self.zero = 0


# The histograms a (backend[, server]) pair's times go to, and the reason a line's time is lost
# (unknown_server, series_cap), if any.
_Route = tuple[tuple[Histogram, ...], "str | None"]


@dataclass
class View:
    """A copy of the totals, taken under the lock for one poll's families."""

    histograms: dict[tuple[str, str], list[tuple[tuple[str, ...], list[int], int]]]  # (scope, timer) → series
    codes: dict[str, list[tuple[str, int, int]]]  # scope → (proxy, code, count)
    terminations: dict[str, list[tuple[str, str, int]]]  # scope → (proxy, state, count)
    retries: list[tuple[str, int]]
    redispatches: list[tuple[str, int]]
    lines: int
    rejected: dict[str, int]
    unexported: dict[str, int]
    dropped: int
    # (scope, timer) → each series' native histogram, in the order of ``histograms`` (none when off)
    native: dict[tuple[str, str], list[NativeHistogram]] = field(default_factory=dict)


@dataclass
class _Totals:
    """Everything counted so far (the lock's)."""

    backend: dict[str, dict[str, Histogram]]  # timer → backend → histogram
    server: dict[str, dict[tuple[str, str], Histogram]]
    codes: dict[str, dict[tuple[str, int], int]] = field(default_factory=lambda: {"frontend": {}, "backend": {}})
    terminations: dict[str, dict[tuple[str, str], int]] = field(
        default_factory=lambda: {"frontend": {}, "backend": {}})
    retries: dict[str, int] = field(default_factory=dict)
    redispatches: dict[str, int] = field(default_factory=dict)
    lines: int = 0
    dropped: int = 0  # lines HAProxy's ring lost, as its notices in the stream said
    rejected: Counter[str] = field(default_factory=Counter)
    unexported: Counter[str] = field(default_factory=Counter)


class Tally:
    """The totals of one HAProxy's log lines; :meth:`feed` from the reader's thread, :meth:`view`
    from the poll's."""

    def __init__(self, config: LogsConfig, where: str = "", fold_every: float = FOLD_EVERY,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.fold_every = fold_every
        self._clock = clock
        self.counting = Counting(config, where)
        self.parser = self.counting.parser
        self.matcher = self.counting.matcher
        self.timers = self.counting.timers
        self.values = Values(config)
        self.bounds_ms = self.values.bounds_ms
        self.size = self.values.size
        self.native = config.native
        self.cap = config.max_series
        self._lock = threading.Lock()
        self._known: Known | None = None
        self._totals = _Totals({timer: {} for timer, _ in self.timers}, {timer: {} for timer, _ in self.timers})
        # Counted since the last fold (counting.py): outcomes and, per timer, (backend[, server], time) → lines.
        self._pending = self.counting.pending()
        # timer → (backend[, server]) → where its times go, made once per pair and names
        self._routes: dict[str, dict[tuple[str, ...], _Route]] = {timer: {} for timer, _ in self.timers}

    @property
    def where(self) -> str:
        return self.counting.where

    @where.setter
    def where(self, where: str) -> None:
        self.counting.where = where

    # ------------------------------------------------------------------ names

    def set_known(self, known: Known) -> None:
        """The names of the latest ``show stat``; series of names it no longer has are let go (a
        proxy removed from HAProxy's config: its series end, as promex's would)."""
        with self._lock:
            if known == self._known:
                return
            self._fold(self._totals)  # what was read under the names it was read with
            previous, self._known = self._known, known
            for routes in self._routes.values():
                routes.clear()
            if previous is None:
                return
            t = self._totals
            for by_backend in t.backend.values():
                _keep(by_backend, lambda be: be in known.backends)
            for by_server in t.server.values():
                _keep(by_server, lambda pair: pair in known.servers)
            for proxies in (t.codes["frontend"], t.terminations["frontend"]):
                _keep(proxies, lambda key: key[0] in known.frontends)
            for proxies in (t.codes["backend"], t.terminations["backend"]):
                _keep(proxies, lambda key: key[0] in known.backends)
            _keep(t.retries, lambda be: be in known.backends)
            _keep(t.redispatches, lambda be: be in known.backends)

    @property
    def known(self) -> Known | None:
        return self._known

    # ------------------------------------------------------------------ lines

    def feed(self, text: str) -> None:
        """Count a block of whole lines, each ending with a newline."""
        with self._lock:
            self.counting.feed(text, self._pending, self._known is not None)
            self._fold_if_due()

    # Counts made elsewhere (the reader's process, process.py), folded as they come: the names,
    # the caps and the totals are this process's.  The lines counted with them come last
    # (absorb_waiting), so that a poll that sees them sees all their times.

    def absorb_outcomes(self, outcomes: dict[Normal, int]) -> None:
        """Outcomes the reader's process read already (:func:`~.counting.normalize`)."""
        with self._lock:
            known = self._known
            if known is None:
                self._totals.unexported["unknown_proxy"] += sum(outcomes.values())
            else:
                self._fold_outcomes(self._totals, known, outcomes)

    def absorb_series(self, timer: str, series: list[tuple[tuple[str, ...], Series]]) -> None:
        """One timer's binned times (counting.Values.bin), a part of one moment's."""
        with self._lock:
            known = self._known
            if known is not None and timer in self._routes:
                self._fold_series(self._totals, known, timer, series)

    def absorb_waiting(self, waiting: Waiting) -> None:
        with self._lock:
            self._add_waiting(self._totals, waiting)

    def _fold_if_due(self) -> None:
        """Fold the pending counts a second after the oldest of them, or when they are many."""
        now = self._clock()
        pending = self._pending
        if pending.since is None:
            pending.since = now
        if now - pending.since >= self.fold_every or pending.entries() > PENDING:
            self._fold(self._totals)

    def _fold(self, t: _Totals) -> None:
        """Add the pending counts to the totals (the lock held): at each poll, and whenever they
        hold more than :data:`PENDING` distinct entries."""
        known = self._known
        pending = self._pending
        pending.since = None
        waiting, pending.waiting = pending.waiting, Waiting()
        self._add_waiting(t, waiting)
        if known is None:
            return
        if pending.outcomes:
            self._fold_outcomes(t, known, normalize(pending.outcomes, self.matcher.tls, t.unexported))
            pending.outcomes = Counter()
        for timer, counts in pending.timers.items():
            if counts:
                self._fold_timer(t, known, timer, counts)
                pending.timers[timer] = Counter()

    @staticmethod
    def _add_waiting(t: _Totals, waiting: Waiting) -> None:
        t.lines += waiting.lines
        t.dropped += waiting.dropped
        t.rejected.update(waiting.rejected)
        t.unexported.update(waiting.unexported)

    def _fold_outcomes(self, t: _Totals, known: Known, outcomes: dict[Normal, int]) -> None:
        """Add each distinct outcome, read already (:func:`~.counting.normalize`), to the
        families whose names the latest ``show stat`` has."""
        unexported = t.unexported
        add = self._add
        frontends, backends = known.frontends, known.backends
        codes, terminations = t.codes, t.terminations
        for (fe, be, code, state, tries, redispatched), n in outcomes.items():
            if be == fe and be not in backends:
                be = None  # answered by the frontend itself (http-request return, a redirect): it logs its own name
            for scope, name, names in (("frontend", fe, frontends), ("backend", be, backends)):
                if name is None:
                    continue
                if name not in names:
                    unexported["unknown_proxy"] += n
                    continue
                if code is not None:
                    add(t, codes[scope], (name, code), n)
                if state is not None:
                    add(t, terminations[scope], (name, state), n)
            if be is not None and tries is not None and be in backends:
                if tries < 0:
                    unexported["invalid_value"] += n
                elif tries:
                    add(t, t.retries, be, tries * n)
                if redispatched:
                    add(t, t.redispatches, be, n)

    def _fold_timer(self, t: _Totals, known: Known, timer: str, counts: Counter[tuple[str, ...]]) -> None:
        """Add each distinct (backend[, server], time) to the histograms it goes to: binned per
        pair first, as the reader's process sends them, so that both fold the same way."""
        self._fold_series(t, known, timer, list(self.values.bin(counts, t.unexported).items()))

    def _fold_series(self, t: _Totals, known: Known, timer: str,
                     binned: list[tuple[tuple[str, ...], Series]]) -> None:
        """Add each (backend[, server]) pair's binned times to the histograms they go to: a vector
        add in C per histogram, whatever the number of distinct times."""
        routes = self._routes[timer]
        first = timer == self.timers[0][0]
        for pair, (counts, total_ms, zero, native) in binned:
            route = routes.get(pair)
            if route is None:
                route = routes[pair] = self._route(t, known, timer, pair)
            histograms, lost = route
            for histogram in histograms:
                histogram.counts = list(map(add, histogram.counts, counts))
                histogram.total_ms += total_ms
                if histogram.native is not None and native is not None:
                    histogram.zero += zero
                    for key, n in native.items():
                        self._observe_native(histogram, key, n)
            if lost is not None and first:
                t.unexported[lost] += sum(counts)

    def _observe_native(self, histogram: Histogram, key: int | None, n: int) -> None:
        """Count ``n`` values of native bucket ``key`` (at the configured schema; None: zero) into
        a series, halving its resolution while it holds more buckets than the limit (client_golang's
        ``doubleBucketWidth``; schema -4 is as low as it goes)."""
        buckets = histogram.native
        assert buckets is not None and self.native is not None
        if key is None:
            histogram.zero += n
            return
        if histogram.shift:
            key = coarser(key, histogram.shift)
        buckets[key] = buckets.get(key, 0) + n
        while len(buckets) > self.native.max_buckets and self.native.schema - histogram.shift > MIN_SCHEMA:
            buckets = histogram.native = halve(buckets)
            histogram.shift += 1

    def _route(self, t: _Totals, known: Known, timer: str, key: tuple[str, ...]) -> _Route:
        """The histograms a (backend[, server]) pair's times go to, and what is lost of them."""
        be = key[0]
        if be not in known.backends:
            return (), None  # counted with the line's outcome
        found: list[Histogram] = []
        lost: str | None = None
        histogram = t.backend[timer].get(be) or self._new(t.backend[timer], be)
        if histogram is None:
            lost = "series_cap"
        else:
            found.append(histogram)
        if len(key) == 2 and key[1] != NO_SERVER:
            pair = (be, key[1])
            if pair not in known.servers:
                lost = "unknown_server"
            else:
                histogram = t.server[timer].get(pair) or self._new(t.server[timer], pair)
                if histogram is None:
                    lost = "series_cap"
                else:
                    found.append(histogram)
        return tuple(found), lost

    def _new(self, series: dict[Any, Histogram], key: Any) -> Histogram | None:
        if len(series) >= self.cap:
            return None
        made = series[key] = Histogram(self.size, self.native is not None)
        return made

    def _add(self, t: _Totals, series: dict[Any, int], key: Any, n: int) -> None:
        if key in series:
            series[key] += n
        elif len(series) < self.cap:
            series[key] = n
        else:
            t.unexported["series_cap"] += n

    # ------------------------------------------------------------------ the poll's copy

    def view(self) -> View:
        """The totals as the reader last folded them; what waits longer than ``fold_every`` (the
        stream went quiet before the reader's next fold) is folded here."""
        with self._lock:
            t = self._totals
            since = self._pending.since
            if since is not None and self._clock() - since >= self.fold_every:
                self._fold(t)
            histograms: dict[tuple[str, str], list[tuple[tuple[str, ...], list[int], int]]] = {}
            native: dict[tuple[str, str], list[NativeHistogram]] = {}
            for timer in t.backend:
                histograms[("backend", timer)] = [((be,), list(h.counts), h.total_ms)
                                                  for be, h in t.backend[timer].items()]
                histograms[("server", timer)] = [(pair, list(h.counts), h.total_ms)
                                                 for pair, h in t.server[timer].items()]
                if self.native is not None:
                    native[("backend", timer)] = [self._native_copy(h) for h in t.backend[timer].values()]
                    native[("server", timer)] = [self._native_copy(h) for h in t.server[timer].values()]
            return View(
                histograms=histograms,
                codes={scope: [(name, code, n) for (name, code), n in found.items()] for scope, found in t.codes.items()},
                terminations={scope: [(name, state, n) for (name, state), n in found.items()]
                              for scope, found in t.terminations.items()},
                retries=list(t.retries.items()), redispatches=list(t.redispatches.items()),
                lines=t.lines, rejected=dict(t.rejected), unexported=dict(t.unexported), dropped=t.dropped,
                native=native)

    def _native_copy(self, histogram: Histogram) -> NativeHistogram:
        assert self.native is not None and histogram.native is not None
        return NativeHistogram(self.native.schema - histogram.shift, histogram.zero, dict(histogram.native))


def _keep(series: dict[Any, Any], keep: Any) -> None:
    for key in [key for key in series if not keep(key)]:
        del series[key]
