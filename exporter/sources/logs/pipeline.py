"""One target's log lines, from the transport that brings them to the families a poll publishes.

The pipeline is the target's, not a process's (sources/base.py Kept): through a master CLI each
reload brings a new worker, read by new sources, while the histograms are the exporter's own
counters that no HAProxy reload may reset, and a syslog socket serves every worker at once.  The
log source of the current process hands it the way to the socket (:meth:`Pipeline.start`) and
asks it for the families (:meth:`Pipeline.build`); the target's end closes it.
"""

from __future__ import annotations

from typing import Any

from exporter.exposition.families import NO_SUFFIX, Family
from exporter.runtime.client import Client
from exporter.sources.base import Link
from exporter.sources.logs.config import LogsConfig
from exporter.sources.logs.model import Labels, health_families, log_families, syslog_families
from exporter.sources.logs.process import ReaderProcess
from exporter.sources.logs.reader import Health
from exporter.sources.logs.syslog import SyslogReceiver
from exporter.sources.logs.tally import Known, Tally


class Pipeline:
    """The tally of one target's log lines and the transport that fills it: the ring's reader
    through the target's socket, or a syslog socket every process of the target sends to."""

    def __init__(self, config: LogsConfig, where: str = "") -> None:
        self.config = config
        self.tally = Tally(config, where)
        self.health = Health()
        self.labels = Labels(NO_SUFFIX)
        # Opened once the names are known (the first build), so that no first line reads as unknown.
        self._receiver = SyslogReceiver(config.syslog, self.tally.feed, where) if config.syslog else None
        self._receiving = False
        self._reader: ReaderProcess | None = None
        self._client: Client | None = None
        self._built_for: object = None
        self._pid: str | None = None  # of the process behind the socket, as the last poll's show info said

    def start(self, link: Link) -> None:
        """Read through ``link``: a new reader when the target's socket is another one (its address
        changed); the counts go on."""
        self.tally.where = link.where
        if self._receiver is not None:
            return  # every process sends to the socket: nothing to open per process
        if self._reader is not None and link.client is self._client:
            return
        if self._reader is not None:
            self._reader.stop()
        self._client = link.client
        self._reader = ReaderProcess(f"show events {self.config.ring} -w -n", self.tally, self.health)
        if self.tally.known is not None:
            self._reader.ready()
        self._reader.start(link)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.stop()
        if self._receiver is not None:
            self._receiver.close()

    def build(self, table_known: Known | None, pid: str | None, cycle: Any) -> list[Family]:
        """The families of what was counted so far, once per ``cycle`` (the cycle's ModelStats: a
        target whose current workers are several builds them once).  ``pid``: the process the
        poll read; when it is another than the last poll's, the reader opens the stream again
        unless that process serves it already (a restart: the stream came back by itself)."""
        if self._built_for is cycle:
            return []
        self._built_for = cycle
        if pid is not None:
            if self._pid is not None and pid != self._pid and self._reader is not None:
                self._reader.renew(pid)
            self._pid = pid
        if table_known is not None:
            if table_known != self.tally.known:
                self.tally.set_known(table_known)
                self.labels.forget_unless(table_known)
            if self._reader is not None:
                self._reader.ready()
            if self._receiver is not None and not self._receiving:
                self._receiving = True
                self._receiver.start()
        view = self.tally.view()
        families = log_families(view, self.config.buckets, self.labels)
        if self._receiver is not None:
            return [*families, *health_families(view, self.labels), *syslog_families(self._receiver, self.labels)]
        health = self.health
        return [*families, *health_families(view, self.labels, self.config.ring or "", health)]
