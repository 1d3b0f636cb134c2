"""The ``show stat`` source: frontends, backends, servers and listeners; required."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from exporter.exposition.families import NO_SUFFIX, Family, LabelSuffix
from exporter.sources.base import Command, Source
from exporter.sources.stat.model import LabelCache, stat_families
from exporter.sources.stat.parse import parse_stat
from exporter.sources.values import ModelStats

SHOW_STAT = "show stat"


class StatSource(Source):
    name = "stat"
    allowed = (r"show stat",)
    required = True
    old_workers = True

    def __init__(self, options: Any = None, extra: LabelSuffix = NO_SUFFIX) -> None:
        super().__init__(options, extra)
        self.labels = LabelCache(extra)  # row label objects reused from poll to poll

    def commands(self) -> Sequence[Command]:
        return (Command(SHOW_STAT, parse_stat),)

    def build(self, answers: Mapping[str, Any], stats: ModelStats) -> list[Family]:
        return stat_families(answers[SHOW_STAT], stats, self.labels)
