"""Parse ``show stat`` CSV.  Columns are found by header name, never by position.

The header names every column (it drifts between versions and builds: reference sheet §1.7),
so the same code reads 1.8 through 3.3 and the extra-counter modules after the ``-`` column.

The table keeps its cells column by column, rather than a list per row: a large configuration
has millions of cells, and the model reads them by column.  ``split`` makes the cells of a block
of rows at a time, and each column takes its cells of the block as a slice with a step, in C,
while the block is fresh in the processor's cache, instead of a transposition of every row's list
(or stepped slices of one list of every cell, a cache miss per cell).  The
``csv`` module stays the reference reading: it parses any answer the plain split cannot read the
same way (a quote, a carriage return, a NUL, a row of another width), and a test holds both to
the same result.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field
from itertools import chain, compress
from typing import Sequence

from exporter.runtime.answer import MAX_LINE, Answer, Text, answer_of
from exporter.runtime.errors import ParseError, error_reason, first_line

# The ``type`` column codes (reference sheet §1.2).
FRONTEND, BACKEND, SERVER, LISTENER = "0", "1", "2", "3"
ROW_TYPES = (FRONTEND, BACKEND, SERVER, LISTENER)
_REQUIRED = ("pxname", "svname")
# Characters the plain split does not read as the csv module does.
_CSV_ONLY = ('"', "\r", "\x00")


@dataclass
class StatTable:
    """The rows of one ``show stat`` as raw cell text, and which rows are of which object type.

    ``data`` holds one list per column, of every row's cell in answer order: row ``r``'s
    cells are ``[column[r] for column in data]``.
    ``index`` maps each column name to its first position: a repeated name is read once.
    ``kinds`` lists each known type's row numbers in answer order; ``unknown_types`` counts
    rows of a type this version of the exporter does not know (skipped).
    """

    columns: list[str]
    index: dict[str, int]
    data: list[list[str]]
    kinds: dict[str, list[int]] = field(default_factory=lambda: {t: [] for t in ROW_TYPES})
    unknown_types: dict[str, int] = field(default_factory=dict)

    def column(self, name: str) -> int | None:
        return self.index.get(name)

    def values(self, idx: int, rows: Sequence[int]) -> list[str]:
        """Column ``idx`` of the given rows, in their order."""
        return list(map(self.data[idx].__getitem__, rows))

    def all_columns(self) -> list[list[str]]:
        """Every column over all rows, in answer order (a new list of the table's own columns)."""
        return list(self.data)

    @property
    def rows(self) -> dict[str, list[list[str]]]:
        """Each type's rows as lists of cells (for reading a few rows; the model reads columns)."""
        data = self.data
        return {kind: [[column[r] for column in data] for r in rows] for kind, rows in self.kinds.items()}


def parse_header(line: str) -> list[str]:
    if not line.startswith("# "):
        raise ParseError("malformed_header", f"show stat: first line is not a CSV header: {first_line(line)!r}")
    names = line[2:].split(",")
    if names and names[-1] == "":
        names.pop()  # every column name is followed by a comma
    if names[:2] != list(_REQUIRED):
        raise ParseError("malformed_header", "show stat: header does not start with pxname,svname")
    return names


def parse_stat(text: Text, max_cells: int | None = None, previous: Sequence[list[str]] = ()) -> StatTable:
    """Return every row of the answer, or raise :class:`ParseError` for the whole answer.

    A row whose cell count differs from the header's means a cut or garbled stream; rejecting
    the whole answer keeps a half-read table from ever being published.  A row of a type newer
    than this parser is skipped and counted, not a reason to reject the answer.  ``max_cells``
    bounds rows x columns: a socket that sends millions of proxies is refused while reading,
    before the rows take memory (``too_many_series``).  ``previous`` are the last table's columns:
    a column equal to its previous one is that very list (see :func:`_split_cells`).
    """
    answer = answer_of(text)
    start = answer.head(MAX_LINE)
    end = start.find("\n")
    header = start if end < 0 else start[:end]
    if not header.startswith("# "):
        raise ParseError(error_reason(answer), f"show stat answered {first_line(answer)!r}")
    columns = parse_header(header)
    width = len(columns)
    index: dict[str, int] = {}
    for pos, name in enumerate(columns):
        index.setdefault(name, pos)
    table = StatTable(columns=columns, index=index, data=[[] for _ in columns])
    body = _body(answer, len(header) + 1)
    rows = sum(block.count("\n") for block in body.blocks) + 1 if body.blocks else 0
    if max_cells is not None and rows * width > max_cells:
        rows = sum(map(bool, body.lines()))  # empty lines are no rows
        if rows * width > max_cells:
            raise ParseError("too_many_series", f"show stat: {rows} rows of {width} columns is more than "
                                                f"{max_cells} values (raise poll.max_series if this is real)")
    if body.blocks:
        data = _split_cells(body, width, previous)
        table.data = data if data is not None else _csv_columns(body, width)
        _group_rows(table)
    return table


def _body(answer: Answer, skip: int) -> Answer:
    """The answer's blocks after its first ``skip`` characters (the header line), without the
    newlines that end it (the blank line that ends a block, if still there)."""
    blocks: list[str] = []
    for block in answer.blocks:
        if skip >= len(block):
            skip -= len(block)
            continue
        blocks.append(block[skip:] if skip else block)
        skip = 0
    while blocks and blocks[-1].endswith("\n"):
        blocks[-1] = blocks[-1].rstrip("\n")
        if not blocks[-1]:
            blocks.pop()
    return Answer(blocks)


def _split_cells(body: Answer, width: int, previous: Sequence[list[str]] = ()) -> list[list[str]] | None:
    """Every column's cells, by splitting the body a block of rows at a time; None when the csv
    module would read the body otherwise (then it is the one to read it).

    Blocks, not one split of the whole answer: that would be one long C call at scale
    (BENCHMARKS.md) holding the interpreter lock, and no scrape would be answered meanwhile.

    A column is made at its full length once and filled in place (grown block by block, it would
    be copied as it grows and leave the copies' room behind in the heap), and only when it differs
    from its ``previous`` column, compared block by block as it is read: most columns of a large
    installation are the last poll's, and those cost no new list.
    """
    stride = width + 1
    blocks = body.blocks
    rows = sum(block.count("\n") for block in blocks) + 1  # the last block ends without one (_body)
    if len(previous) != width or any(len(column) != rows for column in previous):
        previous = ()
    # A column still equal to its previous one so far is None here.
    data: list[list[str] | None] = [None] * width if previous else [[""] * rows for _ in range(width)]
    at = 0
    last = len(blocks) - 1
    for number, block in enumerate(blocks):
        if any(char in block for char in _CSV_ONLY):
            return None
        if block.endswith("\n"):
            block = block[:-1]
        elif number != last:
            return None  # a row goes on in the next block: the csv module reads lines across blocks
        newlines = block.count("\n")
        # Every row ends with a comma: with a comma after each newline, the newline becomes a
        # cell of its own after each row's cells, and the block's row r starts at r * stride.
        # All the newlines in separator places and the last place the empty cell after the
        # block's last comma: every row has exactly ``width`` cells and its trailing comma.
        part = block.replace("\n", "\n,").split(",")
        if len(part) != (newlines + 1) * stride or part[width::stride].count("\n") != newlines or part[-1] != "":
            return None
        end = at + newlines + 1
        if end > rows:
            return None
        for idx, column in enumerate(data):
            cells = part[idx::stride]
            if column is None:
                if previous[idx][at:end] == cells:
                    continue
                column = data[idx] = previous[idx][:at] + [""] * (rows - at)
            column[at:end] = cells
        at = end
    if at != rows:
        return None
    return [previous[idx] if column is None else column for idx, column in enumerate(data)]


def _csv_columns(body: Answer, width: int) -> list[list[str]]:
    """The csv module's reading of the rows, column by column as :func:`_split_cells` gives them.

    Each block is read as a file (``newline=""``, as the csv module asks), not line by line: a
    quoted cell may hold a line break, and the reader needs the line's own newline to keep it.
    The blocks end at line ends, so the reader's lines are the whole body's.
    """
    cells: list[str] = []
    try:
        rows = chain.from_iterable(io.StringIO(block, newline="") for block in body.blocks)
        for row in csv.reader(rows, strict=True):
            if not row:
                continue  # an empty line is no row
            if row[-1] == "":
                row.pop()
            if len(row) != width:
                raise ParseError(
                    "malformed_row",
                    f"show stat: row has {len(row)} cells, header has {width} (cut or garbled answer)",
                )
            cells += row
    except csv.Error as exc:
        raise ParseError("malformed_row", f"show stat: bad CSV: {exc}") from None
    return [cells[idx::width] for idx in range(width)]


def _group_rows(table: StatTable) -> None:
    type_idx = table.column("type")
    if type_idx is not None:
        types = table.data[type_idx]
    else:
        # Before 1.3.15 there was no type column; svname tells the aggregate rows apart.
        named = {"FRONTEND": FRONTEND, "BACKEND": BACKEND}
        types = [named.get(svname, SERVER) for svname in table.data[1]]
    # Counted and listed in C: a Python loop over the rows here was a large share of the parse.
    for kind, count in Counter(types).items():
        if kind in table.kinds:
            table.kinds[kind] = list(compress(range(len(types)), map(kind.__eq__, types)))
        else:
            table.unknown_types[kind] = count
