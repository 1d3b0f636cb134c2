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

from exporter.runtime.client import CommandRefused, Stream, StreamingClient, TransportError
from exporter.sources.base import Link
from exporter.sources.logs.tally import Tally

log = logging.getLogger("exporter.logs")

# HAProxy's refusals, each the whole answer: (its text, the reason counted).
REFUSALS = {"Permission denied": "permission_denied", "No such event sink": "no_ring"}
# Before each new attempt while they keep failing: the first is short, as a stream ends on every
# reload of HAProxy and what is logged until the next one opens is not read.
PAUSES = (0.1, 1.0, 2.0, 5.0, 10.0, 30.0)
SETTLED = 60.0  # a stream that lasted this long was working: the next pause is the first again


class RingReader:
    """Keeps one ring's stream open in a thread of its own while the source runs."""

    def __init__(self, command: str, tally: Tally, pauses: tuple[float, ...] = PAUSES) -> None:
        self.command = command
        self.tally = tally
        self.pauses = pauses
        self.up = False
        self.connects = 0
        self.failures: Counter[str] = Counter()
        self._ready = threading.Event()  # the names are known: the stream may open
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._stream: Stream | None = None
        self._thread: threading.Thread | None = None
        self._last_reason: str | None = None

    def start(self, link: Link) -> None:
        """Begin streaming through ``link`` (once :meth:`ready`); a routed link cannot stream."""
        if self._thread is not None:
            return
        if link.route:
            self._note(link.where, "master_cli", "a ring streams nothing through a master CLI (@!<pid> show events "
                                                 "-w answers at once with nothing): give the worker's own stats "
                                                 "socket as the target to read its log lines")
            return
        self._thread = threading.Thread(target=self._run, args=(link,), name=f"logs {link.where}".strip(), daemon=True)
        self._thread.start()

    def ready(self) -> None:
        self._ready.set()

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
            if time.monotonic() - opened >= SETTLED:
                attempt = 0
            pause = self.pauses[min(attempt, len(self.pauses) - 1)]
            attempt += 1
            self._stopped.wait(pause)

    def _once(self, link: Link) -> str | None:
        """One stream from open to end: the reason it ended, None when it was closed by :meth:`stop`."""
        client = link.client
        if not isinstance(client, StreamingClient):  # pragma: no cover - the poll's clients all stream
            self._note(link.where, "unsupported", f"the target's client cannot stream {self.command!r}")
            return "unsupported"
        try:
            stream = client.stream(self.command)
        except TransportError as exc:
            self._note(link.where, exc.reason, str(exc))
            return exc.reason
        except CommandRefused as exc:  # pragma: no cover - the source declares its command
            self._note(link.where, "refused", str(exc))
            return "refused"
        with self._lock:
            self._stream = stream
        if self._stopped.is_set():
            stream.close()
        self.connects += 1
        self.up = True
        reason: str | None = None
        try:
            reason = self._read(stream, link.where)
        except TransportError as exc:
            reason = exc.reason
            stream.close()
        finally:
            self.up = False
            with self._lock:
                self._stream = None
        if stream.end == "closed" and self._stopped.is_set():
            return None
        reason = reason or stream.end or "ended"
        self._note(link.where, reason, f"the stream of {self.command!r} ended ({reason})")
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
                if self._last_reason is not None:
                    log.info("%sstreaming the log ring again (%s)", where, self.command)
                    self._last_reason = None
            try:
                self.tally.feed(text)
            except Exception:  # a bug must not end the stream for good: counted as the block's lines
                log.exception("%scounting a block of log lines failed", where)
                self.failures["internal_error"] += 1
        return None

    def _note(self, where: str, reason: str, message: str) -> None:
        self.failures[reason] += 1
        if reason != self._last_reason:
            self._last_reason = reason
            level = logging.INFO if reason == "ended" else logging.WARNING
            log.log(level, "%slog stream: %s; counted in haproxy_exporter_log_stream_failures_total{reason=%r}",
                    where, message, reason)
