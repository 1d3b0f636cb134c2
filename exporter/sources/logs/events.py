"""Parse ``show events`` without an argument: HAProxy's event sinks, rings among them, each with
the count of events it dropped::

    Supported events sinks are listed below. Add -0(zero), -w(wait), -n(new). Any key to stop.
        stdout     : type=fd, 0 dropped, standard output (fd#1)
        logs       : type=buffer, 0 dropped, logs for the exporter

A ring's ``dropped`` is no counter: it holds the events the ring refused while a reader lagged
and has not announced yet (HAProxy writes ``N events dropped`` into the ring as soon as it can,
and takes N off; 3.x lists twice the count, its lowest bit being a lock).  So the log source counts
the announcements it streams (tally.py), and this listing serves to see what is still pending
(bench/logs.py) and which rings a HAProxy has.  The first line's wording changed (``-0(zero)``
came with 2.8); the sink lines did not.
The listing needs no more than level user; dumping or streaming a ring needs operator.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from exporter.runtime.answer import Text, lines
from exporter.runtime.errors import MAX_FEW, ParseError, check_count, error_reason, first_line

HEADER = "Supported events sinks are listed below."
_SINK = re.compile(r"\s+(?P<name>\S+)\s*: type=(?P<type>[a-z]+), (?P<dropped>\d{1,20}) dropped, (?P<description>.*)")


@dataclass(frozen=True)
class Sink:
    """One listed sink: a ring is ``type`` ``buffer``; ``fd`` sinks are stdout and stderr."""

    name: str
    type: str
    dropped: int
    description: str


def parse_sinks(text: Text) -> dict[str, Sink]:
    """Every listed sink by name, in HAProxy's order."""
    if not first_line(text).startswith(HEADER):
        raise ParseError(error_reason(text), f"show events answered {first_line(text)!r}")
    found: dict[str, Sink] = {}
    listed = lines(text)
    next(listed)  # the header
    for number, line in enumerate(listed, 2):
        if not line:
            continue
        m = _SINK.fullmatch(line)
        if m is None:
            raise ParseError("malformed", f"show events: line {number} is not a sink: {first_line(line)!r}")
        found[m.group("name")] = Sink(m.group("name"), m.group("type"), int(m.group("dropped")), m.group("description"))
        check_count(len(found), MAX_FEW, "show events: sinks")
    return found
