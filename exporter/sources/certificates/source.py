"""The certificates source: ``show ssl cert``, then ``show ssl cert <file>`` for each file listed.

Operator level (HAProxy refuses both below it).  Certificates change rarely and there may be
thousands, so they are read on a schedule of their own (exporter/sources/refresh.py:
``certificates.refresh_interval``, at most ``max_per_poll`` per poll).
"""

from __future__ import annotations

from typing import Any, Sequence

from exporter.exposition.families import Family
from exporter.reuse import PollMemo
from exporter.sources.base import Command
from exporter.sources.certificates import naming
from exporter.sources.certificates.model import Labels, certificate_families
from exporter.sources.certificates.parse import Certificate, parse_cert, parse_cert_list
from exporter.sources.doctable import RUNTIME, DocRows
from exporter.sources.refresh import RefreshedSource
from exporter.sources.values import ModelStats

# What a certificate name may be to be sent: no space, ';' or '#' (the CLI would split or cut it),
# no '*' first (an uncommitted transaction).  crt-store names (@store/name) pass.
FILE_PATTERN = r"[^\s;#*\\][^\s;#\\]{0,4095}"
LIST = Command("show ssl cert", parse_cert_list)
DETAIL = "show ssl cert <file>"


class CertificateSource(RefreshedSource[Certificate]):
    name = "certificates"
    allowed = (r"show ssl cert", rf"show ssl cert {FILE_PATTERN}")
    level = "operator"
    config_key = "certificates"
    list_command = LIST
    item_label = DETAIL
    key_pattern = FILE_PATTERN

    def __init__(self, options: Any = None, **kwargs: Any) -> None:
        super().__init__(options, **kwargs)
        self._labels: PollMemo[Labels] = PollMemo()  # each served certificate's label sets

    def item_command(self, key: str) -> Command:
        return Command(f"show ssl cert {key}", parse_cert, DETAIL)

    def families(self, served: tuple[tuple[Any, Certificate], ...], stats: ModelStats) -> list[Family]:
        with self._labels.poll():  # only the certificates still served keep their label sets
            return certificate_families([cert for _, cert in served], stats, self.extra, self._labels)

    @classmethod
    def docs(cls) -> Sequence[DocRows]:
        dates = (naming.NOT_AFTER, naming.NOT_BEFORE, naming.USED)
        lines = [f"| `{name}` | {naming.FILE_LABEL} | {help} | ours |" for name, help in dates]
        info_labels = ", ".join((naming.FILE_LABEL, *(label for label, _ in naming.INFO_LABELS)))
        lines.append(f"| `{naming.INFO[0]}` | {info_labels} | {naming.INFO[1]} | ours |")
        return ((RUNTIME, lines),)
