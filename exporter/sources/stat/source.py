"""The ``show stat`` source: frontends, backends, servers and listeners; required."""

from __future__ import annotations

from functools import partial
from typing import Any, Mapping, Sequence

from exporter.exposition.families import NO_SUFFIX, Family, LabelSuffix
from exporter.sources.base import DEFAULT_LIMITS, Command, Limits, Source
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


class StatSource(Source):
    name = "stat"
    allowed = (r"show stat",)
    required = True
    old_workers = True

    def __init__(self, options: Any = None, extra: LabelSuffix = NO_SUFFIX, old: bool = False,
                 limits: Limits = DEFAULT_LIMITS) -> None:
        super().__init__(options, extra, old, limits)
        self.reuse = StatReuse(extra)  # label objects and unchanged families, from poll to poll

    def commands(self) -> Sequence[Command]:
        # rows x columns is refused while reading when far above the series cap: the rows are what
        # would take the memory, long before the series are counted.  A row has about twice as
        # many cells as it makes series (BENCHMARKS.md), hence the factor; the series themselves
        # are held to poll.max_series once built.
        # The last table's columns go with it: the parse keeps an unchanged column as that very list.
        return (Command(SHOW_STAT, partial(parse_stat, max_cells=CELLS_PER_SERIES * self.limits.max_series,
                                           previous=self.reuse.columns())),)

    def build(self, answers: Mapping[str, Any], stats: ModelStats) -> list[Family]:
        families = stat_families(answers[SHOW_STAT], stats, self.reuse)
        if self.old:
            return [f for f in families if f.kind == COUNTER or f.name in ADDITIVE]
        return families
