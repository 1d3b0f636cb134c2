"""One ring's reader, in a process of its own: started, watched, started again, stopped.

At 50,000 lines a second the matching and counting take about a third of a core; in a thread of
the exporter's process they share the interpreter lock with the poll and the scrapes, each of
which then waits for it up to the switch interval (5 ms) every time it wants it back: the poll's
wall time and the scrapes' p95 grew by 1.4–1.5× (BENCHMARKS.md).  So the stream is read and
counted by ``python -m exporter.sources.logs.child`` (started, not forked: the exporter has
threads), and this process keeps what must stay here: the names of ``show stat`` and the series
caps (the tally's fold), the totals (a crash of the child loses at most its last second of counts
and resets nothing), and the stream's health.

A thread per target reads the child's frames (wire.py) and folds them into the tally: blocked in
``read`` (the lock released) but for about one frame a second per kind of count.  When the child
ends without being asked, the thread counts it
(``haproxy_exporter_log_stream_failures_total{reason="reader_died"}``, said once per change of
reason) and starts another after a pause that grows while they keep dying young.  :meth:`stop`
asks the child to send its last counts and end, and kills it if it has not within the wait.  The
child ends by itself when this process is gone (child.py).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

import exporter
from exporter.runtime.client import RuntimeClient
from exporter.sources.base import Link
from exporter.sources.logs import wire
from exporter.sources.logs.reader import LIVED, PAUSES, SHOW_INFO, Health
from exporter.sources.logs.tally import Tally

log = logging.getLogger("exporter.logs")

CHILD = "exporter.sources.logs.child"
DIED = "reader_died"


class ReaderProcess:
    """Keeps one ring's reader process running for one socket, once :meth:`ready`."""

    def __init__(self, command: str, tally: Tally, health: Health, pauses: tuple[float, ...] = PAUSES) -> None:
        self.command = command
        self.tally = tally
        self.health = health
        self.pauses = pauses
        self._ready = threading.Event()  # the names are known: the stream may open
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._child: subprocess.Popen[bytes] | None = None
        self._thread: threading.Thread | None = None

    def start(self, link: Link) -> None:
        """Begin streaming through ``link`` (once :meth:`ready`); a routed link cannot stream."""
        if self._thread is not None:
            return
        if link.route:
            self.health.note(link.where, "master_cli", "a ring streams nothing through a master CLI (@!<pid> show events "
                                                 "-w answers at once with nothing): give the worker's own stats "
                                                 "socket as the target to read its log lines")
            return
        client = link.client
        if not isinstance(client, RuntimeClient):  # pragma: no cover - the poll's clients are all RuntimeClient
            self.health.note(link.where, "unsupported", f"the target's client cannot stream {self.command!r}")
            return
        for command in (SHOW_INFO, self.command):  # the stream's line (reader.py), refused here rather than in the child
            client.allowlist.check(command)
        setup = wire.Setup(client.address, client.allowlist, client.limits.connect_timeout, client.limits.timeout,
                           client.limits.max_response_bytes, self.command, self.tally.config, os.getpid())
        self._thread = threading.Thread(target=self._run, args=(setup, link.where), name=f"logs {link.where}".strip(),
                                        daemon=True)
        self._thread.start()

    def ready(self) -> None:
        self._ready.set()

    def renew(self, pid: str | None = None) -> None:
        """Open the stream again unless it is served by ``pid``, the process the poll now sees
        behind the socket (the child knows which process serves its stream: reader.py)."""
        self._command(wire.renew(pid))

    def stop(self, wait: float = 5.0) -> None:
        """Ask the child for its last counts and to end; kill it if it has not within ``wait``."""
        self._stopped.set()
        self._ready.set()
        self._command(wire.STOP)
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(wait)
        with self._lock:
            child = self._child
        if child is not None:
            _end(child, 0.0)

    def _command(self, command: bytes) -> None:
        with self._lock:
            child = self._child
        if child is None or child.stdin is None:
            return
        try:
            child.stdin.write(command)
        except (OSError, ValueError):
            pass  # it ended: the thread sees it

    # ------------------------------------------------------------------ the thread

    def _run(self, setup: wire.Setup, where: str) -> None:
        self._ready.wait()
        attempt = 0
        while not self._stopped.is_set():
            began = time.monotonic()
            ended = self._once(setup, where)
            if ended is None or self._stopped.is_set():
                return
            self.health.up = False
            self.health.note(where, DIED, f"the log reader's process ended ({ended}); another is started")
            if time.monotonic() - began >= LIVED:
                attempt = 0
            pause = self.pauses[min(attempt, len(self.pauses) - 1)]
            attempt += 1
            self._stopped.wait(pause)

    def _once(self, setup: wire.Setup, where: str) -> str | None:
        """One child from start to end: how it ended (the caller counts it unless it was stopped)."""
        try:
            child = spawn()
        except OSError as exc:
            return f"it could not start: {exc}"
        with self._lock:
            self._child = child
        try:
            assert child.stdin is not None and child.stdout is not None
            try:
                child.stdin.write(wire.setup_frame(setup))
            except OSError:
                pass  # it ended already: its end is read below
            if self._stopped.is_set():
                self._command(wire.STOP)
            problem = self._serve(child.stdout, where)
        finally:
            code = _end(child, 5.0)
            with self._lock:
                self._child = None
            for pipe in (child.stdin, child.stdout):
                if pipe is not None:
                    pipe.close()
        return problem or _exit_text(code)

    def _serve(self, out: IO[bytes], where: str) -> str | None:
        """Apply the child's frames until its stdout ends; what was wrong with them, if anything."""
        while True:
            try:
                message = wire.read_frame(out.read)
            except (ValueError, EOFError, TypeError) as exc:
                log.error("%sthe log reader's process sent what it cannot have: %s", where, exc)
                return f"out of step: {exc}"
            if message is None:
                return None
            try:
                apply(message, self.tally, self.health, where, self.command)
            except Exception:  # a bug here must not end the reading: the child would block on its pipe
                log.exception("%sapplying what the log reader's process sent failed", where)
                self.health.failures["internal_error"] += 1


