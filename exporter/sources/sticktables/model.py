"""Turn parsed stick tables into metric families: pure, records in and families out.

Two layers, because their cost differs by orders of magnitude:

* every table, always: ``size``, ``used`` (promex names and labels) and a utilisation ratio;
* entries, only for the tables named in the config, capped at ``max_entries`` per table.  Over
  the cap the entries with the highest ``sort_by`` value are kept, and ``entries_seen`` /
  ``entries_exported`` / ``entries_dropped`` say what happened, so a cut is never silent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Optional, Sequence

from exporter.exposition.families import Family, LabelSet, escape_label_value, format_float
from exporter.sources.peers.parse import Peer
from exporter.sources.sticktables import naming
from exporter.sources.sticktables.config import StickTableConfig
from exporter.sources.sticktables.parse import Entry, TableDump, TableInfo, key_text
from exporter.sources.sticktables.select import Keeper
from exporter.sources.values import number_text

_METRIC_SAFE = re.compile(r"[a-z][a-z0-9_]{0,63}")


@dataclass
class TableSelection:
    """What the cap did to one table's dump."""

    seen: int
    kept: list[Entry]
    sort_by: Optional[str]  # the data element used to rank (None: no ranking was needed or possible)
    sort_missing: bool = False  # the configured sort_by is not stored in this table


@dataclass
class EntryStats:
    """Facts the poller reports or logs: values that were not numbers, sort_by not stored."""

    invalid_values: int = 0
    sort_missing: list[str] = field(default_factory=list)


def summary_families(tables: Sequence[TableInfo]) -> list[Family]:
    """``haproxy_sticktable_size``/``used`` per table (labels ``name``, ``type``) and the ratio."""
    size = Family(naming.TABLE_SIZE[0], "gauge", naming.TABLE_SIZE[1], scope=naming.SCOPE)
    used = Family(naming.TABLE_USED[0], "gauge", naming.TABLE_USED[1], scope=naming.SCOPE)
    ratio = Family(naming.TABLE_UTILIZATION[0], "gauge", naming.TABLE_UTILIZATION[1], scope=naming.SCOPE)
    for table in tables:
        labels = LabelSet((("name", table.name), ("type", table.type)))
        size.add(labels, str(table.size))
        used.add(labels, str(table.used))
        if table.size > 0:
            ratio.add(labels, format_float(table.used / table.size))
    return [size, used, ratio]


def select_entries(entries: list[Entry], max_entries: int, sort_by: Optional[str]) -> TableSelection:
    """Keep at most ``max_entries``: those with the highest ``sort_by`` (ties keep HAProxy's order).

    The same choice :func:`~exporter.sources.sticktables.parse.parse_table_dump` makes while it
    reads a dump with a cap (select.py), for entries already made."""
    keep: Keeper[Entry] = Keeper(max_entries, sort_by)
    for entry in entries:
        if keep.room():
            keep.append(entry)
            continue
        rank = keep.rank(entry.use, entry.exp, entry.fields)
        if keep.wants(rank):
            keep.add(rank, entry)
    if not keep.cut():
        return TableSelection(len(entries), entries, None)
    return TableSelection(keep.seen, keep.kept(), keep.by, keep.missing)


def table_selection(dump: TableDump, max_entries: int, sort_by: Optional[str]) -> TableSelection:
    """What is exported of a dump: cut already if it was parsed with the cap, else cut here."""
    if dump.seen > len(dump.entries):
        return TableSelection(dump.seen, dump.entries, dump.sort_by, dump.sort_missing)
    return select_entries(dump.entries, max_entries, sort_by)


class _Families:
    """Families by name, created on first use, in a stable order."""

    def __init__(self) -> None:
        self.by_name: dict[str, Family] = {}

    def get(self, name: str, help: str) -> Family:
        fam = self.by_name.get(name)
        if fam is None:
            fam = self.by_name[name] = Family(name, "gauge", help, scope=naming.SCOPE)
        return fam


# What one data element becomes: its family, the extra labels (pairs, escaped text) and its kind.
Slot = tuple[Family, tuple[tuple[str, str], ...], str, str]


