"""The maps and ACLs source: ``show map`` and ``show acl``, one line per list with its count, so
cheap at any size (100 maps of 100,000 entries are 100 lines) and on by default.

Level user up to 3.2; HAProxy 3.4 answers ``Permission denied`` below level admin (checked on
2.6, 2.8, 3.2 and 3.4), counted as ``permission_denied`` for these two commands only.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from exporter.exposition.families import Family
from exporter.sources.base import Command, Source
from exporter.sources.doctable import RUNTIME, DocRows
from exporter.sources.maps import naming
from exporter.sources.maps.model import acl_families, map_families
from exporter.sources.maps.parse import parse_acls, parse_maps
from exporter.sources.values import ModelStats

SHOW_MAP = Command("show map", parse_maps)
SHOW_ACL = Command("show acl", parse_acls)


class MapsSource(Source):
    name = "maps"
    allowed = (r"show map", r"show acl")  # the listings only, never a list's entries

    def commands(self) -> Sequence[Command]:
        return (SHOW_MAP, SHOW_ACL)

    def build(self, answers: Mapping[str, Any], stats: ModelStats) -> list[Family]:
        families: list[Family] = []
        maps = answers.get(SHOW_MAP.name)
        if maps is not None:
            families += map_families(maps, stats, self.extra)
        acls = answers.get(SHOW_ACL.name)
        if acls is not None:
            families += acl_families(acls, stats, self.extra)
        return families

    @classmethod
    def docs(cls) -> Sequence[DocRows]:
        listed = (naming.MAP_ENTRIES, naming.ACL_ENTRIES)
        inline = (naming.INLINE_LISTS, naming.INLINE_ENTRIES)
        lines = [f"| `{name}` | {naming.LABEL} | {help} | ours |" for name, help in listed]
        lines += [f"| `{name}` | | {help} (`show acl`) | ours |" for name, help in inline]
        return ((RUNTIME, lines),)
