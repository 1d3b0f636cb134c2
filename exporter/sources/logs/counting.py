"""A block of log lines into pending counts: the part of the tally that needs no names and no totals.

A ring may bring a hundred thousand lines a second, so a line costs no Python-level step of its
own: a block of lines (one read of the stream) is matched in one ``findall``
(format.BatchMatcher), its fields are counted in C (``Counter.update`` over zipped columns:
identical (backend, server, timer value) triples become one entry) into :class:`Pending` counts.
What is folded into the histograms later (tally.py) is the distinct entries, few because timers
are whole milliseconds and repeat a lot.

This part is apart from the tally so that it can run where the totals are not: in the reader's
process of its own (child.py, watched by process.py), which sends the pending counts to the exporter's process,
where the names of ``show stat``, the series caps and the totals are.
"""

from __future__ import annotations

import logging
import re
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field
from itertools import repeat
from operator import add
from typing import Any, Iterable

from exporter.exposition.native import index as native_index
from exporter.sources.logs.config import LogsConfig
from exporter.sources.logs.format import strip_header
from exporter.sources.logs.naming import TCP_TOTAL, TIMERS

log = logging.getLogger("exporter.logs")

# What HAProxy writes into a ring once it can again after dropping events because its reader
# lagged (sink.c, sink_announce_dropped): the ring's own count of lost lines, told in the stream.
# 3.x writes the message's closing NUL too.  The count ``show events`` lists is no counter: it
# holds only what is not announced yet (and on 3.x twice that, its lowest bit being a lock).
_DROPPED = re.compile(r"(\d{1,19}) events? dropped\x00?")

_MS_CACHE = 100_000  # distinct timer texts whose bucket is remembered (whole ms: far more than a minute's worth)

# An outcome: (frontend, backend, status, termination state, retries), None where the format has none.
Outcome = tuple[Any, ...]
# An outcome as the fold takes it (:func:`normalize`): (frontend without %ft's "~", backend, code
# (None: no status, or none of 100 to 599), the termination state's first two characters (None: none,
# or none HAProxy writes), retries (None: none; -1: not a number), redispatched).
Normal = tuple[Any, Any, "int | None", "str | None", "int | None", bool]
# The two characters of a termination state HAProxy writes (configuration manual, "Session state
# at disconnection"): what ended it, and at which stage.
STATE_CAUSES = frozenset("-CSPLRIKUDcs")
STATE_STAGES = frozenset("-RQCHDLT")

# A timer text's milliseconds, bucket (-1: no value) and native bucket at the configured schema
# (None: 0 ms, the zero bucket, or native histograms off).
Value = tuple[int, int, "int | None"]
# One (backend[, server]) pair's times of one timer, binned: the count in each bucket (not
# cumulative), their sum in ms, and with native histograms on the zeros and native bucket → count.
Series = tuple[list[int], int, int, "dict[int, int] | None"]


@dataclass
class Waiting:
    """What a block counts beside the fields (lines, rejected lines, drops announced), kept with the
    pending counts so that a poll sees them all as of the same fold."""

    lines: int = 0
    dropped: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    unexported: Counter[str] = field(default_factory=Counter)


@dataclass
class Pending:
    """Everything counted since the last fold: outcomes and, per timer, (backend[, server], time)
    → lines; ``since``: when the oldest of them was counted (None: nothing pending)."""

    outcomes: Counter[Outcome] = field(default_factory=Counter)
    timers: dict[str, Counter[tuple[Any, ...]]] = field(default_factory=dict)
    waiting: Waiting = field(default_factory=Waiting)
    since: float | None = None

    def entries(self) -> int:
        """The distinct entries held: what bounds the memory the pending counts take."""
        return len(self.outcomes) + sum(map(len, self.timers.values()))


