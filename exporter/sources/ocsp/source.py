"""The OCSP source: ``show ssl ocsp-response``, then ``show ssl ocsp-response <id>`` for each response.

The list works at level user on 2.6 to 3.2; HAProxy 3.4 answers ``Permission denied`` below admin
(counted, said once).  Responses are renewed every few hours or days, so they are read on the
certificates' kind of schedule (exporter/sources/refresh.py: ``ocsp.refresh_interval``).
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

from exporter.exposition.families import Family
from exporter.sources.base import Ask, Command, Source
from exporter.sources.ocsp.model import ocsp_families
from exporter.sources.ocsp.parse import OcspId, OcspResponse, parse_ocsp_list, parse_ocsp_response
from exporter.sources.refresh import Refreshed, Schedule, parse_schedule
from exporter.sources.values import ModelStats

KEY_PATTERN = r"[0-9a-f]{2,1024}"
LIST = Command("show ssl ocsp-response", parse_ocsp_list)
DETAIL = "show ssl ocsp-response <id>"
ANSWER = "responses"


def detail_command(key: str) -> Command:
    return Command(f"show ssl ocsp-response {key}", parse_ocsp_response, DETAIL)


def _key(ident: OcspId) -> str:
    return ident.key


class OcspSource(Source):
    name = "ocsp"
    allowed = (r"show ssl ocsp-response", rf"show ssl ocsp-response {KEY_PATTERN}")
    config_key = "ocsp"

    def __init__(self, options: Any = None, **kwargs: Any) -> None:
        super().__init__(options or Schedule(), **kwargs)
        self.config: Schedule = self.options
        self.refreshed: Refreshed[OcspResponse] = Refreshed(LIST, detail_command, _key, re.compile(KEY_PATTERN))
        self._built: tuple[Any, list[Family], ModelStats] | None = None  # (answers, families, what was skipped)

    @staticmethod
    def parse_config(value: Any) -> Schedule:
        return parse_schedule("ocsp", value)

    def commands(self) -> Sequence[Command]:
        return (LIST, Command(DETAIL, parse_ocsp_response)) if self.config.enabled else ()

    def read(self, ask: Ask) -> tuple[dict[str, Any], bool]:
        if not self.config.enabled:
            return {}, True
        served, ok = self.refreshed.read(ask, self.config)
        return ({ANSWER: served} if served is not None else {}), ok

    def build(self, answers: Mapping[str, Any], stats: ModelStats) -> list[Family]:
        served = answers.get(ANSWER)
        if served is None:
            return []
        if self._built is None or self._built[0] is not served:  # else nothing changed: the same families
            own = ModelStats()
            self._built = (served, ocsp_families(served, own, self.extra), own)
        own = self._built[2]
        stats.invalid_values += own.invalid_values
        for (what, reason), count in own.ignored.items():
            stats.ignore(what, reason, own.examples[(what, reason)], count)
        return list(self._built[1])
