"""The ``show stat`` source: frontends, backends, servers and listeners; required."""

from __future__ import annotations

from functools import partial
from typing import Any, Mapping, Sequence

from exporter.clock import SYSTEM_CLOCK, Clock
from exporter.exposition.families import NO_SUFFIX, Family, LabelSuffix
from exporter.sources import doctable
from exporter.sources.base import Command, Limits, Source
from exporter.sources.doctable import DocRows, DocTable
from exporter.sources.stat import naming
from exporter.sources.stat.model import StatReuse, stat_families
from exporter.sources.stat.naming import MODULE_GAUGES, SCOPES, STAT_METRICS
from exporter.sources.stat.parse import parse_stat
from exporter.sources.values import COUNTER, ModelStats

CELLS_PER_SERIES = 3
SHOW_STAT = "show stat"
# What an old worker contributes: its counters and the levels that add up across processes
# (sessions, queues, connections, current rates; module counters' open connections and streams).
ADDITIVE = frozenset(
    {m.name_for(scope) for m in STAT_METRICS if m.additive for scope in SCOPES}
    | {f"haproxy_{scope}_{column}" for column in MODULE_GAUGES for scope in SCOPES}
)

COLUMNS = DocTable(
    "**`show stat`**: one series per frontend, backend, server and listener row that has a value "
    "(an empty cell gives no series). Scopes: `frontend`, `backend` (labels `proxy`), `server` "
    "(`proxy`, `server`), `listener` (`proxy`, `listener`).",
    ("`show stat` column", "metric (`haproxy_<scope>_…`)", "type", "conversion", "promex"), place=10)
STATES = DocTable("**State sets, computed and info metrics**", ("metric", "labels", "from", "promex"), place=20)


class StatSource(Source):
    name = "stat"
    allowed = (r"show stat",)
    required = True
    old_workers = True

    def __init__(self, options: Any = None, extra: LabelSuffix = NO_SUFFIX, old: bool = False,
                 limits: Limits | None = None, clock: Clock = SYSTEM_CLOCK) -> None:
        super().__init__(options, extra, old, limits, clock)
        self.reuse = StatReuse(extra)  # label objects and unchanged families, from poll to poll

    def commands(self) -> Sequence[Command]:
        # rows x columns is refused while reading when far above the series cap: the rows are what
        # would take the memory, long before the series are counted.  A row has about twice as
        # many cells as it makes series (BENCHMARKS.md), hence the factor; the series themselves
        # are held to poll.max_series once built.  Outside a poll (no limits), only what the
        # parser bounds by itself.  The last table's columns go with it: the parse keeps an
        # unchanged column as that very list.
        cells = None if self.limits is None else CELLS_PER_SERIES * self.limits.max_series
        return (Command(SHOW_STAT, partial(parse_stat, max_cells=cells, previous=self.reuse.columns())),)

    def build(self, answers: Mapping[str, Any], stats: ModelStats) -> list[Family]:
        families = stat_families(answers[SHOW_STAT], stats, self.reuse)
        if self.old:
            return [f for f in families if f.kind == COUNTER or f.name in ADDITIVE]
        return families

    @classmethod
    def docs(cls) -> Sequence[DocRows]:
        return ((COLUMNS, _column_rows()), (STATES, _state_rows()))


def _column_rows() -> list[str]:
    lines = []
    for m in STAT_METRICS:
        names = f"`{m.suffix}`" + "".join(f" (server rows: `{n}`)" for _, n in m.names.items())
        lines.append(f"| `{m.column}` | {names} | {m.kind} | {doctable.conversion(m.scale)} | "
                     f"{'yes' if m.promex else 'ours'} |")
    codes = ", ".join(f"`{c}`" for c, _ in naming.HTTP_RESPONSE_CODES)
    lines.append(f"| {codes} | `http_responses_total{{code=\"1xx\"…\"other\"}}` | counter |  | yes |")
    return lines


def _state_rows() -> list[str]:
    lines = []
    states = {
        "server": naming.SERVER_STATES, "backend": naming.PROXY_STATES,
        "frontend": naming.PROXY_STATES, "listener": naming.LISTENER_STATES,
    }
    for scope, labels in naming.SCOPE_LABELS.items():
        lbl = ", ".join(labels)
        lines.append(f"| `haproxy_{scope}_status` | {lbl}, state ∈ {'/'.join(states[scope])} | `status` | yes |")
    lines.append(f"| `haproxy_server_check_status`, `haproxy_server_agent_status` | proxy, server, state ∈ "
                 f"{'/'.join(naming.CHECK_STATES)} | `check_status`, `agent_status` | yes |")
    lines.append("| `haproxy_backend_agg_server_status`, `haproxy_backend_agg_server_check_status` | proxy, state "
                 "| counted from the server rows | yes |")
    lines.append("| `haproxy_backend_agg_check_status` | proxy, state | counted from the server rows | yes |")
    for scope, pairs in naming.INFO_LABELS.items():
        lbl = ", ".join(naming.SCOPE_LABELS[scope] + tuple(label for _, label in pairs))
        cols = ", ".join(f"`{c}`" for c, _ in pairs)
        lines.append(f"| `haproxy_{scope}_info` (value 1) | {lbl} | {cols} | ours |")
    lines.append("| `haproxy_<scope>_<column>[_total]` | as the scope | any other numeric column, by header name "
                 "(module counters such as `h2_headers_rcvd` get `_total`) | ours |")
    return lines
