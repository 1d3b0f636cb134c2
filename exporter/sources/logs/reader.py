"""The stream of one HAProxy's log ring: open it, read it into the counts, open it again when it ends.

:class:`StreamLoop` runs in the reader's process of its own (child.py, started and watched by
process.py), so the matching and counting of the lines do not share the exporter's interpreter
with the poll and the scrapes; what it tells of the stream goes through :class:`Events` to the
exporter's process, where :class:`Health` keeps the counts the health families publish.

``show events <ring> -w -n`` streams the lines written into the ring from the moment it is
opened (``-n``: none of what the ring already holds), so what is written while no stream is open
is not read, and a line HAProxy could not put in the ring because the reader lagged is counted by
HAProxy in the ring's ``dropped`` (the source reads it with ``show events``).  The stream opens
only once the poll has read the names that may become labels (``show stat``), so its first lines
are not counted as unknown proxies.

A stream ends when HAProxy stops or reloads (a worker's socket), when the socket fails, or at
once when HAProxy refuses it: below level operator it answers ``Permission denied``, for a ring
it does not have ``No such event sink``, as the stream's one line.  Each end is counted by
reason, said in the log once per change of reason, and followed by a new attempt after a pause
that grows while attempts keep failing.  Through a master CLI a routed stream answers nothing at
all (HAProxy 2.6 to 3.4), so none is opened: a target at a master CLI says so instead.

The stream is opened with ``show info`` chained before it on the same line (``show info;show
events <ring> -w -n``, which HAProxy 2.6 to 3.4 run in turn on one connection, at any level:
the refusals come after show info's answer), because only the stream's own connection can say
which process serves it.  The poll notices a new process behind the socket by its ``show info``
and asks for a renew (:meth:`StreamLoop.renew`), but that alone cannot tell the two ways a new
process comes: after a ``-sf`` reload the open stream stays on the old process (it keeps it alive
and gets nothing more), and must be opened again; after a restart the old process ended the
stream, the loop opened another on the new process by itself, and opening it again would only
add a gap in which lines are lost.  Comparing the two pids tells them apart.  A show info that
names no pid (cut, or not show info's answer) costs only that: the stream goes on, and every
renew opens it again, as before.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Protocol

from exporter.runtime.client import CommandRefused, Stream, StreamingClient, TransportError

log = logging.getLogger("exporter.logs")

# HAProxy's refusals, each the whole answer: (its text, the reason counted).
REFUSALS = {"Permission denied": "permission_denied", "No such event sink": "no_ring"}
# Before each new attempt while they keep failing: the first is short, as a stream ends on every
# reload of HAProxy and what is logged until the next one opens is not read.
PAUSES = (0.1, 1.0, 2.0, 5.0, 10.0, 30.0)
SHOW_INFO = "show info"  # chained before the stream's command: the pid of the process that serves it
NO_PID = "no_pid"  # what is counted when that show info names none
_PID = re.compile(r"^Pid: *(\d+) *$", re.M)
RENEWED = "renewed"  # what _once says of a stream closed to be opened again (StreamLoop.renew)
# A stream that lasted this long was working: the next one opens at once, and the pauses start
# again from the first (HAProxy 2.6 ends an idle stream at its `stats timeout`, 10 s by default).
LIVED = 1.0


@dataclass
class Health:
    """What a transport says of itself in the pipeline's health families; it outlives the reader
    (a new one per socket), so the counters keep counting."""

    up: bool = False
    connects: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    last_reason: str | None = None

    def note(self, where: str, reason: str, message: str) -> None:
        """Count a failure; say it in the log when its reason is not the last one's."""
        self.failures[reason] += 1
        if reason != self.last_reason:
            self.last_reason = reason
            level = logging.INFO if reason == "ended" else logging.WARNING
            log.log(level, "%slog stream: %s; counted in haproxy_exporter_log_stream_failures_total{reason=%r}",
                    where, message, reason)

    def resumed(self, where: str, command: str) -> None:
        """A stream brought lines: said if the last one had failed (its failure was said)."""
        if self.last_reason is not None:
            log.info("%sstreaming the log ring again (%s)", where, command)
            self.last_reason = None


class Events(Protocol):
    """What the stream loop tells of its stream (child.py sends each to the exporter's process)."""

    def up(self, up: bool) -> None:
        """A stream opened (counted as a connect) or ended."""

    def note(self, reason: str, message: str) -> None:
        """A stream could not open or ended: counted by reason, said once per change of reason."""

    def count(self, reason: str) -> None:
        """A failure counted but not said (its log line went already)."""

    def resumed(self) -> None:
        """A stream brought its first lines: said if the last stream had failed."""


