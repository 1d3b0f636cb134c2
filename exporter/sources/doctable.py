"""The README's metric reference as the sources declare it: each source's ``docs()`` gives the rows
it adds, and to which table; exporter/docs.py prints whatever the registry lists.

So a new kind of data brings its docs with it, written from its own naming table, and a unit test
fails when the README differs from what the sources say.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from exporter.sources import values


@dataclass(frozen=True)
class DocTable:
    """One table of the reference: the line above it, its column heads, and its place among the
    tables (lowest first; tables of one place in the registry's order).  Sources that add rows to
    one table give the same table (equal values are one table), their rows in the registry's order.
    """

    title: str
    columns: tuple[str, ...]
    place: int = 100

    def head(self) -> list[str]:
        return ["| " + " | ".join(self.columns) + " |", "|" + "---|" * len(self.columns)]


DocRows = tuple[DocTable, Sequence[str]]  # a table, and the rows a source adds to it

# The sources beyond info, stat and stick tables share one table (docs/sources.md).
RUNTIME = DocTable(
    "**More of the Runtime API** (resolvers; TLS certificates, operator level, and stapled OCSP "
    "responses, read every `certificates.refresh_interval` / `ocsp.refresh_interval`; HAProxy 2.8+'s OCSP "
    "updater; peers; maps and ACLs; captured errors; see "
    "[docs/sources.md](docs/sources.md); gauges but the `_total` counters)",
    ("metric", "labels", "from", "promex"), place=50)


def conversion(scale: float) -> str:
    """A value scale in the words of the reference's conversion column."""
    return {values.MS: "ms → s", values.MIB: "MiB → bytes"}.get(scale, "")
