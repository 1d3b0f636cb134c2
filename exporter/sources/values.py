"""Value kinds, units and the conversion of HAProxy's numeric cells to exposition value text.

Shared by the sources whose answers carry numbers as text (``show info``, ``show stat``, ``show
peers``, ``show resolvers``, ``show ssl ocsp-updates``, stick-table dumps).  A cell is a value
only if it is a number HAProxy can print: an integer of at most :data:`MAX_DIGITS` digits, and
for a counter not negative.  Anything else is an invalid value: counted, its series left out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

from exporter.exposition.families import Family, format_float

COUNTER = "counter"
GAUGE = "gauge"

MS = 0.001  # HAProxy reports times in milliseconds; Prometheus wants seconds.
MIB = 1024 * 1024

# HAProxy's widest number is a 64-bit unsigned counter: 20 digits (a signed one is a sign and 19).
# A longer cell is not one of its numbers.  The bound also keeps every value far inside what
# Prometheus reads (Go's ParseFloat refuses a page with an integer past float64's ~1.8e308, 309
# digits) and inside Python's int() (which refuses more than 4,300 digits).
MAX_DIGITS = 20
DIGITS = r"[0-9]{1,20}"  # a regular expression's unsigned number of at most MAX_DIGITS digits
_INT = re.compile(r"-?" + DIGITS)


@dataclass
class ModelStats:
    """What the model had to skip, so the exporter can say so in its own metrics and log.

    ``ignored`` counts what HAProxy sent that cannot become series without breaking the exposition
    (a repeated column, two columns that name one metric, a row of an unknown type), by
    (what, reason); ``examples`` keeps one instance of each for the log line.
    """

    invalid_values: int = 0
    ignored: dict[tuple[str, str], int] = field(default_factory=dict)
    examples: dict[tuple[str, str], str] = field(default_factory=dict)

    def ignore(self, what: str, reason: str, example: str, count: int = 1) -> None:
        key = (what, reason)
        self.ignored[key] = self.ignored.get(key, 0) + count
        self.examples.setdefault(key, example)


    def add(self, other: "ModelStats") -> None:
        """Count what ``other`` counted too."""
        self.invalid_values += other.invalid_values
        for (what, reason), count in other.ignored.items():
            self.ignore(what, reason, other.examples[(what, reason)], count)


# Families as a PollMemo keeps them (exporter/reuse.py): with what making them counted, which is
# counted again each poll they are taken as they were (``replay``).
Built = tuple[list[Family], ModelStats]


def replay(built: Built, stats: ModelStats) -> list[Family]:
    """The families of ``built``, counting in ``stats`` what making them counted."""
    families, own = built
    stats.add(own)
    return families


def number_text(cell: str, kind: str = GAUGE) -> str | None:
    """The cell as exposition value text, or None when it is not a number HAProxy prints.

    A counter's cell must not be negative: HAProxy's counters are unsigned (promex prints them with
    ``%llu``), and Prometheus takes a counter that goes down for a reset, so a negative one is a
    garbled cell, not a value.  A gauge may be (``-1`` means "never" in several columns).
    """
    if cell.isdigit() and cell.isascii() and len(cell) <= MAX_DIGITS:
        return cell
    if kind != COUNTER and _INT.fullmatch(cell):
        return cell
    return None


def plain_column(cells: Sequence[str], joined: str) -> bool:
    """Whether every non-empty cell of a column is a plain unsigned integer HAProxy can print
    (``joined``: the cells joined, which the caller has anyway).  The column's text is then its
    exposition values as they are, valid for counters and gauges alike.

    The digits are checked on the joined text in one C call; the length cell by cell only when the
    joined text is longer than one number can be.
    """
    return joined.isdigit() and joined.isascii() and (
        len(joined) <= MAX_DIGITS or max(map(len, cells)) <= MAX_DIGITS)


def scaled_text(cell: str, scale: float, kind: str = GAUGE) -> str | None:
    text = number_text(cell, kind)
    if text is None or scale == 1:
        return text
    if scale < 1:
        return format_float(int(text) / round(1 / scale))
    return str(int(text) * int(scale))

