"""The OCSP source: ``show ssl ocsp-response``, then ``show ssl ocsp-response <id>`` for each response.

The list works at level user on 2.6 to 3.2; HAProxy 3.4 answers ``Permission denied`` below admin
(counted, said once).  Responses are renewed every few hours or days, so they are read on a
schedule of their own (exporter/sources/refresh.py: ``ocsp.refresh_interval``).
"""

from __future__ import annotations

from typing import Any, Sequence

from exporter.exposition.families import Family
from exporter.sources.base import Command
from exporter.sources.doctable import RUNTIME, DocRows
from exporter.sources.ocsp import naming
from exporter.sources.ocsp.model import ocsp_families
from exporter.sources.ocsp.parse import OcspId, OcspResponse, parse_ocsp_list, parse_ocsp_response
from exporter.sources.refresh import RefreshedSource
from exporter.sources.values import ModelStats

KEY_PATTERN = r"[0-9a-f]{2,1024}"
LIST = Command("show ssl ocsp-response", parse_ocsp_list)
DETAIL = "show ssl ocsp-response <id>"


class OcspSource(RefreshedSource[OcspResponse]):
    name = "ocsp"
    allowed = (r"show ssl ocsp-response", rf"show ssl ocsp-response {KEY_PATTERN}")
    config_key = "ocsp"
    list_command = LIST
    item_label = DETAIL
    key_pattern = KEY_PATTERN

    def item_command(self, key: str) -> Command:
        return Command(f"show ssl ocsp-response {key}", parse_ocsp_response, DETAIL)

    def item_key(self, item: Any) -> str:
        assert isinstance(item, OcspId)
        return item.key

    def families(self, served: tuple[tuple[Any, OcspResponse], ...], stats: ModelStats) -> list[Family]:
        return ocsp_families(served, stats, self.extra)

    @classmethod
    def docs(cls) -> Sequence[DocRows]:
        labels = ", ".join(naming.LABELS)
        lines = [f"| `{name}` | {labels} | {help} (`show ssl ocsp-response`) | ours |"
                 for name, help in (naming.NEXT_UPDATE, naming.THIS_UPDATE, naming.REVOKED_AT)]
        lines.append(f"| `{naming.STATUS[0]}` | {', '.join((*naming.LABELS, 'state'))} | {naming.STATUS[1]} | ours |")
        return ((RUNTIME, lines),)
