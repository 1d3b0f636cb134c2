"""The master CLI's process list: which workers to read, and ``haproxy_master_*``; required on a
master, as without it no worker can be reached."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from exporter.exposition.families import Family
from exporter.sources.base import Command, Source
from exporter.sources.proc.model import master_families
from exporter.sources.proc.parse import parse_proc
from exporter.sources.values import ModelStats

SHOW_PROC = Command("show proc", parse_proc)


class ProcSource(Source):
    name = "proc"
    allowed = (r"show proc",)
    required = True

    def commands(self) -> Sequence[Command]:
        return (SHOW_PROC,)

    def build(self, answers: Mapping[str, Any], stats: ModelStats) -> list[Family]:
        return master_families(answers[SHOW_PROC.name])
