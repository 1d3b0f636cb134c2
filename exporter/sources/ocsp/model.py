"""Stapled OCSP responses → ``haproxy_ssl_ocsp_response_*{file, serial}``: pure."""

from __future__ import annotations

from typing import Iterable

from exporter.exposition.families import NO_SUFFIX, Family, LabelSet, LabelSuffix, LabelVariants
from exporter.sources.ocsp import naming
from exporter.sources.ocsp.parse import NOT_LOADED, OcspId, OcspResponse
from exporter.sources.values import GAUGE, ModelStats

_STATES = LabelVariants("state", naming.STATES)


def ocsp_families(responses: Iterable[tuple[OcspId, OcspResponse]], stats: ModelStats,
                  extra: LabelSuffix = NO_SUFFIX) -> list[Family]:
    next_update, this_update, revoked, status = (Family(name, GAUGE, help, scope=naming.SCOPE) for name, help in (
        naming.NEXT_UPDATE, naming.THIS_UPDATE, naming.REVOKED_AT, naming.STATUS))
    for ident, response in responses:
        if response is NOT_LOADED:
            continue  # nothing stapled yet (an OCSP update to come): no series
        labels = LabelSet(tuple((k, v) for k, v in zip(naming.LABELS, (ident.path, ident.serial or ident.key)) if v))
        labels = labels.plus(extra)
        for family, when in ((next_update, response.next_update), (this_update, response.this_update)):
            if when is None:
                stats.invalid_values += 1
            else:
                family.add(labels, str(when))
        if response.revoked_at is not None:
            revoked.add(labels, str(response.revoked_at))
        if response.status not in naming.STATES:
            stats.ignore("OCSP status", "unknown", response.status)
            continue
        for state, variant in zip(naming.STATES, labels.variants(_STATES)):
            status.add(variant, "1" if state == response.status else "0")
    return [f for f in (next_update, this_update, revoked, status) if f.values]
