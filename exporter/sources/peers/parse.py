"""Parse ``show peers``: a header per peers section, then one block per peer of that section::

    0x55da8c6350e0: [02/Dec/2026:14:09:11] id=mypeers disabled=0 flags=0x6811 resync_timeout=2s ...
      0x55da8c638280: id=hapB(remote,active) addr=127.0.0.1:54271 last_status=ESTA last_hdshk=2s
            reconnect=2s heartbeat=1s confirm=0 tx_hbt=0 rx_hbt=0 no_hbt=0 new_conn=2 proto_err=0 coll=1
            flags=0x20000200 appctx:0x7f86cc039f30 st0=7 st1=0 task_calls=7 state=EST
            remote_table:0x55da8c7757e0 id=st_src local_id=1 remote_id=1
            shared tables:
              ...

A peer's fields are the ``key=value`` words of its own line and of the indented lines right after
it that start with one (3.x adds ``app_state=`` and ``learn_state=``; only the connection's lines
have ``state=``); the first line that does not (``remote_table:``, ``shared tables:``, the
dictionary) ends them, so a table's ``id=`` never overrides the peer's.  Whatever follows, up to the
next peer or section, is the tables' detail: skipped, however long, and whatever it holds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from exporter.runtime.answer import Text, lines
from exporter.runtime.errors import MAX_FEW, MAX_FIELDS, ParseError, check_count, error_reason, first_line

_SECTION = re.compile(r"\S+: \[[^\]]*\] (.*)")
_PEER = re.compile(r"  \S+: id=(.+?)\((local|remote)(?:,(active|inactive))?\)(.*)")
_FIELD = re.compile(r"([a-z][a-z0-9_]*)=(\S*)")
_CONTINUED = re.compile(r"\s{4,}[a-z][a-z0-9_]*=")  # an indented line starting with key=value
_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?")


@dataclass
class Peer:
    """One ``peer`` line of a peers section, as HAProxy shows it; ``fields`` are its key=value words."""

    section: str
    name: str
    local: bool
    session: str | None  # "active" when HAProxy has a session for it (connecting or established)
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        """Whether HAProxy has a session for the peer.  Without the ``(remote,active)`` word (not
        in the captured versions; kept for older ones), the session's own fields say it (``st0=``
        is printed only for a session)."""
        return self.session == "active" if self.session is not None else "st0" in self.fields


def _fields(text: str, into: dict[str, str]) -> None:
    """Add the line's key=value words; a key already seen keeps its first value."""
    for key, value in _FIELD.findall(text):
        into.setdefault(key, value)


def parse_peers(text: Text) -> list[Peer]:
    """Every peer of every section, in HAProxy's order; an empty answer means no peers section."""
    peers: list[Peer] = []
    section: str | None = None
    current: Peer | None = None  # the peer whose field lines are being read, until they end
    for number, line in enumerate(lines(text), 1):
        if not line.strip():
            continue
        if (m := _PEER.fullmatch(line)) is not None and section is not None:
            current = Peer(section, m.group(1), m.group(2) == "local", m.group(3))
            _fields(m.group(4), current.fields)
            peers.append(current)
            check_count(len(peers), MAX_FEW, "show peers: peers")
            check_count(len(current.fields), MAX_FIELDS, f"show peers: fields of peer {current.name}")
        elif line[0] != " " and (m := _SECTION.fullmatch(line)) is not None:
            head: dict[str, str] = {}
            _fields(m.group(1), head)
            if "id" not in head:
                raise ParseError("malformed", f"show peers: line {number} names no section: {first_line(line)!r}")
            section, current = head["id"], None
        elif line[0] == " " and section is not None:
            if current is not None and _CONTINUED.match(line):
                _fields(line, current.fields)
                check_count(len(current.fields), MAX_FIELDS, f"show peers: fields of peer {current.name}")
            else:
                current = None  # the tables' detail: not read
        elif section is None:
            raise ParseError(error_reason(text), f"show peers answered {first_line(text)!r}")
        else:
            raise ParseError("malformed", f"show peers: line {number} is unexpected: {first_line(line)!r}")
    return peers


def duration_seconds(text: str) -> float | None:
    """HAProxy's ``human_time`` (``0s``, ``5s``, ``1m2s``, ``3h5m``, ``2d4h``; ``500ms`` accepted too)
    in seconds; None for anything else (``<NEVER>``, ``<PAST>``, ``?``)."""
    m = _DURATION.fullmatch(text)
    if not text or m is None:
        return None
    days, hours, minutes, seconds, millis = (int(g) if g else 0 for g in m.groups())
    return days * 86400 + hours * 3600 + minutes * 60 + seconds + millis / 1000
