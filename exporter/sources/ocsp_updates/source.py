"""The OCSP updater source: ``show ssl ocsp-updates``, one cheap command, so on by default; a failure
costs only these series.

HAProxy 2.8 added the command; 2.6 answers "Unknown command", which ``optional`` turns into "this
HAProxy has no updater": no series, no error, said once (exporter/poll/process.py).  2.8 to 3.2
answer it at level user but log a warning each time ("accessed without admin rights, this won't be
supported anymore starting from haproxy 3.3"); 3.4 answers ``Permission denied`` below admin
(counted, said once).  So the level it needs is admin.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from exporter.exposition.families import Family
from exporter.sources.base import Command, Source
from exporter.sources.doctable import RUNTIME, DocRows
from exporter.sources.ocsp_updates import naming
from exporter.sources.ocsp_updates.model import ocsp_update_families
from exporter.sources.ocsp_updates.parse import parse_ocsp_updates
from exporter.sources.values import ModelStats

SHOW_OCSP_UPDATES = Command("show ssl ocsp-updates", parse_ocsp_updates)


class OcspUpdatesSource(Source):
    name = "ocsp_updates"
    allowed = (r"show ssl ocsp-updates",)
    level = "admin"
    optional = True

    def commands(self) -> Sequence[Command]:
        return (SHOW_OCSP_UPDATES,)

    def build(self, answers: Mapping[str, Any], stats: ModelStats) -> list[Family]:
        updates = answers.get(SHOW_OCSP_UPDATES.name)
        return ocsp_update_families(updates, stats, self.extra) if updates is not None else []

    @classmethod
    def docs(cls) -> Sequence[DocRows]:
        lines = [f"| `{name}` | {naming.LABEL} | {help} (`show ssl ocsp-updates`, 2.8+; counter) | ours |"
                 for name, help in (naming.SUCCESSES, naming.FAILURES)]
        dates = (naming.NEXT_UPDATE, naming.LAST_UPDATE)
        lines += [f"| `{name}` | {naming.LABEL} | {help} | ours |" for name, help in dates]
        lines.append(f"| `{naming.STATUS[0]}` | {naming.LABEL}, state | {naming.STATUS[1]} | ours |")
        return ((RUNTIME, lines),)
