"""The resolvers source: ``show resolvers``, cheap and at level user, so on by default; a failure
costs only these series."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from exporter.exposition.families import Family
from exporter.sources.base import Command, Source
from exporter.sources.doctable import RUNTIME, DocRows
from exporter.sources.resolvers import naming
from exporter.sources.resolvers.model import resolver_families
from exporter.sources.resolvers.parse import parse_resolvers
from exporter.sources.values import ModelStats

SHOW_RESOLVERS = Command("show resolvers", parse_resolvers)


class ResolversSource(Source):
    name = "resolvers"
    allowed = (r"show resolvers",)

    def commands(self) -> Sequence[Command]:
        return (SHOW_RESOLVERS,)

    def build(self, answers: Mapping[str, Any], stats: ModelStats) -> list[Family]:
        counters = answers.get(SHOW_RESOLVERS.name)
        return resolver_families(counters, stats, self.extra) if counters is not None else []

    @classmethod
    def docs(cls) -> Sequence[DocRows]:
        labels = ", ".join(naming.LABELS)
        return ((RUNTIME, [f"| `{naming.PREFIX}{suffix}` | {labels} | {help} (`show resolvers`) | yes (3.0+) |"
                           for suffix, help in naming.COUNTERS.values()]),)
