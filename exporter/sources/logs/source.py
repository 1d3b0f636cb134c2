"""The log source: HAProxy's own log lines, streamed from a ring, as latency histograms and exact
codes; off unless the config has a ``logs`` section (config.py).

It streams (reader.py: ``show events <ring> -w -n``, level operator) and is polled: each poll
lists the rings (``show events``, any level) for the ring's ``dropped`` count, and builds the
families from what the stream counted so far (tally.py), with the names of the same poll's
``show stat`` as the only names that may become labels.  The totals are the exporter's own
counters and live as long as the source: an HAProxy reload or restart behind the same socket does
not reset them; an exporter restart, or a config reload that changes a source's section, does.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from exporter.exposition.families import Family
from exporter.sources.base import Command, Link, Source
from exporter.sources.doctable import DocRows, DocTable
from exporter.sources.logs import naming
from exporter.sources.logs.config import RING_NAME_PATTERN, LogsConfig, parse_logs_config
from exporter.sources.logs.events import Sink, parse_sinks
from exporter.sources.logs.model import Labels, health_families, log_families
from exporter.sources.logs.reader import RingReader
from exporter.sources.logs.tally import Known, Tally
from exporter.sources.stat.parse import BACKEND, FRONTEND, SERVER, StatTable
from exporter.sources.values import ModelStats

SHOW_EVENTS = Command("show events", parse_sinks)
SHOW_STAT = "show stat"

TABLE = DocTable(
    "**From HAProxy's log lines** (off by default: the `logs` section; a ring read with `show events <ring> -w -n`, "
    "level operator; see [docs/logs.md](docs/logs.md))",
    ("metric", "labels", "type", "from"), place=60)


class LogSource(Source):
    name = "logs"
    allowed = (r"show events", rf"show events {RING_NAME_PATTERN} -w -n")
    level = "operator"
    config_key = "logs"
    reads = (SHOW_STAT,)

    def __init__(self, options: Any = None, **kwargs: Any) -> None:
        super().__init__(options, **kwargs)
        self.config: LogsConfig | None = options
        self.tally: Tally | None = None
        self.reader: RingReader | None = None
        self.labels = Labels(self.extra)
        if self.config is not None and not self.old:
            self.tally = Tally(self.config)
            self.reader = RingReader(f"show events {self.config.ring} -w -n", self.tally)

    @staticmethod
    def parse_config(value: Any) -> LogsConfig | None:
        return parse_logs_config(value)

    def needed_level(self) -> str:
        return self.level if self.config is not None else "user"  # off: nothing is sent

    def commands(self) -> Sequence[Command]:
        return (SHOW_EVENTS,) if self.tally is not None else ()

    def start(self, link: Link) -> None:
        if self.reader is not None and self.tally is not None:
            self.tally.where = link.where
            self.reader.start(link)

    def stop(self) -> None:
        if self.reader is not None:
            self.reader.stop()

    def build(self, answers: Mapping[str, Any], stats: ModelStats) -> list[Family]:
        if self.tally is None or self.reader is None or self.config is None:
            return []
        table = answers.get(SHOW_STAT)
        if isinstance(table, StatTable):
            known = known_names(table)
            if known != self.tally.known:
                self.tally.set_known(known)
                self.labels.forget_unless(known)
            self.reader.ready()
        sinks: Mapping[str, Sink] = answers.get(SHOW_EVENTS.name) or {}
        ring = sinks.get(self.config.ring)
        dropped = {ring.name: ring.dropped} if ring is not None else {}
        view = self.tally.view()
        reader = self.reader
        return [*log_families(view, self.config.buckets, self.labels),
                *health_families(view, reader.up, reader.connects, dict(reader.failures), dropped, self.labels)]

    @classmethod
    def docs(cls) -> Sequence[DocRows]:
        rows = []
        for scope, labels in (("backend", "proxy"), ("server", "proxy, server")):
            for timer, (_, help) in naming.TIMERS.items():
                rows.append(f"| `{naming.histogram_name(scope, timer)}` | {labels} | histogram | {help} |")
        for scope in ("frontend", "backend"):
            rows.append(f"| `{naming.RESPONSES[0].format(scope=scope)}` | proxy, code | counter | "
                        f"{naming.RESPONSES[1]} |")
            rows.append(f"| `{naming.TERMINATIONS[0].format(scope=scope)}` | proxy, state | counter | "
                        f"{naming.TERMINATIONS[1]} |")
        for name, help in (naming.RETRIES, naming.REDISPATCHES):
            rows.append(f"| `{name}` | proxy | counter | {help} |")
        for (name, help), labels, kind in (
                (naming.LINES_READ, "", "counter"), (naming.LINES_REJECTED, "reason", "counter"),
                (naming.UNEXPORTED, "reason", "counter"), (naming.RING_DROPPED, "ring", "counter"),
                (naming.STREAM_UP, "", "gauge"), (naming.STREAM_CONNECTS, "", "counter"),
                (naming.STREAM_FAILURES, "reason", "counter")):
            rows.append(f"| `{name}` | {labels} | {kind} | {help} |")
        return ((TABLE, rows),)


def known_names(table: StatTable) -> Known:
    """The frontends, backends and servers one ``show stat`` lists."""
    px, sv = table.column("pxname"), table.column("svname")
    if px is None or sv is None:
        return Known(frozenset(), frozenset(), frozenset())
    names, servers = table.data[px], table.data[sv]
    return Known(frozenset(names[r] for r in table.kinds[FRONTEND]),
                 frozenset(names[r] for r in table.kinds[BACKEND]),
                 frozenset((names[r], servers[r]) for r in table.kinds[SERVER]))
