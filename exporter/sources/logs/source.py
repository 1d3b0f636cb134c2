"""The log source: HAProxy's own log lines, streamed from a ring, as latency histograms and exact
codes; off unless the config has a ``logs`` section (config.py).

It streams (reader.py: ``show info;show events <ring> -w -n``, level operator) and sends nothing when
polled: each poll builds the families from what the stream counted so far (tally.py), with the
names of the same poll's ``show stat`` as the only names that may become labels, and the pid of
its ``show info`` to notice a reload behind the socket (the stream is then opened again, unless
the new process serves it already: reader.py).  The totals are the exporter's own counters and
live as long as the source: an HAProxy reload or restart behind the same socket does not reset
them; an exporter restart, or a config reload that changes a source's section, does.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from exporter.exposition.families import Family
from exporter.sources.base import Link, Source
from exporter.sources.doctable import DocRows, DocTable
from exporter.sources.logs import naming
from exporter.sources.logs.config import RING_NAME_PATTERN, LogsConfig, parse_logs_config
from exporter.sources.logs.pipeline import Pipeline
from exporter.sources.logs.reader import SHOW_INFO
from exporter.sources.logs.tally import Known
from exporter.sources.stat.parse import BACKEND, FRONTEND, SERVER, StatTable
from exporter.sources.values import ModelStats
from exporter.validation import ConfigError, plain

SHOW_STAT = "show stat"

TABLE = DocTable(
    "**From HAProxy's log lines** (off by default: the `logs` section; a ring read with `show events <ring> -w -n` "
    "after a `show info` on the same connection, "
    "level operator; see [docs/logs.md](docs/logs.md))",
    ("metric", "labels", "type", "from"), place=60)


class LogSource(Source):
    name = "logs"
    # show info is also chained before the stream's command on its connection (reader.py: the pid
    # of the process that serves the stream), as well as read by the poll.
    allowed = (rf"show events {RING_NAME_PATTERN} -w -n", SHOW_INFO)
    level = "operator"
    config_key = "logs"
    reads = (SHOW_STAT, SHOW_INFO)

    def __init__(self, options: Any = None, **kwargs: Any) -> None:
        super().__init__(options, **kwargs)
        self.config: LogsConfig | None = options
        self.pipeline: Pipeline | None = None  # the target's (Kept), from start()

    @staticmethod
    def parse_config(value: Any) -> LogsConfig | None:
        return parse_logs_config(value)

    @staticmethod
    def dump_config(section: Any) -> Any:
        """Off (None) leaves the section out; with syslog there is no ring format, and a UNIX
        socket takes no allow list."""
        if section is None:
            return None
        out = plain(section)
        if section.syslog is not None:
            del out["ring_format"]
            if section.syslog.listen.startswith("unix:"):
                del out["syslog"]["allow"]
        return out

    @staticmethod
    def check_targets(section: Any, targets: int) -> None:
        if isinstance(section, LogsConfig) and section.syslog is not None and targets > 1:
            raise ConfigError(f"logs.syslog: one socket for {targets} targets cannot tell whose a line is: read each "
                              f"HAProxy's ring instead (logs.ring), or run an exporter beside each HAProxy")

    def needed_level(self) -> str:
        return self.level if self.config is not None else "user"  # off: nothing is sent

    def start(self, link: Link) -> None:
        """Take the target's pipeline (made on the first start, kept across processes while the
        section is the same) and hand it this process's way to the socket."""
        if self.config is None:
            link.kept.drop(self.name)  # turned off by a reload: its reader stops
            return
        if self.old:
            return  # an old worker's lines come through the pipeline's transport, or not at all
        config, where = self.config, link.where
        self.pipeline = link.kept.get(self.name, config, lambda: Pipeline(config, where))
        if self.pipeline is not None:
            self.pipeline.start(link)

    def build(self, answers: Mapping[str, Any], stats: ModelStats) -> list[Family]:
        if self.pipeline is None:
            return []
        table, info = answers.get(SHOW_STAT), answers.get(SHOW_INFO)
        pid = info.get("Pid") if isinstance(info, dict) else None
        return self.pipeline.build(known_names(table) if isinstance(table, StatTable) else None, pid, stats)

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
                (naming.STREAM_FAILURES, "reason", "counter"), (naming.SYSLOG_UP, "", "gauge"),
                (naming.SYSLOG_DATAGRAMS, "", "counter"), (naming.SYSLOG_LOST, "reason", "counter"),
                (naming.SYSLOG_FAILURES, "reason", "counter")):
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
