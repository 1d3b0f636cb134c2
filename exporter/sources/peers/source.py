"""The peers source: ``show peers``, one command at level user, a few lines per peer and table, so
on by default; a failure costs only these series."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from exporter.exposition.families import Family
from exporter.sources.base import Command, Source
from exporter.sources.doctable import RUNTIME, DocRows
from exporter.sources.peers import naming
from exporter.sources.peers.model import peer_families
from exporter.sources.peers.parse import parse_peers
from exporter.sources.values import ModelStats

SHOW_PEERS = Command("show peers", parse_peers)


class PeersSource(Source):
    name = "peers"
    allowed = (r"show peers",)
    level = "user"  # HAProxy checks no level for show peers (2.6, 2.8, 3.2, 3.4 answer a level-user socket alike)

    def commands(self) -> Sequence[Command]:
        return (SHOW_PEERS,)

    def build(self, answers: Mapping[str, Any], stats: ModelStats) -> list[Family]:
        peers = answers.get(SHOW_PEERS.name)
        return peer_families(peers, stats, self.extra) if peers is not None else []

    @classmethod
    def docs(cls) -> Sequence[DocRows]:
        labels = ", ".join(naming.LABELS)
        lines = []
        for key, (suffix, help) in naming.GAUGES.items():
            shown = f"{labels}, {naming.STATUS_LABEL}" if key == "status" else labels
            lines.append(f"| `{naming.PREFIX}{suffix}` | {shown} | {help} | ours |")
        for field, (suffix, help) in naming.COUNTERS.items():
            lines.append(f"| `{naming.PREFIX}{suffix}` | {labels} | {help} (`show peers {field}`; counter) | ours |")
        return ((RUNTIME, lines),)