def _element_family(families: _Families, name: str, period: str) -> Optional[Slot]:
    """Family, extra labels and kind for one data element, or None when it cannot be named."""
    found = naming.element_type(name)
    extra: tuple[tuple[str, str], ...] = ()
    if found is None:
        if not _METRIC_SAFE.fullmatch(name):
            return None
        # A data type newer than this table: export it under its own name rather than lose it.
        kind = naming.RATE if period else naming.NUMBER
        fam = families.get(naming.PREFIX + name, f"Stick-table data type {name} (not in the naming table)")
    else:
        dtype, index = found
        kind = dtype.kind
        fam = families.get(dtype.metric, dtype.help)
        if index is not None:
            extra += (("index", index),)
    if period:
        extra += (("period", naming.period_text(int(period))),)
    return fam, extra, ",".join(f'{k}="{escape_label_value(v)}"' for k, v in extra), kind


def entry_families(dumps: Iterable[tuple[StickTableConfig, TableDump]]) -> tuple[list[Family], EntryStats]:
    """Per-entry series for the configured tables plus the seen/exported/dropped counts."""
    families = _Families()
    stats = EntryStats()
    seen_f = families.get(*naming.ENTRIES_SEEN)
    exported_f = families.get(*naming.ENTRIES_EXPORTED)
    dropped_f = families.get(*naming.ENTRIES_DROPPED)
    families.get(*naming.ENTRY_USE)  # made before the data types (so listed first); _add_entries fills them
    families.get(*naming.ENTRY_EXPIRE)
    for config, dump in dumps:
        table = dump.table
        chosen = table_selection(dump, config.max_entries, config.sort_by)
        if chosen.sort_missing:
            stats.sort_missing.append(table.name)
        table_labels = LabelSet((("table", table.name),))
        seen_f.add(table_labels, str(chosen.seen))
        exported_f.add(table_labels, str(len(chosen.kept)))
        dropped_f.add(table_labels, str(chosen.seen - len(chosen.kept)))
        stats.invalid_values += _add_entries(families, table, table_labels, chosen.kept)
    return list(families.by_name.values()), stats


def _add_entries(families: _Families, table: TableInfo, table_labels: LabelSet, entries: list[Entry]) -> int:
    """Append every entry's series; returns how many values were not numbers and were skipped."""
    use_add = families.by_name[naming.ENTRY_USE[0]].add
    exp_add = families.by_name[naming.ENTRY_EXPIRE[0]].add
    layout: dict[tuple[str, str], Optional[Slot]] = {}
    invalid = 0
    key_type = table.type
    for entry in entries:
        labels = table_labels.extend("key", key_text(entry.key, key_type))
        use_add(labels, str(entry.use))
        exp_add(labels, format_float(entry.exp / 1000))
        for name, period, value in entry.data:
            if (name, period) in layout:
                slot = layout[(name, period)]
            else:
                slot = layout[(name, period)] = _element_family(families, name, period)
            if slot is None:
                continue
            fam, pairs, text, kind = slot
            if kind == naming.SERVER:
                if value != "-":
                    fam.add(labels.extend("server", value), "1")
                continue
            if number_text(value) is None:
                invalid += 1
                continue
            fam.add(labels.plus((pairs, text)), value)
    return invalid


def local_updates_family(tables: Sequence[TableInfo], peers: Sequence[Peer]) -> tuple[Family, int]:
    """promex's ``haproxy_sticktable_local_updates`` (3.4+) per table, from ``show peers``, and how
    many values were not numbers.

    Only ``show peers`` shows a table's ``localupdate``, under each peer that shares it.  HAProxy
    moves it only for a table a peers section shares (stktable_touch_with_exp: ``t->sync_task``),
    so a table under no peer has 0, as promex says.
    """
    shared: dict[str, str | None] = {}  # table → its localupdate (None: shared, but no number seen)
    for peer in peers:
        for name, fields in peer.tables.items():
            if shared.get(name) is None:
                shared[name] = fields.get("localupdate")
    family = Family(naming.TABLE_LOCAL_UPDATES[0], "gauge", naming.TABLE_LOCAL_UPDATES[1], scope=naming.SCOPE)
    invalid = 0
    for table in tables:
        text = shared[table.name] if table.name in shared else "0"
        value = number_text(text) if text is not None else None
        if value is None:
            invalid += 1
            continue
        family.add(LabelSet((("name", table.name), ("type", table.type))), value)
    return family, invalid
