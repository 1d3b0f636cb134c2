"""Parse the listings ``show map`` and ``show acl`` print without an argument::

    # id (file) description
    4 (/etc/haproxy/hosts.map) pattern loaded from file '/etc/haproxy/hosts.map' used by map at file \
'/etc/haproxy/haproxy.cfg' line 16. curr_ver=0 next_ver=0 entry_cnt=3
    2 () acl 'path_beg' file '/etc/haproxy/haproxy.cfg' line 13. curr_ver=0 next_ver=0 entry_cnt=1

One line per pattern list: its id, its file in parentheses (empty for the patterns written inline
in an ``acl`` line), a description, and ``entry_cnt``, the number of entries (2.6 to 3.4 all print
it, so counting never needs the per-list dump ``show map #<id>``, which streams every entry).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from exporter.runtime.answer import Text, lines
from exporter.runtime.errors import MAX_ITEMS, ParseError, check_count, error_reason, first_line

HEADER = "# id (file) description"
# The file is everything up to the ") " that starts the description: a path may hold spaces and
# parentheses, the description always starts with a lower-case word (pattern, acl, map).
_LINE = re.compile(r"(?P<id>-?\d{1,20}) \((?P<file>.*?)\) (?P<description>[a-z].*?)"
                   r"(?: curr_ver=\d+ next_ver=\d+)? entry_cnt=(?P<count>\d{1,20})")


@dataclass(frozen=True)
class PatternList:
    """One listed map or ACL: HAProxy's id, its file ("" when inline) and its number of entries."""

    id: int
    file: str
    entries: int


def parse_listing(text: Text, what: str = "show map") -> list[PatternList]:
    """Every listed pattern list in HAProxy's order; an answer with only the header means none."""
    if first_line(text) != HEADER:
        raise ParseError(error_reason(text), f"{what} answered {first_line(text)!r}")
    found: list[PatternList] = []
    listed = lines(text)
    next(listed)  # the header
    for number, line in enumerate(listed, 2):
        if not line:
            continue
        m = _LINE.fullmatch(line)
        if m is None:
            raise ParseError("malformed", f"{what}: line {number} is not a pattern list: {first_line(line)!r}")
        found.append(PatternList(int(m.group("id")), m.group("file"), int(m.group("count"))))
        check_count(len(found), MAX_ITEMS, f"{what}: pattern lists")
    return found


def parse_maps(text: Text) -> list[PatternList]:
    """``show map`` → its pattern lists."""
    return parse_listing(text, "show map")


def parse_acls(text: Text) -> list[PatternList]:
    """``show acl`` → its pattern lists."""
    return parse_listing(text, "show acl")
