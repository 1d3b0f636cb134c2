"""The stick-table source for the poller: which commands to run, and families from their answers.

Runs ``show table`` (always, cheap: one line per table) and ``show table <name> [filters]`` for
each configured table, each through the poller's ``run`` so durations and errors are recorded per
command (label ``show table <name>``).  A table that fails (no such table, a level-user socket,
a filter HAProxy refuses) loses only its own entry series; everything else is still exported.
"""

from __future__ import annotations

import logging
from typing import Callable, Optional, Sequence

from exporter.sources.sticktables.config import StickTableConfig
from exporter.exposition.families import Family
from exporter.sources.sticktables.parse import TableDump, parse_table_dump, parse_table_summary
from exporter.sources.sticktables.config import dump_command
from exporter.sources.sticktables.model import entry_families, summary_families

log = logging.getLogger("exporter.sources.sticktables.source")

Run = Callable[..., Optional[object]]  # Poller._run_command(command, parse, label)


class StickTableSource:
    """Holds what must persist between polls (which warnings were already logged)."""

    def __init__(self, tables: Sequence[StickTableConfig]) -> None:
        self.tables = tuple(tables)
        self._warned_sort: set[str] = set()
        self.last_invalid_values = 0  # values of the last poll that were not numbers (skipped)

    def families(self, run: Run) -> list[Family]:
        summary = run("show table", parse_table_summary)
        families: list[Family] = summary_families(summary) if isinstance(summary, list) else []
        dumps: list[tuple[StickTableConfig, TableDump]] = []
        for table in self.tables:
            dump = run(dump_command(table), parse_table_dump, f"show table {table.name}")
            if isinstance(dump, TableDump):
                dumps.append((table, dump))
        self.last_invalid_values = 0
        if self.tables:
            try:
                entries, stats = entry_families(dumps)
            except Exception:  # a bug here must cost the entry series, not the poll
                log.exception("building stick-table entry series failed")
                return families
            families.extend(entries)
            self.last_invalid_values = stats.invalid_values
            for name in stats.sort_missing:
                if name not in self._warned_sort:
                    self._warned_sort.add(name)
                    log.warning("stick table %s does not store sort_by data; ranking by the default order", name)
        return families