def apply(message: tuple[Any, ...], tally: Tally, health: Health, where: str, command: str) -> None:
    """One frame of the reader's process into the tally (counts) or the health (the stream's events)."""
    kind = message[0]
    if kind == wire.OUTCOMES:
        tally.absorb_outcomes(dict(message[1]))
    elif kind == wire.SERIES:
        tally.absorb_series(str(message[1]), wire.series_of(message))
    elif kind == wire.WAITING:
        tally.absorb_waiting(wire.waiting_of(message))
    elif kind == wire.UP:
        health.up = bool(message[1])
        if message[1]:
            health.connects += 1
    elif kind == wire.NOTE:
        health.note(where, str(message[1]), str(message[2]))
    elif kind == wire.COUNT:
        health.failures[str(message[1])] += 1
    elif kind == wire.RESUMED:
        health.resumed(where, command)
    elif kind == wire.LOG:
        log.log(int(message[1]), "%s%s", where, message[2])


def spawn() -> subprocess.Popen[bytes]:
    """A new reader process: this interpreter, the exporter's package first on its path, its own
    stdin and stdout pipes (stderr is the exporter's: a crash's traceback shows there)."""
    root = str(Path(exporter.__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
    return subprocess.Popen([sys.executable, "-m", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            bufsize=0, env=env, close_fds=True)


def _end(child: subprocess.Popen[bytes], wait: float) -> int:
    """The child's exit status, waiting at most ``wait`` for it to end by itself, then killing it."""
    try:
        return child.wait(wait)
    except subprocess.TimeoutExpired:
        child.kill()
        return child.wait(5.0)


def _exit_text(code: int) -> str:
    return f"killed by signal {-code}" if code < 0 else f"exit status {code}"
