"""Parse ``show errors``: the global count, and the header of each captured error, never its bytes::

    Total events captured on [02/Dec/2026:14:12:40.161] : 3

    [02/Dec/2026:14:12:40.160] frontend fe_web (#2): invalid request
      backend <NONE> (#-1), server <NONE> (#-1), event #0, src 127.0.0.1:46492
      buffer starts at 0 (including 0 out), 16328 free,
      ...
      00000  GET /login?user=demo HTTP/1.1\\r\\n

HAProxy keeps one error per proxy and direction (the last invalid request of a frontend, the last
invalid response of a backend) and dumps each with up to a buffer of what was received, which may
hold credentials.  Only the two header lines of each entry are read: every dumped byte is on an
indented line behind an offset (HAProxy escapes line breaks and control bytes), so a line that
starts with ``[`` can only be an entry's header.  Times are HAProxy's local time, without a zone;
they are kept as printed and turned into Unix time by the model, against the header's own "now".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from exporter.runtime.answer import Text, lines
from exporter.runtime.errors import MAX_ITEMS, ParseError, check_count, error_reason, first_line

_DATE = r"\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d\.\d{3}"
_TOTAL = re.compile(rf"Total events captured on \[(?P<date>{_DATE})\] : (?P<total>\d{{1,20}})")
# An entry's two header lines: the first a line of its own, the second read up to the event number.
_ENTRY = re.compile(
    rf"\[(?P<date>{_DATE})\] (?P<side>frontend|backend) (?P<proxy>[A-Za-z0-9_.:-]+) \(#-?\d+\): "
    r"invalid (?:request|response)")
_EVENT = re.compile(r"  [^\n]*?, event #(?P<event>\d{1,20}),")
_MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
                                       "Nov", "Dec"), 1)}


@dataclass(frozen=True)
class CapturedError:
    """One kept error: ``side`` frontend (an invalid request) or backend (an invalid response)."""

    side: str
    proxy: str
    when: datetime  # HAProxy's local time, naive
    event: int  # HAProxy's global event number when it was captured


@dataclass(frozen=True)
class ErrorDump:
    """``show errors``: the count of every error captured since start, the time of the dump, the entries."""

    total: int
    now: datetime  # HAProxy's local time when it answered, naive
    entries: tuple[CapturedError, ...]


def local_time(text: str) -> datetime:
    """``02/Dec/2026:14:12:40.161`` → a naive datetime (English month names, whatever the locale)."""
    day, month, rest = text.split("/", 2)
    year, hour, minute, second = rest.split(":")
    whole, millis = second.split(".")
    return datetime(int(year), _MONTHS[month], int(day), int(hour), int(minute), int(whole), int(millis) * 1000)


def _time(text: str) -> datetime:
    try:
        return local_time(text)
    except (KeyError, ValueError):  # a month or a day that is not one
        raise ParseError("malformed", "show errors: a date is not a date") from None


def parse_errors(text: Text) -> ErrorDump:
    """The dump's count and entry headers; an error answer (``Permission denied``) raises ParseError."""
    head = _TOTAL.fullmatch(first_line(text, limit=200))
    if head is None:
        raise ParseError(error_reason(text), f"show errors answered {first_line(text)!r}")
    entries: list[CapturedError] = []
    headers = 0
    now = _time(head.group("date"))
    found: re.Match[str] | None = None  # an entry's first line, waiting for its second
    for line in lines(text):
        if found is not None:
            event = _EVENT.match(line)
            if event is not None:
                entries.append(CapturedError(found.group("side"), found.group("proxy"), _time(found.group("date")),
                                             int(event.group("event"))))
            found = None
        if line[:1] == "[":
            headers += 1
            check_count(headers, MAX_ITEMS, "show errors: captured errors")
            found = _ENTRY.fullmatch(line)
    if headers != len(entries):  # never quote the dump: its lines may be a client's bytes
        raise ParseError("malformed", f"show errors: {headers - len(entries)} of {headers} entry headers "
                                      "are not as expected")
    return ErrorDump(int(head.group("total")), now, tuple(entries))
