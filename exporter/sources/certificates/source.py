"""The certificates source: ``show ssl cert``, then ``show ssl cert <file>`` for each file listed.

Operator level (HAProxy refuses both below it).  Certificates change rarely and there may be
thousands, so they are read on a schedule of their own (exporter/sources/refresh.py:
``certificates.refresh_interval``, at most ``max_per_poll`` per poll), and the series built from
unchanged answers are kept as they are.
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

from exporter.exposition.families import Family
from exporter.sources.base import Ask, Command, Source
from exporter.sources.certificates.config import CertificatesConfig, parse_certificates
from exporter.sources.certificates.model import Labels, certificate_families
from exporter.sources.certificates.parse import Certificate, parse_cert, parse_cert_list
from exporter.sources.refresh import Refreshed
from exporter.sources.values import ModelStats

# What a certificate name may be to be sent: no space, ';' or '#' (the CLI would split or cut it),
# no '*' first (an uncommitted transaction).  crt-store names (@store/name) pass.
FILE_PATTERN = r"[^\s;#*\\][^\s;#\\]{0,4095}"
LIST = Command("show ssl cert", parse_cert_list)
DETAIL = "show ssl cert <file>"  # every certificate's command shares this name in the metrics
ANSWER = "certificates"  # the answers' key: (file, certificate) for each certificate known


def detail_command(file: str) -> Command:
    return Command(f"show ssl cert {file}", parse_cert, DETAIL)


class CertificateSource(Source):
    name = "certificates"
    allowed = (r"show ssl cert", rf"show ssl cert {FILE_PATTERN}")
    level = "operator"
    config_key = "certificates"

    def __init__(self, options: Any = None, **kwargs: Any) -> None:
        super().__init__(options or CertificatesConfig(), **kwargs)
        self.config: CertificatesConfig = self.options
        self.refreshed: Refreshed[Certificate] = Refreshed(LIST, detail_command, str, re.compile(FILE_PATTERN))
        self._labels: dict[Certificate, Labels] = {}
        self._built: tuple[Any, list[Family], int] | None = None  # (answers it was built from, families, invalid)

    @staticmethod
    def parse_config(value: Any) -> CertificatesConfig:
        return parse_certificates(value)

    def needed_level(self) -> str:
        return self.level if self.config.enabled else "user"

    def commands(self) -> Sequence[Command]:
        """What the source may send (its names in the metrics); :meth:`read` decides what it does send."""
        return (LIST, Command(DETAIL, parse_cert)) if self.config.enabled else ()

    def read(self, ask: Ask) -> tuple[dict[str, Any], bool]:
        if not self.config.enabled:
            return {}, True
        served, ok = self.refreshed.read(ask, self.config)
        return ({ANSWER: served} if served is not None else {}), ok

    def build(self, answers: Mapping[str, Any], stats: ModelStats) -> list[Family]:
        served = answers.get(ANSWER)
        if self.refreshed.unsendable:
            stats.ignore("certificate", "unsendable_name", repr(self.refreshed.unsendable[0]),
                         len(self.refreshed.unsendable))
        if served is None:
            return []
        if self._built is not None and self._built[0] is served:  # nothing changed since: the same families
            stats.invalid_values += self._built[2]
            return list(self._built[1])
        certs = [cert for _, cert in served]
        kept = {c: self._labels[c] for c in certs if c in self._labels}
        self._labels = kept  # only the certificates still served
        own = ModelStats()
        families = certificate_families(certs, own, self.extra, kept)
        self._built = (served, families, own.invalid_values)
        stats.invalid_values += own.invalid_values
        return list(families)
