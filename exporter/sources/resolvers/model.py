"""Parsed ``show resolvers`` → ``haproxy_resolver_*{resolver,nameserver}``: pure."""

from __future__ import annotations

from exporter.exposition.families import NO_SUFFIX, Family, LabelSet, LabelSuffix
from exporter.sources.resolvers import naming
from exporter.sources.resolvers.parse import Counters
from exporter.sources.values import GAUGE, ModelStats, number_text


def resolver_families(counters: Counters, stats: ModelStats, extra: LabelSuffix = NO_SUFFIX) -> list[Family]:
    families = {field: Family(naming.PREFIX + suffix, GAUGE, f"{help} (show resolvers {field})", scope=naming.SCOPE)
                for field, (suffix, help) in naming.COUNTERS.items()}
    for (section, nameserver), values in counters.items():
        labels = LabelSet(tuple(zip(naming.LABELS, (section, nameserver)))).plus(extra)
        for field, text in values.items():
            family = families.get(field)
            if family is None:
                continue  # a counter newer than this table: not promex's, left out
            value = number_text(text)
            if value is None:
                stats.invalid_values += 1
                continue
            family.add(labels, value)
    return [f for f in families.values() if f.values]
