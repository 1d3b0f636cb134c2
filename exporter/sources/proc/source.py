"""The master CLI's process list: which workers to read, and ``haproxy_master_*``; required on a
master, as without it no worker can be reached."""

from __future__ import annotations

from typing import Any, Mapping

from exporter.exposition.families import Family
from exporter.sources.base import Command, Worker, WorkerListing
from exporter.sources.proc.model import master_families, roles
from exporter.sources.proc.parse import parse_proc
from exporter.sources.values import ModelStats

SHOW_PROC = Command("show proc", parse_proc)


class ProcSource(WorkerListing):
    name = "proc"
    allowed = (r"show proc",)
    required = True
    listing = SHOW_PROC

    def workers(self, answers: Mapping[str, Any]) -> tuple[list[Worker], list[Worker]]:
        current, old = roles(answers[SHOW_PROC.name])
        return [Worker(p.pid, p.relative) for p in current], [Worker(p.pid, p.relative) for p in old]

    def build(self, answers: Mapping[str, Any], stats: ModelStats) -> list[Family]:
        return master_families(answers[SHOW_PROC.name])
