"""The stick-table source: sizes of every table, entries of the tables named in the config.

Runs ``show table`` (always, cheap: one line per table) and ``show table <name> [filters]`` for
each configured table, each recorded as its own command (label ``show table <name>``).  A table
that fails (no such table, a level-user socket, a filter HAProxy refuses) loses only its own entry
series; everything else is still exported.  Each table's local updates come from the peers source's
``show peers`` of the same cycle (``Source.reads``), not from a command of its own.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any, Mapping, Sequence

from exporter.exposition.families import Family
from exporter.sources.base import Command, Source
from exporter.sources.peers.source import SHOW_PEERS
from exporter.sources.sticktables.config import (
    FILTER_PATTERN,
    TABLE_NAME_PATTERN,
    StickTableConfig,
    dump_command,
    parse_stick_tables,
)
from exporter.sources.sticktables.model import entry_families, local_updates_family, summary_families
from exporter.sources.sticktables.parse import TableDump, parse_table_dump, parse_table_summary
from exporter.sources.values import ModelStats

log = logging.getLogger("exporter.sources.sticktables")
SUMMARY = "show table"


def dump_label(table: StickTableConfig) -> str:
    """The command's name in metrics: the table, without its filters."""
    return f"show table {table.name}"


class StickTableSource(Source):
    name = "sticktables"
    allowed = (r"show table", rf"show table {TABLE_NAME_PATTERN}(?:{FILTER_PATTERN}){{0,4}}")
    level = "operator"  # the summary works at level user; entries need operator
    config_key = "stick_tables"
    reads = (SHOW_PEERS.name,)  # the peers source's answer: each shared table's local updates

    def __init__(self, options: Any = None, **kwargs: Any) -> None:
        super().__init__(options or (), **kwargs)
        self.tables: tuple[StickTableConfig, ...] = tuple(self.options)
        self._warned_sort: set[str] = set()

    @staticmethod
    def parse_config(value: Any) -> tuple[StickTableConfig, ...]:
        return parse_stick_tables(value)

    def needed_level(self) -> str:
        return self.level if self.tables else "user"  # the summary alone works at level user

    def commands(self) -> Sequence[Command]:
        # The cap applies while the dump is read: entries beyond it are never made (select.py).
        dumps = [Command(dump_command(t), partial(parse_table_dump, max_entries=t.max_entries, sort_by=t.sort_by),
                         dump_label(t)) for t in self.tables]
        return [Command(SUMMARY, parse_table_summary), *dumps]

    def build(self, answers: Mapping[str, Any], stats: ModelStats) -> list[Family]:
        summary = answers.get(SUMMARY)
        families: list[Family] = summary_families(summary) if summary is not None else []
        peers = answers.get(SHOW_PEERS.name)
        if summary is not None and peers is not None:
            updates, invalid = local_updates_family(summary, peers)
            families.append(updates)
            stats.invalid_values += invalid
        if not self.tables:
            return families
        dumps = [(t, answers[dump_label(t)]) for t in self.tables if isinstance(answers.get(dump_label(t)), TableDump)]
        try:
            entries, entry_stats = entry_families(dumps)
        except Exception:  # a bug here must cost the entry series, not the rest of the source
            log.exception("building stick-table entry series failed")
            return families
        stats.invalid_values += entry_stats.invalid_values
        for name in entry_stats.sort_missing:
            if name not in self._warned_sort:
                self._warned_sort.add(name)
                log.warning("stick table %s does not store sort_by data; ranking by the default order", name)
        return families + entries
