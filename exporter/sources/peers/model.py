"""Parsed ``show peers`` → ``haproxy_peer_*{peers,peer}``: pure.

The local peer (the process itself, ``(local,...)``) is not a link to anyone and is left out: its
entry is only used to hand the tables to the next process on a reload.
"""

from __future__ import annotations

from exporter.exposition.families import NO_SUFFIX, Family, LabelSet, LabelSuffix, LabelVariants, format_float
from exporter.sources.peers import naming
from exporter.sources.peers.parse import Peer, duration_seconds
from exporter.sources.values import COUNTER, GAUGE, ModelStats, number_text

_STATUSES = LabelVariants(naming.STATUS_LABEL, naming.STATUSES)
_NEVER = "<NEVER>"


def _families() -> dict[str, Family]:
    """The source's families, keyed by what fills them (a counter's show peers field)."""
    families = {key: Family(naming.PREFIX + suffix, GAUGE, help, scope=naming.SCOPE)
                for key, (suffix, help) in naming.GAUGES.items()}
    for field, (suffix, help) in naming.COUNTERS.items():
        families[field] = Family(naming.PREFIX + suffix, COUNTER, f"{help} (show peers {field})", scope=naming.SCOPE)
    return families


def _status_values(status: str | None) -> tuple[str, ...]:
    """The state set's values: 1 for the current status, 0 for the others (all 0 when unknown)."""
    return tuple("1" if known == status else "0" for known in naming.STATUSES)


def peer_families(peers: list[Peer], stats: ModelStats, extra: LabelSuffix = NO_SUFFIX) -> list[Family]:
    families = _families()
    for peer in peers:
        if peer.local:
            continue
        labels = LabelSet(tuple(zip(naming.LABELS, (peer.section, peer.name)))).plus(extra)
        status = peer.fields.get("last_status")
        established = peer.active and (status is None or status == naming.ESTABLISHED)
        families["connected"].add(labels, "1" if established else "0")
        if status is not None:
            if status not in naming.STATUSES:
                stats.ignore("peer_status", "unknown", f"{peer.section}/{peer.name}: {status}")
            families["status"].extend(labels.variants(_STATUSES), _status_values(status))
        _add_age(families["last_hdshk"], labels, peer.fields.get("last_hdshk"), stats)
        for field in naming.COUNTERS:
            text = peer.fields.get(field)
            if text is None:
                continue  # an older HAProxy without this counter
            value = number_text(text, COUNTER)
            if value is None:
                stats.invalid_values += 1
                continue
            families[field].add(labels, value)
    return [f for f in families.values() if f.values]


def _add_age(family: Family, labels: LabelSet, text: str | None, stats: ModelStats) -> None:
    """An age in HAProxy's duration format; no handshake yet (``<NEVER>``) is no sample, not 0."""
    if text is None or text == _NEVER:
        return
    seconds = duration_seconds(text)
    if seconds is None:
        stats.invalid_values += 1  # "?": HAProxy's own clock difference came out negative
        return
    family.add(labels, format_float(seconds))
