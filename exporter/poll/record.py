"""What the operator's view shows of a target: its last poll as it went, and its recent failures.

Operators ask "what did the last poll of edge1 send, and what came back?".  The poll thread
writes a :class:`Recorder` while a cycle runs (the runner notes each command it sends, the
process each source's outcome); at the end the cycle's :class:`PollRecord` is frozen and
published with the target's snapshot (exporter/poll/snapshot.py), so the landing page and the
debug view (exporter/web/view.py) read only immutable objects, never the poll's working state,
and never wait on HAProxy.

Everything kept is bounded, whatever HAProxy answers and however often it fails: the commands of
one poll up to :data:`MAX_EXCHANGES` (the rest counted), messages cut to :data:`MAX_MESSAGE`
characters, and the failed polls in a :class:`History` of :data:`HISTORY` entries (a deque with
a ``maxlen``), consecutive polls that fail the same way folded into one entry with a count, so an
outage of a day is one line, not sixteen copies of the same one pushing the cause out.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Mapping, NamedTuple

from exporter.runtime.advice import advice

MAX_EXCHANGES = 500  # commands of one poll kept for the debug view; a poll sends more only at scale
MAX_MESSAGE = 300  # characters of an error message kept (it may quote HAProxy's answer)
MAX_FAILURES = 32  # failed commands of one poll kept
HISTORY = 16  # failed polls kept per target


def printable(text: str) -> str:
    """``text`` with every control character spelled out (``\\x1b``): what the view shows ends up
    in a terminal (the debug text) as well as a page."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def cut(message: str, limit: int = MAX_MESSAGE) -> str:
    """``message`` on one printable line of at most ``limit`` characters: it may quote what HAProxy sent."""
    flat = printable(" ".join(message[: 4 * limit].split()))
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class Exchange(NamedTuple):
    """One command as it went to the socket: its text (a master CLI's routing prefix included),
    the bytes read back, the wall time of reading and parsing it, and how it ended.  A tuple, not
    a dataclass: a poll may keep hundreds, and a tuple is a third of the memory."""

    sent: str
    size: int
    seconds: float
    reason: str | None = None  # None: answered and parsed
    message: str = ""
    probe: bool = False  # the poll's own question about the socket, in no source's figures


class Decision(NamedTuple):
    """What the poll made of one source of one process: ``verdict`` is a short word (``read``,
    ``failed``, ``skipped``, ``not sent``, ``absent``, ``build failed``), ``detail`` the why."""

    source: str
    verdict: str
    detail: str = ""
    process: str = ""  # "" for the socket's own process; ``@!<pid>`` (``old``) behind a master CLI


@dataclass(frozen=True)
class Failure:
    """A command that failed in a poll (its final outcome, after any retry), and what to do."""

    command: str
    reason: str
    message: str

    @property
    def advice(self) -> str:
        return advice(self.reason)


@dataclass(frozen=True)
class FailedPoll:
    """One or more polls that failed the same way (the same commands, same reasons), with no
    other failure between them.

    ``up``: the poll still read HAProxy (only an optional source failed).
    """

    first: float  # wall time of the first poll of the run
    last: float  # and of the latest
    count: int
    up: bool
    failures: tuple[Failure, ...]

    @property
    def signature(self) -> tuple[tuple[str, str], ...]:
        return tuple((f.command, f.reason) for f in self.failures)


class History:
    """The last :data:`HISTORY` failed polls of one target, newest last (poll thread only).

    A deque with a ``maxlen``: its size is fixed whatever the failure rate.  A poll failing as
    the newest entry did (same commands, same reasons, same result), even with good polls between
    them (a flapping HAProxy), only moves that entry's ``last`` and ``count``, so a long outage
    keeps the failures that came before it in view.
    """

    def __init__(self, size: int = HISTORY) -> None:
        self._items: deque[FailedPoll] = deque(maxlen=size)

    def add(self, when: float, up: bool, failures: tuple[Failure, ...]) -> None:
        signature = tuple((f.command, f.reason) for f in failures)
        if self._items:
            newest = self._items[-1]
            if newest.signature == signature and newest.up == up:
                self._items[-1] = FailedPoll(newest.first, when, newest.count + 1, up, failures)
                return
        self._items.append(FailedPoll(when, when, 1, up, failures))

    def items(self) -> tuple[FailedPoll, ...]:
        return tuple(self._items)


@dataclass(frozen=True)
class PollRecord:
    """One finished poll of a target, as the operator's view shows it (immutable: published)."""

    started: float  # wall time
    seconds: float
    ok: bool  # HAProxy was read and the snapshot replaced
    kind: str | None  # "worker", "master", or None while the socket could not be told
    exchanges: tuple[Exchange, ...]
    more_exchanges: int  # commands sent beyond MAX_EXCHANGES, not kept
    decisions: tuple[Decision, ...]
    failures: tuple[Failure, ...]
    history: tuple[FailedPoll, ...]  # the target's recent failed polls, newest last
    source_seconds: Mapping[str, float] = field(default_factory=dict)  # by source, summed over processes

    @property
    def last_failure(self) -> Failure | None:
        """The failure to show first: this poll's, else the latest of the history."""
        if self.failures:
            return self.failures[0]
        for entry in reversed(self.history):
            if entry.failures:
                return entry.failures[0]
        return None


class Recorder:
    """What one cycle sent and decided, written by the poll thread while the cycle runs."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.exchanges: list[Exchange] = []
        self.more_exchanges = 0
        self.decisions: dict[tuple[str, str], Decision] = {}  # by (process, source); a later word replaces
        self.failures: list[Failure] = []

    def exchange(self, sent: str, size: int, seconds: float, reason: str | None = None, message: str = "",
                 probe: bool = False) -> None:
        if len(self.exchanges) >= MAX_EXCHANGES:
            self.more_exchanges += 1
            return
        self.exchanges.append(Exchange(printable(sent), size, seconds, reason, cut(message) if message else "", probe))

    def decide(self, source: str, verdict: str, detail: str = "", process: str = "") -> None:
        """Say what became of ``source``; said again (its series failed to build), the later stands."""
        self.decisions[(process, source)] = Decision(source, verdict, cut(detail), process)

    def failed(self, command: str, reason: str, message: str) -> None:
        if len(self.failures) < MAX_FAILURES:
            self.failures.append(Failure(printable(command), reason, cut(message)))

    def finish(self, ok: bool, kind: str | None, seconds: float, history: History,
               source_seconds: Mapping[str, float]) -> PollRecord:
        """The cycle's record; a poll that failed or lost a command is added to ``history`` first."""
        failures = tuple(self.failures)
        if not ok and not failures:  # refused without a failing command (the log says why)
            failures = (Failure("poll", "failed", "no command failed, but nothing was published: see the log"),)
        if failures:
            history.add(self.started, ok, failures)
        return PollRecord(self.started, seconds, ok, kind, tuple(self.exchanges), self.more_exchanges,
                          tuple(self.decisions.values()), failures, history.items(), dict(source_seconds))
