"""Certificates → ``haproxy_ssl_certificate_*{file}``: pure."""

from __future__ import annotations

from typing import Iterable

from exporter.exposition.families import NO_SUFFIX, Family, LabelSet, LabelSuffix
from exporter.reuse import PollMemo
from exporter.sources.certificates import naming
from exporter.sources.certificates.parse import Certificate
from exporter.sources.values import GAUGE, ModelStats


def short(text: str, limit: int = naming.MAX_LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def short_names(names: tuple[str, ...], limit: int = naming.MAX_LABEL_CHARS) -> str:
    """The names joined by commas; when too long, as many whole names as fit and how many more."""
    text = ",".join(names)
    if len(text) <= limit:
        return text
    kept, length = 0, -1  # length of ",".join(names[:n]) for n names
    for n in range(1, len(names)):
        length += len(names[n - 1]) + 1
        if length > limit:
            break
        if length + len(f",…+{len(names) - n}") <= limit:
            kept = n
    if kept:
        return ",".join(names[:kept]) + f",…+{len(names) - kept}"
    tail = f",…+{len(names) - 1}" if len(names) > 1 else ""
    return short(names[0], limit - len(tail)) + tail


def _info_value(cert: Certificate, attribute: str) -> str:
    value = getattr(cert, attribute)
    return short_names(value) if isinstance(value, tuple) else short(value)


Labels = tuple[LabelSet, LabelSet]  # a certificate's file label set and its info label set


def certificate_labels(cert: Certificate, extra: LabelSuffix = NO_SUFFIX) -> Labels:
    file = short(cert.file, 4 * naming.MAX_LABEL_CHARS)
    own = LabelSet(((naming.FILE_LABEL, file),)).plus(extra)
    info = LabelSet(((naming.FILE_LABEL, file), *((name, _info_value(cert, attr)) for name, attr in naming.INFO_LABELS)))
    return own, info.plus(extra)


def certificate_families(certs: Iterable[Certificate], stats: ModelStats, extra: LabelSuffix = NO_SUFFIX,
                         memo: PollMemo[Labels] | None = None) -> list[Family]:
    """The series of each certificate; ``memo`` keeps each one's label sets from refresh to refresh
    (a certificate read again unchanged is equal, so thousands cost no escaping between refreshes)."""
    not_after, not_before, used, info = (Family(name, GAUGE, help, scope=naming.SCOPE) for name, help in (
        naming.NOT_AFTER, naming.NOT_BEFORE, naming.USED, naming.INFO))
    for cert in certs:
        own, identity = (memo.get(cert, certificate_labels, cert, extra) if memo is not None
                         else certificate_labels(cert, extra))
        for family, when in ((not_after, cert.not_after), (not_before, cert.not_before)):
            if when is None:
                stats.invalid_values += 1
            else:
                family.add(own, str(when))
        used.add(own, "1" if cert.status == "Used" else "0")
        info.add(identity, "1")
    return [f for f in (not_after, not_before, used, info) if f.values]
