"""A block of log lines into pending counts: the part of the tally that needs no names and no totals.

A ring may bring a hundred thousand lines a second, so a line costs no Python-level step of its
own: a block of lines (one read of the stream) is matched in one ``findall``
(format.BatchMatcher), its fields are counted in C (``Counter.update`` over zipped columns:
identical (backend, server, timer value) triples become one entry) into :class:`Pending` counts.
What is folded into the histograms later (tally.py) is the distinct entries, few because timers
are whole milliseconds and repeat a lot.

This part is apart from the tally so that it can run where the totals are not: in the reader's
process of its own (reader_process.py), which sends the pending counts to the exporter's process,
where the names of ``show stat``, the series caps and the totals are.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any, Iterable

from exporter.sources.logs.config import LogsConfig
from exporter.sources.logs.format import strip_header
from exporter.sources.logs.naming import TCP_TOTAL, TIMERS

log = logging.getLogger("exporter.logs")

# What HAProxy writes into a ring once it can again after dropping events because its reader
# lagged (sink.c, sink_announce_dropped): the ring's own count of lost lines, told in the stream.
# 3.x writes the message's closing NUL too.  The count ``show events`` lists is no counter: it
# holds only what is not announced yet (and on 3.x twice that, its lowest bit being a lock).
_DROPPED = re.compile(r"(\d{1,19}) events? dropped\x00?")

# An outcome: (frontend, backend, status, termination state, retries), None where the format has none.
Outcome = tuple[Any, ...]


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


class Counting:
    """Matches blocks of lines of one format and counts their fields into a :class:`Pending`."""

    def __init__(self, config: LogsConfig, where: str = "") -> None:
        self.where = where
        self.parser = config.parser()
        self.matcher = self.parser.batch()
        columns = self.matcher.columns
        self.servers = config.servers
        self.timers: list[tuple[str, int]] = []  # (timer, its column in a match)
        for timer, (source_field, _) in TIMERS.items():
            if timer == "total" and source_field not in columns:
                source_field = TCP_TOTAL
            if source_field in columns:
                self.timers.append((timer, columns[source_field]))
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
