"""The ``show info`` source: process-wide figures; required, as without it there is no snapshot."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from exporter.exposition.families import Family
from exporter.sources.base import Command, Source
from exporter.sources.info.model import info_families
from exporter.sources.info.parse import parse_info
from exporter.sources.values import ModelStats

SHOW_INFO = "show info"


class InfoSource(Source):
    name = "info"
    allowed = (r"show info",)
    required = True
    old_workers = True

    def commands(self) -> Sequence[Command]:
        return (Command(SHOW_INFO, parse_info),)

    def build(self, answers: Mapping[str, Any], stats: ModelStats) -> list[Family]:
        return info_families(answers[SHOW_INFO], stats, self.extra)
