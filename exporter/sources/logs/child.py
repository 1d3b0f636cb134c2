"""The reader's process: streams one ring, matches and counts its lines, sends the counts up.

Started by the exporter (process.py) as ``python -m exporter.sources.logs.child``, one per target
whose ring is read, so that the ``findall`` and ``Counter.update`` of 50,000 lines a second do not
share the exporter's interpreter lock with the poll and the scrapes (BENCHMARKS.md).  It holds
nothing that must outlive it: the names, the series caps and the totals are the exporter's, so a
crash here loses at most the counts it had not sent yet (a second's, up to five under heavy
load: :data:`STRETCH`), and no counter goes down.

Its stdin brings the setup, then commands (wire.py); its stdout takes frames: the pending counts
about once a second (:data:`~exporter.sources.logs.tally.FOLD_EVERY`; longer while they are many,
:class:`Counts`), what the stream did, and its log records.  It ends

- on :data:`~exporter.sources.logs.wire.STOP`: the stream closed, the last counts sent;
- when its stdin ends (the exporter is gone, however it went) or when the exporter's process dies
  (``PR_SET_PDEATHSIG``: the kernel sends SIGKILL, even while this process is busy);
- when writing to the exporter fails (it is gone too).

It ignores SIGINT and SIGTERM (see :func:`main`): SIGKILL ends it, and the exporter then starts another.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import os
import select
import signal
import sys
import threading
import time
from collections import Counter
from typing import Callable

from exporter.runtime.client import RuntimeClient
from exporter.sources.logs import wire
from exporter.sources.logs.counting import Counting, Series, Values, merge
from exporter.sources.logs.reader import StreamLoop
from exporter.sources.logs.tally import PENDING

_PR_SET_PDEATHSIG = 1
TICK = 0.25  # how often the command thread looks whether pending counts are due (a quiet stream)
# How much lower than the exporter's this process's scheduling priority is.  The ring holds what
# it has not read yet, a scrape waits on nothing but a core: when both want one, the scrape and
# the poll should get it (BENCHMARKS.md: the scrapes' p95 with lines flowing).  Not an idle class:
# on a machine that stays busy, the reader must still keep up with the ring.
NICER = 10


class Out:
    """The frames to the exporter, one writer at a time (the stream's thread, the command thread)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.lock = threading.Lock()

    def send(self, data: bytes) -> None:
        with self.lock:
            view = memoryview(data)
            while view:
                try:
                    written = os.write(self.fd, view)
                except OSError:  # the exporter is gone
                    os._exit(0)
                view = view[written:]

    def message(self, *message: object) -> None:
        self.send(wire.frame(message))


class RemoteEvents:
    """The stream loop's events, as frames to the exporter's :class:`~.reader.Health`."""

    def __init__(self, out: Out) -> None:
        self.out = out

    def up(self, up: bool) -> None:
        self.out.message(wire.UP, up)

    def note(self, reason: str, message: str) -> None:
        self.out.message(wire.NOTE, reason, message)

    def count(self, reason: str) -> None:
        self.out.message(wire.COUNT, reason)

    def resumed(self) -> None:
        self.out.message(wire.RESUMED)


class Forward(logging.Handler):
    """This process's log records, said by the exporter's logger (with the target's name)."""

    def __init__(self, out: Out) -> None:
        super().__init__()
        self.out = out

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.out.message(wire.LOG, record.levelno, self.format(record))
        except Exception:  # pragma: no cover - logging must not end the reader
            self.handleError(record)


# Distinct entries a second the exporter's process may have to fold, past which a moment lasts
# longer than ``fold_every`` (up to STRETCH times it).  Folding is Python under the interpreter
# lock the scrapes need: at a thousand backends and 50,000 lines a second, a moment of one second
# held ~10,000 entries, and the scrapes' p95 grew by 1.4-1.5x while lines flowed; with the fold
# left out it did not move (BENCHMARKS.md).  A few hundred backends stay at one second.
FOLDS = 2_000
STRETCH = 5


class Counts:
    """The pending counts and when to send them: :meth:`feed` from the stream's thread,
    :meth:`due` from the command thread when the stream is quiet.  A moment lasts ``fold_every``,
    or longer while its counts hold more than :data:`FOLDS` entries per second of it."""

    def __init__(self, counting: Counting, out: Out, fold_every: float,
                 clock: Callable[[], float] = time.monotonic, limit: int = PENDING) -> None:
        self.counting = counting
        self.out = out
        self.fold_every = fold_every
        self.clock = clock
        self.limit = limit
        self.lock = threading.Lock()
        self.pending = counting.pending()
        self.values = Values(counting.config)
        self.held: dict[str, dict[tuple[str, ...], Series]] = {}  # times binned already this moment
        self.end: float | None = None  # when this moment ends, once known
        self.sends = 0

    def feed(self, text: str) -> None:
        with self.lock:
            pending = self.pending
            self.counting.feed(text, pending)
            if pending.since is None:
                pending.since = self.clock()
            if self._over():
                self._send()
            elif pending.entries() > self.limit:
                self._bin()

    def _over(self) -> bool:
        """Whether the moment is over (the lock held, something pending).  Its end is set once,
        ``fold_every`` into it: the counts are binned (what is folded is the series and the
        outcomes) and it lasts until they make :data:`FOLDS` a second, at the pace they grew so far
        (they grow slower than that: names and codes repeat); binning at every read instead cost
        the reader half as much again at a thousand backends."""
        since = self.pending.since
        assert since is not None
        now = self.clock()
        age = now - since
        if age < self.fold_every:
            return False
        if self.end is None:
            longest = self.fold_every * STRETCH
            if age >= longest:
                return True
            self._bin()
            if self.pending.since is None:
                return False  # they were too many: sent
            entries = len(self.pending.outcomes) + self._held()
            self.end = since + min(longest, max(age, entries / FOLDS))
        return now >= self.end

    def _bin(self) -> None:
        """Bin the pending times into the series held, which take one entry per pair: at a thousand
        backends there are about two distinct times a line, and memory stays bounded while the
        moment lasts.  Sent at once when even the series are too many."""
        pending = self.pending
        for timer, counts in pending.timers.items():
            if counts:
                merge(self.held.setdefault(timer, {}), self.values.bin(counts, pending.waiting.unexported))
                pending.timers[timer] = Counter()
        if pending.entries() + self._held() > self.limit:
            self._send()

    def _held(self) -> int:
        return sum(map(len, self.held.values()))

    def due(self) -> None:
        with self.lock:
            if self.pending.since is not None and self._over():
                self._send()

    def flush(self) -> None:
        with self.lock:
            if self.pending.since is not None:
                self._send()

    def _send(self) -> None:
        pending, self.pending = self.pending, self.counting.pending()
        held, self.held = self.held, {}
        self.end = None
        self.sends += 1
        for data in wire.frames(pending, self.values, self.counting.matcher.tls, held):
            self.out.send(data)


def die_with_parent(parent: int) -> None:
    """Ask the kernel for SIGKILL when the exporter's process ends (Linux), and end at once if it
    ended already (before the request was made)."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - not Linux: the stdin's end remains
        pass
    if os.getppid() != parent:
        os._exit(0)


def yield_to_the_exporter(increment: int) -> None:
    """Lower this process's priority below the exporter's, and ask the kernel's batch policy for
    it: a reader woken by each read of the ring then does not take the core from a scrape or a
    poll already running (a woken process of the normal policy may), it waits for a free one.
    Neither failing is a failure: the reader works as before."""
    try:
        os.nice(increment)
    except OSError:  # pragma: no cover - at the lowest priority already, or a sandbox forbids it
        pass
    batch = getattr(os, "SCHED_BATCH", None)
    if batch is not None:
        try:
            os.sched_setscheduler(0, batch, os.sched_param(0))
        except OSError:  # pragma: no cover - a sandbox forbids it
            pass


def collect_seldom() -> None:
    """Run the cycle collector every 50,000 new container objects rather than 700.  This process's
    loop makes no reference cycles: it makes tuples (a match's fields, the counts' keys), lists and
    dicts that are freed by their counts, and at the default threshold the collector walked them
    about once a read of the stream, 6-9 % of a line's cost.  It still runs, so that a cycle (an
    exception's traceback) is freed; what this process imported is frozen out of its walks."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def commands(fd: int, loop: StreamLoop, counts: Counts, tick: float = TICK) -> None:
    """The command thread: the exporter's commands, and the pending counts of a quiet stream."""
    received = wire.Commands()
    while True:
        ready, _, _ = select.select([fd], [], [], tick)
        if not ready:
            counts.due()
            continue
        data = os.read(fd, 64)
        if not data:  # the exporter is gone
            os._exit(0)
        for command, pid in received.feed(data):
            if command == wire.RENEW:
                loop.renew(pid)
            elif command == wire.STOP:
                loop.stop()
                return


def main() -> int:
    # A terminal's ^C and a service manager's SIGTERM to the whole group (systemd's
    # KillMode=control-group) are the exporter's to handle: it stops this process when it stops,
    # and would otherwise count a reader that died while it was stopping.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    setup = wire.read_setup(0)
    if not isinstance(setup, wire.Setup):
        return 2
    die_with_parent(setup.parent)
    yield_to_the_exporter(NICER)
    collect_seldom()
    out = Out(1)
    handler = Forward(out)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    client = RuntimeClient(setup.address, setup.allowlist, setup)
    counts = Counts(Counting(setup.config), out, setup.fold_every)
    loop = StreamLoop(setup.command, client, counts.feed, RemoteEvents(out))
    thread = threading.Thread(target=commands, args=(0, loop, counts), name="commands", daemon=True)
    thread.start()
    loop.run()
    counts.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
