"""Parsed ``show map`` / ``show acl`` → ``haproxy_map_entries{file}``, ``haproxy_acl_entries{file}``
and the inline ACLs' totals: pure."""

from __future__ import annotations

from typing import Sequence

from exporter.exposition.families import NO_SUFFIX, Family, LabelSet, LabelSuffix
from exporter.sources.maps import naming
from exporter.sources.maps.parse import PatternList
from exporter.sources.values import GAUGE, ModelStats


def entries_family(name_help: tuple[str, str], lists: Sequence[PatternList], stats: ModelStats,
                   extra: LabelSuffix = NO_SUFFIX) -> Family:
    """One series per file; a file listed twice (two lists loaded from one path) keeps the first,
    counted in ``haproxy_exporter_ignored_fields``, as two series with one label set cannot be."""
    family = Family(name_help[0], GAUGE, name_help[1], scope=naming.SCOPE)
    seen: set[str] = set()
    for item in lists:
        if not item.file:
            continue
        if item.file in seen:
            stats.ignore(name_help[0], "duplicate_file", item.file)
            continue
        seen.add(item.file)
        family.add(LabelSet(((naming.LABEL, item.file),)).plus(extra), str(item.entries))
    return family


def map_families(maps: Sequence[PatternList], stats: ModelStats, extra: LabelSuffix = NO_SUFFIX) -> list[Family]:
    """``haproxy_map_entries{file}`` (a map without a file cannot be made; one would be skipped)."""
    return [entries_family(naming.MAP_ENTRIES, maps, stats, extra)]


def acl_families(acls: Sequence[PatternList], stats: ModelStats, extra: LabelSuffix = NO_SUFFIX) -> list[Family]:
    """``haproxy_acl_entries{file}`` for pattern files, and the inline lists' count and entries."""
    inline = [item for item in acls if not item.file]
    labels = LabelSet(()).plus(extra)
    lists = Family(naming.INLINE_LISTS[0], GAUGE, naming.INLINE_LISTS[1], scope=naming.SCOPE)
    lists.add(labels, str(len(inline)))
    entries = Family(naming.INLINE_ENTRIES[0], GAUGE, naming.INLINE_ENTRIES[1], scope=naming.SCOPE)
    entries.add(labels, str(sum(item.entries for item in inline)))
    return [entries_family(naming.ACL_ENTRIES, acls, stats, extra), lists, entries]
