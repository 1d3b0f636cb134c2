"""Parsed ``show errors`` → the process's captured-errors counter and each proxy's last one: pure."""

from __future__ import annotations

from exporter.exposition.families import GLOBAL, NO_SUFFIX, Family, LabelSet, LabelSuffix, format_float
from exporter.sources.errors import naming
from exporter.sources.errors.parse import ErrorDump
from exporter.sources.values import COUNTER, GAUGE


def error_families(dump: ErrorDump, received: float, extra: LabelSuffix = NO_SUFFIX) -> list[Family]:
    """``received``: the Unix time the command was sent.

    HAProxy prints local times without a zone, so an entry's Unix time is ``received`` minus its
    age on HAProxy's own clock (the dump's "now" minus the entry's time): right whatever zone
    HAProxy runs in, off by the zone's shift for an error captured before a daylight-saving change.
    """
    total = Family(naming.CAPTURED[0], COUNTER, naming.CAPTURED[1], scope=GLOBAL)
    total.add(LabelSet(()).plus(extra), str(dump.total))
    last = {side: Family(name, GAUGE, help, scope=side) for side, (name, help) in naming.LAST.items()}  # sides are scopes
    for entry in dump.entries:
        age = (dump.now - entry.when).total_seconds()
        labels = LabelSet(((naming.LABEL, entry.proxy),)).plus(extra)
        last[entry.side].add(labels, format_float(round(received - age, 3)))
    return [total, *(f for f in last.values() if f.values)]
