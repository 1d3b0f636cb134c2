"""The ``show info`` source: process-wide figures; required, as without it there is no snapshot."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from exporter.exposition.families import Family
from exporter.sources import doctable
from exporter.sources.base import Command, Source
from exporter.sources.doctable import DocRows, DocTable
from exporter.sources.info.model import info_families
from exporter.sources.info.naming import INFO_METRICS
from exporter.sources.info.parse import parse_info
from exporter.sources.values import COUNTER, ModelStats

SHOW_INFO = "show info"
# What an old worker contributes: its counters and the levels that add up across processes.
ADDITIVE = frozenset(m.name for m in INFO_METRICS if m.additive)

FIELDS = DocTable("**`show info`** (no labels)", ("`show info` field", "metric", "type", "conversion", "promex"),
                  place=30)


class InfoSource(Source):
    name = "info"
    allowed = (r"show info",)
    required = True
    old_workers = True

    def commands(self) -> Sequence[Command]:
        return (Command(SHOW_INFO, parse_info),)

    def build(self, answers: Mapping[str, Any], stats: ModelStats) -> list[Family]:
        families = info_families(answers[SHOW_INFO], stats, self.extra)
        if self.old:
            return [f for f in families if f.kind == COUNTER or f.name in ADDITIVE]
        return families

    @classmethod
    def docs(cls) -> Sequence[DocRows]:
        lines = []
        for m in INFO_METRICS:
            note = f" (used when `{m.fallback_for}` is absent)" if m.fallback_for else ""
            lines.append(f"| `{m.field}`{note} | `{m.name}` | {m.kind} | {doctable.conversion(m.scale)} | "
                         f"{'yes' if m.promex else 'ours'} |")
        lines.append("| `Version`, `Release_date` | `haproxy_process_build_info{version,release_date}` (value 1) | "
                     "gauge |  | yes (promex: version only) |")
        lines.append("| `node`, `description` | `haproxy_process_info{node,description}` (value 1) | gauge |  | ours |")
        lines.append("| `Tainted` | `haproxy_process_tainted` | gauge | hex → number | ours |")
        return ((FIELDS, lines),)