class Values:
    """Timer texts into their buckets, each distinct text found once (timers are whole ms)."""

    def __init__(self, config: LogsConfig) -> None:
        self.bounds_ms = tuple(bound * 1000 for bound in config.buckets)
        self.size = len(self.bounds_ms) + 1
        self.schema = config.native.schema if config.native is not None else None
        self._found: dict[str, Value] = {}

    def get(self, text: str) -> Value | None:
        """The text's value; None when it is no number HAProxy writes."""
        found = self._found.get(text)
        if found is not None:
            return found
        if text in ("-", "-1"):
            found = (0, -1, None)
        else:
            ms = whole(text.lstrip("+"))  # "+" is option logasap's: the time so far
            if ms is None:
                return None
            native = None if self.schema is None or ms == 0 else native_index(ms / 1000, self.schema)
            found = (ms, bisect_left(self.bounds_ms, ms), native)
        if len(self._found) < _MS_CACHE:
            self._found[text] = found
        return found

    def bin(self, counts: Counter[tuple[Any, ...]], unexported: Counter[str]) -> dict[tuple[str, ...], Series]:
        """One timer's pending (backend[, server], text) → lines as a :data:`Series` per pair:
        what the exporter's process folds is then one entry per pair, not one per distinct time
        (the reader's process does this part; a text that is no number is counted in ``unexported``)."""
        out: dict[tuple[str, ...], list[Any]] = {}
        native_on = self.schema is not None
        size = self.size
        known = self._found.get  # one call per entry: at 1000 backends there are about two a line
        get = self.get
        for key, n in counts.items():
            found = known(key[-1]) or get(key[-1])
            if found is None:
                unexported["invalid_value"] += n
                continue
            ms, bucket, native = found
            if bucket < 0:
                continue  # a stage not reached (-1): no time to observe
            pair = key[:-1]
            series = out.get(pair)
            if series is None:
                series = out[pair] = [[0] * size, 0, 0, {} if native_on else None]
            series[0][bucket] += n
            series[1] += ms * n
            if native_on:
                if native is None:
                    series[2] += n
                else:
                    series[3][native] = series[3].get(native, 0) + n
        return {pair: (series[0], series[1], series[2], series[3]) for pair, series in out.items()}


def merge(into: dict[tuple[str, ...], Series], more: dict[tuple[str, ...], Series]) -> None:
    """Add binned series (:meth:`Values.bin`) to those held already, pair by pair."""
    for pair, series in more.items():
        held = into.get(pair)
        if held is None:
            into[pair] = series
            continue
        counts, total_ms, zero, native = held
        if native is not None and series[3] is not None:
            native = dict(native)
            for key, n in series[3].items():
                native[key] = native.get(key, 0) + n
        into[pair] = (list(map(add, counts, series[0])), total_ms + series[1], zero + series[2], native)


def normalize(outcomes: Counter[Outcome], tls: bool, unexported: Counter[str]) -> Counter[Normal]:
    """The outcomes' texts read into what the fold adds (:data:`Normal`); a code or a state that is
    none HAProxy writes is counted in ``unexported`` here.  Done where the lines are counted (the
    reader's process), once per distinct outcome, so that the exporter's process, which must
    check the names, does nothing else per entry with the interpreter lock the scrapes need."""
    out: Counter[Normal] = Counter()
    codes: dict[Any, int | None] = {}
    states: dict[Any, str | None] = {}
    tries_of: dict[Any, int | None] = {}
    for (fe, be, status, state, retries), n in outcomes.items():
        if tls and fe is not None and fe.endswith("~"):
            fe = fe[:-1]
        if status in codes:
            code = codes[status]
        else:
            code = codes[status] = status_code(status)
        if code == 0:
            unexported["invalid_code"] += n
            code = None
        if state in states:
            two = states[state]
        else:
            two = states[state] = None if state is None else state[:2]
        if two is not None and (two[:1] not in STATE_CAUSES or two[1:] not in STATE_STAGES):
            unexported["invalid_state"] += n
            two = None
        if retries in tries_of:
            tries = tries_of[retries]
        else:
            tries = tries_of[retries] = retry_count(retries)
        out[(fe, be, code, two, tries, retries is not None and retries[:1] == "+")] += n
    return out


def status_code(status: str | None) -> int | None:
    """The status code; None when the line has none (no %ST, or -1: no response), 0 when it is no
    HTTP status (outside 100 to 599)."""
    if status is None or status in ("-", "-1"):
        return None
    code = whole(status)
    return code if code is not None and 100 <= code <= 599 else 0


