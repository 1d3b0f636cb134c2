"""The info and stat models together, as one poll's families from one ``show info`` and one
``show stat`` (what the single-socket pipeline built): for the model tests and the poll benchmark."""

from __future__ import annotations

from exporter.exposition.families import Family
from exporter.sources.info.model import info_families
from exporter.sources.stat.model import StatReuse, stat_families
from exporter.sources.stat.parse import StatTable
from exporter.sources.values import ModelStats


def build_families(info: dict[str, str] | None, table: StatTable | None,
                   cache: StatReuse | None = None) -> tuple[list[Family], ModelStats]:
    """The families of both; pass the same ``cache`` every call to reuse label objects, as a poll does."""
    stats = ModelStats()
    families: list[Family] = []
    if info is not None:
        families.extend(info_families(info, stats))
    if table is not None:
        families.extend(stat_families(table, stats, cache))
    return families, stats
