"""Parse ``show resolvers``: sections, their nameservers, and one ``name: value`` line per counter::

    Resolvers section dns1
     nameserver ns1:
      sent:        3
      snd_error:   0
"""

from __future__ import annotations

import re

from exporter.runtime.answer import Text, lines
from exporter.runtime.errors import MAX_FEW, MAX_FIELDS, ParseError, check_count, error_reason, first_line

_SECTION = re.compile(r"Resolvers section (\S.*)")
_NAMESERVER = re.compile(r" nameserver (\S.*):")
_COUNTER = re.compile(r"  ([a-z_]+):\s*(-?\d+)")

Counters = dict[tuple[str, str], dict[str, str]]  # (section, nameserver) → {counter: value text}


def parse_resolvers(text: Text) -> Counters:
    """Every nameserver's counters, in HAProxy's order; an empty answer means no resolvers."""
    found: Counters = {}
    section: str | None = None
    current: dict[str, str] | None = None
    for number, line in enumerate(lines(text), 1):
        if not line.strip():
            continue
        if (m := _SECTION.fullmatch(line)) is not None:
            section, current = m.group(1), None
        elif (m := _NAMESERVER.fullmatch(line)) is not None and section is not None:
            current = found.setdefault((section, m.group(1)), {})
            check_count(len(found), MAX_FEW, "show resolvers: nameservers")
        elif (m := _COUNTER.fullmatch(line)) is not None and current is not None:
            current[m.group(1)] = m.group(2)
            check_count(len(current), MAX_FIELDS, "show resolvers: counters of a nameserver")
        elif not found and section is None:
            raise ParseError(error_reason(text), f"show resolvers answered {first_line(text)!r}")
        else:
            raise ParseError("malformed", f"show resolvers: line {number} is unexpected: {first_line(line)!r}")
    return found
