"""Parse ``show ssl ocsp-updates``: a header line, then one ``|``-separated row per certificate::

    OCSP Certid | Path | Next Update | Last Update | Successes | Failures | Last Update Status | Last Update Status (str)
    304d...cd14 | /etc/haproxy/site.pem | 02/Dec/2026:20:10:44 +0530 | 02/Dec/2026:20:10:42 +0530 | 3 | 0 | 1 | Update successful

Columns are found by their header name, so a column HAProxy adds later is skipped; the last one
(the status text, to which HAProxy appends the error's detail in parentheses) takes whatever is
left of the line.  Dates are HAProxy's log format in *its local time zone*, with the offset:
read with it (and without the C library's locale-dependent month names).  ``Last Update`` is
``-`` until a first update ended.  A header alone means no certificate has ``ocsp-update on``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from exporter.runtime.answer import Text, nonblank
from exporter.runtime.errors import MAX_ITEMS, ParseError, check_count, error_reason, first_line

HEADER_START = "OCSP Certid"
_MONTHS = {m: n for n, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
_DATE = re.compile(r"(\d{2})/([A-Z][a-z]{2})/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})")
# header name → field; the ones the model needs
_COLUMNS = {"OCSP Certid": "key", "Path": "path", "Next Update": "next_update", "Last Update": "last_update",
            "Successes": "successes", "Failures": "failures", "Last Update Status": "status",
            "Last Update Status (str)": "status_text"}


@dataclass(frozen=True)
class OcspUpdate:
    key: str  # the OCSP certificate ID, as show ssl ocsp-response lists it
    path: str
    next_update: str  # the cell as HAProxy prints it ("" when the column is missing)
    last_update: str
    successes: str
    failures: str
    status: str  # HAProxy's number for the last update's outcome
    status_text: str


@dataclass(frozen=True)
class OcspUpdates:
    rows: tuple[OcspUpdate, ...]
    malformed: tuple[str, ...] = ()  # rows with fewer cells than the header has columns


def log_time(text: str) -> int | None:
    """``02/Dec/2026:20:10:44 +0530`` → Unix seconds; None for ``-`` or anything else."""
    m = _DATE.fullmatch(text.strip())
    if m is None or m.group(2) not in _MONTHS:
        return None
    day, year, hour, minute, second = (int(m.group(i)) for i in (1, 3, 4, 5, 6))
    offset = timedelta(hours=int(m.group(8)), minutes=int(m.group(9))) * (1 if m.group(7) == "+" else -1)
    try:
        return int(datetime(year, _MONTHS[m.group(2)], day, hour, minute, second, tzinfo=timezone(offset)).timestamp())
    except (ValueError, OverflowError):
        return None


def parse_ocsp_updates(text: Text) -> OcspUpdates:
    listed = nonblank(text)
    first = next(listed, None)
    if first is None or not first.startswith(HEADER_START):
        raise ParseError(error_reason(text), f"show ssl ocsp-updates answered {first_line(text)!r}")
    header = [cell.strip() for cell in first.split("|")]
    if "Path" not in header:
        raise ParseError("malformed", f"show ssl ocsp-updates: no Path column in {first_line(first)!r}")
    where = {field: header.index(name) for name, field in _COLUMNS.items() if name in header}
    rows: list[OcspUpdate] = []
    malformed: list[str] = []
    for line in listed:
        check_count(len(rows) + len(malformed) + 1, MAX_ITEMS, "show ssl ocsp-updates: rows")
        cells = [cell.strip() for cell in line.split("|", len(header) - 1)]
        if len(cells) < len(header):
            malformed.append(line)
            continue
        rows.append(OcspUpdate(**{field: cells[where[field]] if field in where else "" for field in _COLUMNS.values()}))
    return OcspUpdates(tuple(rows), tuple(malformed))
