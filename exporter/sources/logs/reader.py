"""The stream of one HAProxy's log ring: open it, read it into the tally, open it again when it ends.

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
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from exporter.runtime.client import CommandRefused, Stream, StreamingClient, TransportError
from exporter.sources.base import Link
from exporter.sources.logs.tally import Tally

log = logging.getLogger("exporter.logs")

# HAProxy's refusals, each the whole answer: (its text, the reason counted).
REFUSALS = {"Permission denied": "permission_denied", "No such event sink": "no_ring"}
# Before each new attempt while they keep failing: the first is short, as a stream ends on every
# reload of HAProxy and what is logged until the next one opens is not read.
PAUSES = (0.1, 1.0, 2.0, 5.0, 10.0, 30.0)
RENEWED = "renewed"  # what _once says of a stream closed to be opened again (RingReader.renew)
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


class RingReader:
    """Keeps one ring's stream open through one socket, in a thread of its own."""

    def __init__(self, command: str, tally: Tally, health: Health, pauses: tuple[float, ...] = PAUSES) -> None:
        self.command = command
        self.tally = tally
        self.health = health
        self.pauses = pauses
        self._ready = threading.Event()  # the names are known: the stream may open
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._stream: Stream | None = None
        self._thread: threading.Thread | None = None
        self._renewing = False

    def start(self, link: Link) -> None:
        """Begin streaming through ``link`` (once :meth:`ready`); a routed link cannot stream."""
        if self._thread is not None:
            return
        if link.route:
            self.health.note(link.where, "master_cli", "a ring streams nothing through a master CLI (@!<pid> show events "
                                                 "-w answers at once with nothing): give the worker's own stats "
                                                 "socket as the target to read its log lines")
            return
        self._thread = threading.Thread(target=self._run, args=(link,), name=f"logs {link.where}".strip(), daemon=True)
        self._thread.start()

    def ready(self) -> None:
        self._ready.set()

    def renew(self) -> None:
        """Open the stream again: the process behind the socket is another one (a reload), and the
        stream still open is the old process's, which it would keep alive and which logs nothing more."""
        with self._lock:
            stream = self._stream
            self._renewing = stream is not None
        if stream is not None:
            stream.close()

    def stop(self, wait: float = 5.0) -> None:
        self._stopped.set()
        self._ready.set()
        with self._lock:
            stream = self._stream
        if stream is not None:
            stream.close()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(wait)

    # ------------------------------------------------------------------ the thread

    def _run(self, link: Link) -> None:
        self._ready.wait()
        attempt = 0
        while not self._stopped.is_set():
            opened = time.monotonic()
            reason = self._once(link)
            if reason is None:
                return  # stopped
            if reason == RENEWED or time.monotonic() - opened >= LIVED:
                attempt = 0
                continue
            pause = self.pauses[min(attempt, len(self.pauses) - 1)]
            attempt += 1
            self._stopped.wait(pause)

    def _once(self, link: Link) -> str | None:
        """One stream from open to end: the reason it ended, None when it was closed by :meth:`stop`."""
        client = link.client
        if not isinstance(client, StreamingClient):  # pragma: no cover - the poll's clients all stream
            self.health.note(link.where, "unsupported", f"the target's client cannot stream {self.command!r}")
            return "unsupported"
        try:
            stream = client.stream(self.command)
        except TransportError as exc:
            self.health.note(link.where, exc.reason, str(exc))
            return exc.reason
        except CommandRefused as exc:  # pragma: no cover - the source declares its command
            self.health.note(link.where, "refused", str(exc))
            return "refused"
        with self._lock:
            self._stream = stream
        if self._stopped.is_set():
            stream.close()
        self.health.connects += 1
        self.health.up = True
        reason: str | None = None
        try:
            reason = self._read(stream, link.where)
        except TransportError as exc:
            reason = exc.reason
            stream.close()
        finally:
            self.health.up = False
            with self._lock:
                self._stream = None
        if stream.end == "closed" and self._stopped.is_set():
            return None
        with self._lock:
            renewing, self._renewing = self._renewing, False
        if renewing and stream.end == "closed":
            log.info("%sthe process behind the socket changed: the log stream opens again on it", link.where)
            return RENEWED
        reason = reason or stream.end or "ended"
        self.health.note(link.where, reason, f"the stream of {self.command!r} ended ({reason})")
        return reason

    def _read(self, stream: Stream, where: str) -> str | None:
        """Feed every block to the tally; HAProxy's refusal (the stream's one line) is not a log line."""
        first = True
        for text in stream.texts():
            if first:
                first = False
                refused = REFUSALS.get(text.rstrip("\n"))
                if refused is not None:
                    return refused
                if self.health.last_reason is not None:
                    log.info("%sstreaming the log ring again (%s)", where, self.command)
                    self.health.last_reason = None
            try:
                self.tally.feed(text)
            except Exception:  # a bug must not end the stream for good: counted as the block's lines
                log.exception("%scounting a block of log lines failed", where)
                self.health.failures["internal_error"] += 1
        return None
