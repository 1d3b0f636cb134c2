"""Value kinds, units and the conversion of HAProxy's numeric cells to exposition value text.

Shared by the sources whose answers are tables of numbers (``show info``, ``show stat``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from exporter.exposition.families import format_float

COUNTER = "counter"
GAUGE = "gauge"

MS = 0.001  # HAProxy reports times in milliseconds; Prometheus wants seconds.
MIB = 1024 * 1024

_INT = re.compile(r"-?[0-9]{1,20}")


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


def number_text(cell: str) -> str | None:
    """The cell as exposition value text, or None when it is not an integer."""
    if cell.isdigit() and cell.isascii():
        return cell
    if _INT.fullmatch(cell):
        return cell
    return None


def scaled_text(cell: str, scale: float) -> str | None:
    text = number_text(cell)
    if text is None or scale == 1:
        return text
    if scale < 1:
        return format_float(int(text) / round(1 / scale))
    return str(int(text) * int(scale))
