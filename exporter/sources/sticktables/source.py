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
from exporter.sources.doctable import DocRows, DocTable
from exporter.sources.peers.source import SHOW_PEERS
from exporter.sources.sticktables import naming
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
DOCS = DocTable("**Stick tables** (`show table`; entries only for the tables named in `stick_tables`, see "
                "[docs/sticktables.md](docs/sticktables.md); all gauges)", ("metric", "labels", "from", "promex"),
                place=40)


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

    @staticmethod
    def dump_config(section: Any) -> Any:
        """Each table with its filters written as the file writes them ('data.gpt0 gt 0')."""
        return [{"name": t.name, "filters": [f"data.{dtype} {op} {value}" for dtype, op, value in t.filters],
                 "max_entries": t.max_entries, **({"sort_by": t.sort_by} if t.sort_by is not None else {})}
                for t in section]

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

    @classmethod
    def docs(cls) -> Sequence[DocRows]:
        lines = []
        for name, _help in (naming.TABLE_SIZE, naming.TABLE_USED):
            lines.append(f"| `{name}` | name, type | `show table` | yes |")
        lines.append(f"| `{naming.TABLE_UTILIZATION[0]}` | name, type | used / size | ours |")
        lines.append(f"| `{naming.TABLE_LOCAL_UPDATES[0]}` | name, type | `show peers` `localupdate=`; 0 for a table "
                     "no peers section shares | yes (3.4+) |")
        for name, help in (naming.ENTRIES_SEEN, naming.ENTRIES_EXPORTED, naming.ENTRIES_DROPPED, naming.ENTRY_USE,
                           naming.ENTRY_EXPIRE):
            labels = "table" if "entries_" in name else "table, key"
            lines.append(f"| `{name}` | {labels} | {help} | ours |")
        seen = set()
        for dtype in naming.DATA_TYPES.values():
            if dtype.metric in seen:
                continue
            seen.add(dtype.metric)
            labels = {naming.NUMBER: "table, key", naming.RATE: "table, key, period", naming.ARRAY: "table, key, index",
                      naming.ARRAY_RATE: "table, key, index, period", naming.SERVER: "table, key, server"}[dtype.kind]
            lines.append(f"| `{dtype.metric}` | {labels} | {dtype.help} | ours |")
        return ((DOCS, lines),)