class StreamLoop:
    """Keeps one ring's stream open through one socket: :meth:`run` until :meth:`stop`.

    ``feed`` gets each block of whole lines; :meth:`renew` and :meth:`stop` may come from another
    thread (the child's command thread)."""

    def __init__(self, command: str, client: StreamingClient, feed: Callable[[str], None], events: Events,
                 pauses: tuple[float, ...] = PAUSES) -> None:
        self.command = command
        self.client = client
        self.feed = feed
        self.events = events
        self.pauses = pauses
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._stream: Stream | None = None
        self._opening = False  # from the connect until the stream's show info is read
        self._stream_pid = ""  # the pid of the process serving the stream ("": not known)
        self._asked = False  # a renew came while the stream was opening ...
        self._wanted: str | None = None  # ... for this pid
        self._renewing = False
        self._said_no_pid = False

    def renew(self, pid: str | None = None) -> None:
        """Open the stream again unless the process serving it is ``pid`` (None: in any case).

        The poll asks when the process behind the socket changed.  After a reload the stream
        still open is the old process's, which it would keep alive and which logs nothing more;
        after a restart it is the new process's already (the old one ended it, and the loop opened
        another), and opening it again would only lose the lines of one more gap.  Only the
        stream's own ``show info`` tells the two apart: while a stream opens, the answer waits for
        it; between two streams there is nothing to do, as the next one connects after the ask."""
        with self._lock:
            if self._opening:
                self._asked, self._wanted = True, pid
                return
            stream = self._stream
            if stream is None or (pid is not None and pid == self._stream_pid):
                return
            self._renewing = True
        stream.close()

    def stop(self) -> None:
        self._stopped.set()
        with self._lock:
            stream = self._stream
        if stream is not None:
            stream.close()

    def run(self) -> None:
        attempt = 0
        while not self._stopped.is_set():
            opened = time.monotonic()
            reason = self._once()
            if reason is None:
                return  # stopped
            if reason == RENEWED or time.monotonic() - opened >= LIVED:
                attempt = 0
                continue
            pause = self.pauses[min(attempt, len(self.pauses) - 1)]
            attempt += 1
            self._stopped.wait(pause)

    def _once(self) -> str | None:
        """One stream from open to end: the reason it ended, None when it was closed by :meth:`stop`."""
        with self._lock:
            self._opening, self._asked, self._stream_pid, self._renewing = True, False, "", False
        try:
            return self._opened()
        finally:
            with self._lock:
                self._opening = False

    def _opened(self) -> str | None:
        try:
            stream = self.client.stream(self.command, before=(SHOW_INFO,))
        except TransportError as exc:
            self.events.note(exc.reason, str(exc))
            return exc.reason
        except CommandRefused as exc:  # pragma: no cover - the source declares its command
            self.events.note("refused", str(exc))
            return "refused"
        with self._lock:
            self._stream = stream
        if self._stopped.is_set():
            stream.close()
        self.events.up(True)
        reason: str | None = None
        try:
            heads = stream.heads()
            if heads is not None:
                self._serving(stream, heads[0])
                reason = self._read(stream)
        except TransportError as exc:
            reason = exc.reason
            stream.close()
        finally:
            self.events.up(False)
            with self._lock:
                self._stream = None
        if stream.end == "closed" and self._stopped.is_set():
            return None
        with self._lock:
            renewing, self._renewing = self._renewing, False
        if renewing and stream.end == "closed":
            log.info("the process behind the socket changed: the log stream opens again on it")
            return RENEWED
        reason = reason or stream.end or "ended"
        self.events.note(reason, f"the stream of {self.command!r} ended ({reason})")
        return reason

    def _serving(self, stream: Stream, info: str) -> None:
        """Take the pid of the stream's process from its ``show info``, and answer a renew that
        came while it was not known.  Without a pid every renew opens the stream again (a reload
        must not leave it on the old process): counted, and said once."""
        pid = pid_of(info)
        if not pid:
            self.events.count(NO_PID)
            if not self._said_no_pid:
                self._said_no_pid = True
                log.warning("the show info chained before %r named no Pid (%r): the stream opens again whenever "
                            "the poll sees another pid; counted in haproxy_exporter_log_stream_failures_total"
                            "{reason=%r}", self.command, info[:80], NO_PID)
        with self._lock:
            self._opening, self._stream_pid = False, pid
            renew = self._asked and (self._wanted is None or self._wanted != pid)
            self._asked = False
            if renew:
                self._renewing = True
        if renew:
            stream.close()

    def _read(self, stream: Stream) -> str | None:
        """Feed every block; HAProxy's refusal (the stream's one line) is not a log line."""
        first = True
        for text in stream.texts():
            if first:
                first = False
                refused = REFUSALS.get(text.rstrip("\n"))
                if refused is not None:
                    return refused
                self.events.resumed()
            try:
                self.feed(text)
            except Exception:  # a bug must not end the stream for good: counted as the block's lines
                log.exception("counting a block of log lines failed")
                self.events.count("internal_error")
        return None


def pid_of(info: str) -> str:
    """The ``Pid`` field of a ``show info`` answer; "" when it has none (an error, a cut answer)."""
    found = _PID.search(info)
    return found.group(1) if found else ""
