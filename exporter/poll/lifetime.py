"""When the sources of one target's processes run between polls.

Most sources do nothing between polls; one that streams holds a connection and a thread of its
own (Source.start), which must not outlive the process it reads, nor the target.  So a process's
sources start just before its first read, with the target's client and the process's route, and
stop when the process is dropped (a worker gone, a reload that replaced the sources, a socket
that changed kind or address); when the target leaves the config or the exporter stops, all of
them stop and none starts again, so a cycle still running cannot start a stream nobody would stop.
What the sources keep beyond one process (sources/base.py Kept: the log source's histograms and
its reader) is closed then too, and only then.
"""

from __future__ import annotations

import threading
from typing import Iterable

from exporter.poll.process import Process
from exporter.runtime.client import Client
from exporter.sources.base import Kept, Link


class Lifetime:
    """The processes of one target whose sources run, and the way to them.

    The poll thread starts and stops; ``end`` may come from another (a reload, the exporter's
    stop), hence the lock.  ``client`` is replaced by the poll thread only, between cycles.
    """

    def __init__(self, where: str, client: Client) -> None:
        self.where = where
        self.client = client
        self._lock = threading.Lock()
        self._running: set[Process] = set()
        self._ended = False
        self.kept = Kept()  # what the sources keep beyond one process, until the target ends

    def start(self, process: Process) -> None:
        """Start ``process``'s sources unless they run already or the target has left."""
        with self._lock:
            if self._ended or process in self._running:
                return
            self._running.add(process)
            process.start(Link(self.where, process.route, self.client, self.kept))

    def stop(self, processes: Iterable[Process]) -> None:
        with self._lock:
            for process in processes:
                if process in self._running:
                    self._running.discard(process)
                    process.stop()

    def stop_all(self) -> None:
        """Stop every process's sources; each starts again at its next read."""
        with self._lock:
            self._stop_all()

    def end(self) -> None:
        """The target has left: stop everything, and start nothing again."""
        with self._lock:
            self._ended = True
            self._stop_all()
        self.kept.close()

    def _stop_all(self) -> None:
        running, self._running = self._running, set()
        for process in running:
            process.stop()
