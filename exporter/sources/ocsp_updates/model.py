"""Parsed ``show ssl ocsp-updates`` → ``haproxy_ssl_ocsp_update_*{file}``: pure."""

from __future__ import annotations

from exporter.exposition.families import NO_SUFFIX, Family, LabelSet, LabelSuffix, LabelVariants
from exporter.sources.ocsp_updates import naming
from exporter.sources.ocsp_updates.parse import OcspUpdates, log_time
from exporter.sources.values import COUNTER, GAUGE, ModelStats, number_text

_STATES = LabelVariants("state", tuple(naming.STATES.values()))


def ocsp_update_families(updates: OcspUpdates, stats: ModelStats, extra: LabelSuffix = NO_SUFFIX) -> list[Family]:
    successes, failures = (Family(name, COUNTER, help, scope=naming.SCOPE) for name, help in (naming.SUCCESSES, naming.FAILURES))
    next_update, last_update, status = (Family(name, GAUGE, help, scope=naming.SCOPE) for name, help in (
        naming.NEXT_UPDATE, naming.LAST_UPDATE, naming.STATUS))
    if updates.malformed:
        stats.ignore("OCSP update row", "malformed", updates.malformed[0], len(updates.malformed))
    seen: set[str] = set()
    for row in updates.rows:
        if row.path in seen:  # one series per file: a second row would repeat its labels
            stats.ignore("OCSP update row", "duplicate_file", row.path)
            continue
        seen.add(row.path)
        labels = LabelSet(((naming.LABEL, row.path),)).plus(extra)
        for family, cell in ((successes, row.successes), (failures, row.failures)):
            text = number_text(cell, COUNTER)
            if text is None:
                stats.invalid_values += 1
            else:
                family.add(labels, text)
        when = log_time(row.next_update)
        if when is None:
            stats.invalid_values += 1
        else:
            next_update.add(labels, str(when))
        if row.last_update != "-":  # no update has ended yet: no series
            when = log_time(row.last_update)
            if when is None:
                stats.invalid_values += 1
            else:
                last_update.add(labels, str(when))
        state = naming.STATES.get(row.status)
        if state is None:
            stats.ignore("OCSP update status", "unknown", f"{row.status} {row.status_text}".strip())
            continue
        for name, variant in zip(_STATES.values, labels.variants(_STATES)):
            status.add(variant, "1" if name == state else "0")
    return [f for f in (successes, failures, next_update, last_update, status) if f.values]