def retry_count(retries: str | None) -> int | None:
    """%rc's retries (a leading "+": redispatched); None when there is none, -1 when it is no number."""
    if retries is None or retries in ("-", "-1"):
        return None
    tries = whole(retries.lstrip("+"))
    return -1 if tries is None else tries


def whole(text: str) -> int | None:
    """A whole number HAProxy writes (at most 19 digits), or None (``-``, ``-1``, anything else)."""
    if text.isdigit() and text.isascii() and len(text) <= 19:
        return int(text)
    return None


class Counting:
    """Matches blocks of lines of one format and counts their fields into a :class:`Pending`."""

    def __init__(self, config: LogsConfig, where: str = "") -> None:
        self.where = where
        self.config = config
        self.parser = config.parser()
        self.servers = config.servers
        captured = self.parser.captured
        sources: list[tuple[str, str]] = []  # (timer, the field it is read from)
        for timer, (source_field, _) in TIMERS.items():
            if timer == "total" and source_field not in captured:
                source_field = TCP_TOTAL
            if source_field in captured:
                sources.append((timer, source_field))
        keep = {"frontend", "backend", "status", "termination", "retries", *(field for _, field in sources)}
        if self.servers:
            keep.add("server")
        self.matcher = self.parser.batch(frozenset(keep))
        columns = self.matcher.columns
        self.timers: list[tuple[str, int]] = [(timer, columns[field]) for timer, field in sources]
        self._columns = columns
        self._said: set[str] = set()

    def pending(self) -> Pending:
        """An empty :class:`Pending` with a counter per timer this format has."""
        return Pending(timers={timer: Counter() for timer, _ in self.timers})

    def feed(self, text: str, pending: Pending, named: bool = True) -> None:
        """Count a block of whole lines, each ending with a newline, into ``pending``; ``named``:
        the names of the proxies are known (else the matched lines are counted as unknown)."""
        count = text.count("\n")
        rows = self.matcher.findall(text)
        bad: list[str] = []
        if len(rows) != count:  # some lines are not of the format: find which, line by line
            rows, bad = self._by_line(text)
        waiting = pending.waiting
        waiting.lines += count
        for line in bad:
            self._reject(waiting, line)
        if not rows:
            return
        if not named:
            waiting.unexported["unknown_proxy"] += len(rows)
            return
        self._count(pending, list(zip(*rows)), len(rows))

    def _count(self, pending: Pending, columns: list[tuple[str, ...]], size: int) -> None:
        """Count the block's fields: in C (Counter.update over zipped columns), whatever the number
        of lines; what is folded later is the distinct entries."""
        col = self._column
        pending.outcomes.update(zip(col(columns, "frontend", size), col(columns, "backend", size),
                                    col(columns, "status", size), col(columns, "termination", size),
                                    col(columns, "retries", size)))
        backend = col(columns, "backend", size)
        server = columns[self._columns["server"]] if self.servers and "server" in self._columns else None
        for timer, at in self.timers:
            pending.timers[timer].update(zip(backend, columns[at]) if server is None
                                         else zip(backend, server, columns[at]))

    def _by_line(self, text: str) -> tuple[list[Any], list[str]]:
        rows, bad = [], []
        match = self.matcher.line
        for line in text[:-1].split("\n"):
            m = match(line)
            if m is None:
                bad.append(line)
            else:
                rows.append(m.groups())
        return rows, bad

    def _reject(self, waiting: Waiting, line: str) -> None:
        message = strip_header(line, self.parser.ring_format)
        notice = None if message is None else _DROPPED.fullmatch(message)
        if notice is not None:
            waiting.dropped += int(notice.group(1))
            return
        reason = self.parser.why(line)
        waiting.rejected[reason] += 1
        if reason not in self._said:  # one sample of each reason, once
            self._said.add(reason)
            shown = line if len(line) <= 300 else line[:300] + "…"
            log.warning("%slog line not read (%s), counted in haproxy_exporter_log_lines_rejected_total; "
                        "this and later ones: %r", self.where, reason, shown)

    def _column(self, columns: list[tuple[str, ...]], name: str, size: int) -> Iterable[str | None]:
        at = self._columns.get(name)
        return repeat(None, size) if at is None else columns[at]
