"""Parse ``show stat`` CSV.  Columns are found by header name, never by position.

The header names every column (it drifts between versions and builds: reference sheet §1.7),
so the same code reads 1.8 through 3.3 and the extra-counter modules after the ``-`` column.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field

from exporter.runtime.errors import ParseError, error_reason, first_line

# The ``type`` column codes (reference sheet §1.2).
FRONTEND, BACKEND, SERVER, LISTENER = "0", "1", "2", "3"
ROW_TYPES = (FRONTEND, BACKEND, SERVER, LISTENER)
_REQUIRED = ("pxname", "svname")


@dataclass
class StatTable:
    """The rows of one ``show stat``, grouped by object type, as raw cell text.

    ``index`` maps each column name to its first position: a repeated name is read once.
    ``unknown_types`` counts rows of a type this version of the exporter does not know (skipped).
    """

    columns: list[str]
    index: dict[str, int]
    rows: dict[str, list[list[str]]] = field(default_factory=lambda: {t: [] for t in ROW_TYPES})
    unknown_types: dict[str, int] = field(default_factory=dict)

    def column(self, name: str) -> int | None:
        return self.index.get(name)


def _row_type(row: list[str], type_idx: int | None) -> str:
    if type_idx is not None:
        return row[type_idx]
    # Before 1.3.15 there was no type column; svname tells the aggregate rows apart.
    return {"FRONTEND": FRONTEND, "BACKEND": BACKEND}.get(row[1], SERVER)


def parse_header(line: str) -> list[str]:
    if not line.startswith("# "):
        raise ParseError("malformed_header", f"show stat: first line is not a CSV header: {first_line(line)!r}")
    names = line[2:].split(",")
    if names and names[-1] == "":
        names.pop()  # every column name is followed by a comma
    if names[:2] != list(_REQUIRED):
        raise ParseError("malformed_header", "show stat: header does not start with pxname,svname")
    return names


def parse_stat(text: str, max_cells: int | None = None) -> StatTable:
    """Return every row of the answer, or raise :class:`ParseError` for the whole answer.

    A row whose cell count differs from the header's means a cut or garbled stream; rejecting
    the whole answer keeps a half-read table from ever being published.  A row of a type newer
    than this parser is skipped and counted, not a reason to reject the answer.  ``max_cells``
    bounds rows x columns: a socket that sends millions of proxies is refused while reading,
    before the rows take memory (``too_many_series``).
    """
    lines = text.split("\n")
    if not lines or not lines[0].startswith("# "):
        raise ParseError(error_reason(text), f"show stat answered {first_line(text)!r}")
    columns = parse_header(lines[0])
    width = len(columns)
    index: dict[str, int] = {}
    for pos, name in enumerate(columns):
        index.setdefault(name, pos)
    table = StatTable(columns=columns, index=index)
    type_idx = index.get("type")
    body = [line for line in lines[1:] if line]
    if max_cells is not None and len(body) * width > max_cells:
        raise ParseError("too_many_series", f"show stat: {len(body)} rows of {width} columns is more than "
                                            f"{max_cells} values (raise poll.max_series if this is real)")
    try:
        for row in csv.reader(body, strict=True):
            if row and row[-1] == "":
                row.pop()
            if len(row) != width:
                raise ParseError(
                    "malformed_row",
                    f"show stat: row has {len(row)} cells, header has {width} (cut or garbled answer)",
                )
            kind = _row_type(row, type_idx)
            bucket = table.rows.get(kind)
            if bucket is None:
                table.unknown_types[kind] = table.unknown_types.get(kind, 0) + 1
                continue
            bucket.append(row)
    except csv.Error as exc:
        raise ParseError("malformed_row", f"show stat: bad CSV: {exc}") from None
    return table
