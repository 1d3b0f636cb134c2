"""Parse ``show peers``: a header per peers section, then one block per peer of that section::

    0x55da8c6350e0: [02/Dec/2026:14:09:11] id=mypeers disabled=0 flags=0x6811 resync_timeout=2s ...
      0x55da8c638280: id=hapB(remote,active) addr=127.0.0.1:54271 last_status=ESTA last_hdshk=2s
            reconnect=2s heartbeat=1s confirm=0 tx_hbt=0 rx_hbt=0 no_hbt=0 new_conn=2 proto_err=0 coll=1
            flags=0x20000200 appctx:0x7f86cc039f30 st0=7 st1=0 task_calls=7 state=EST
            remote_table:0x55da8c7757e0 id=st_src local_id=1 remote_id=1
            shared tables:
              0x55da8c7757e0 local_id=1 remote_id=1 flags=0x0 remote_data=0x204
                  last_acked=0 last_pushed=2 last_get=0 teaching_origin=0 update=2
                  table:0x55da8c642770 id=st_src update=2 localupdate=2 refcnt=1
            Dictionary cache not dumped (use "show peers dict")

A peer's fields are the ``key=value`` words of its own line and of the indented lines right after
it that start with one (3.x adds ``app_state=`` and ``learn_state=``; only the connection's lines
have ``state=``); the first line that does not (``remote_table:``, ``shared tables:``) ends them, so
a table's ``id=`` never overrides the peer's.  Of the detail that follows, each shared table's
``table:`` line is kept (the table's own ``update``/``localupdate``); the rest is skipped.

An answer that is not whole is refused (``truncated`` when it ends early, ``malformed`` when a
part is missing before more follows): a half-read answer must never read as fewer peers.  A whole
answer has, and a cut leaves out: in each section every peer, the local one included (HAProxy
removes a section without it at start); in each peer's block its ``flags=`` line (every version
since 2.0 prints one) and every table the section shares (each peer gets each table), each with its
``table:`` line; and it never ends with a blank line (the one between two sections is written
together with the next section's header).

A stream HAProxy stops early lacks the closing blank line, which the client refuses.  What no
reading can tell from a whole answer is a stream stopped just after the blank line between two
sections (the same bytes as a whole answer of fewer sections) or, once a section's local peer is
listed, one cut after a whole peer block by something that then adds the closing blank line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from exporter.runtime.answer import Ended, Text
from exporter.runtime.errors import MAX_FEW, MAX_FIELDS, MAX_ITEMS, ParseError, check_count, error_reason, first_line
from exporter.sources.values import DIGITS

_SECTION = re.compile(r"\S+: \[[^\]]*\] (.*)")
_PEER = re.compile(r"  \S+: id=(.+?)\((local|remote)(?:,(active|inactive))?\)(.*)")
_FIELD = re.compile(r"([a-z][a-z0-9_]*)=(\S*)")
_CONTINUED = re.compile(r"\s{4,}[a-z][a-z0-9_]*=")  # an indented line starting with key=value
_SHARED = re.compile(r"\s+shared tables:")
_SHARED_ENTRY = re.compile(r"\s+0x[0-9a-fA-F]+ local_id=")  # a shared table's first line
_TABLE = re.compile(r"\s+table:\S+ id=(\S+)(.*)")  # ... and its last: the table's own counters
_DURATION = re.compile(rf"(?:({DIGITS})d)?(?:({DIGITS})h)?(?:({DIGITS})m(?!s))?(?:({DIGITS})s)?(?:({DIGITS})ms)?")


@dataclass
class Peer:
    """One ``peer`` line of a peers section, as HAProxy shows it; ``fields`` are its key=value words,
    ``tables`` the ``key=value`` words of each shared table's ``table:`` line, by table name."""

    section: str
    name: str
    local: bool
    session: str | None  # "active" when HAProxy has a session for it (connecting or established)
    fields: dict[str, str] = field(default_factory=dict)
    tables: dict[str, dict[str, str]] = field(default_factory=dict)

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


class _Block:
    """The peer being read: whether its own fields go on, and what of its shared tables is open."""

    def __init__(self, peer: Peer) -> None:
        self.peer = peer
        self.own = True  # still reading the peer's own key=value lines
        self.shared = 0  # -1: "shared tables:" seen, no table yet; else tables read
        self.open = False  # a shared table's first line seen, not yet its table: line

    def read(self, line: str) -> int:
        """Read one line of the block; 1 when it was a shared table's table: line, else 0."""
        if self.own and _CONTINUED.match(line):
            _fields(line, self.peer.fields)
            check_count(len(self.peer.fields), MAX_FIELDS, f"show peers: fields of peer {self.peer.name}")
            return 0
        self.own = False
        if _SHARED.fullmatch(line):
            self.shared = -1
        elif _SHARED_ENTRY.match(line):
            if self.open:
                raise ParseError("malformed", f"show peers: a shared table of {self.where()} has no table: line")
            self.open = True
        elif self.open and (m := _TABLE.fullmatch(line)) is not None:
            self.open = False
            self.shared = max(self.shared, 0) + 1
            fields = self.peer.tables.setdefault(m.group(1), {})
            _fields(m.group(2), fields)
            check_count(len(fields), MAX_FIELDS, f"show peers: fields of table {m.group(1)}")
            return 1
        return 0

    def missing(self) -> str | None:
        """What a whole block has and this one lacks, or None."""
        if "flags" not in self.peer.fields:
            return "its flags= line"
        if self.open:
            return "the table: line of a shared table"
        if self.shared < 0:
            return "the tables after shared tables:"
        return None

    def where(self) -> str:
        return f"{self.peer.section}/{self.peer.name}"


def parse_peers(text: Text) -> list[Peer]:
    """Every peer of every section, in HAProxy's order; an empty answer means no peers section.

    ``text`` is the answer without its closing blank line, as the client returns it.
    """
    peers: list[Peer] = []
    section: str | None = None
    in_section: list[Peer] = []  # the current section's peers
    block: _Block | None = None  # the peer whose lines are being read
    blank = False  # the last line was blank: only a section's header may follow
    tables = 0  # the shared tables read, all peers' together
    lines = Ended(text)  # rest: what follows the last newline, nothing in a whole answer
    for number, line in enumerate(lines, 1):
        if not line.strip():
            blank = True
            continue
        if (m := _PEER.fullmatch(line)) is not None and section is not None and not blank:
            _close(block, "malformed")
            block = _Block(Peer(section, m.group(1), m.group(2) == "local", m.group(3)))
            _fields(m.group(4), block.peer.fields)
            peers.append(block.peer)
            check_count(len(peers), MAX_FEW, "show peers: peers")
            check_count(len(block.peer.fields), MAX_FIELDS, f"show peers: fields of peer {block.peer.name}")
            in_section.append(block.peer)
        elif line[0] != " " and (m := _SECTION.fullmatch(line)) is not None:
            head: dict[str, str] = {}
            _fields(m.group(1), head)
            if "id" not in head:
                raise ParseError("malformed", f"show peers: line {number} names no section: {first_line(line)!r}")
            _close(block, "malformed")
            _close_section(section, in_section, "malformed")
            section, block, in_section = head["id"], None, []
        elif section is None:
            raise ParseError(error_reason(text), f"show peers answered {first_line(text)!r}")
        elif line[0] == " " and block is not None and not blank:
            tables += block.read(line)
            check_count(tables, MAX_ITEMS, "show peers: shared tables of all peers")
        else:
            raise ParseError("malformed", f"show peers: line {number} is unexpected: {first_line(line)!r}")
        blank = False
    if lines.rest:
        if section is None:
            raise ParseError(error_reason(text), f"show peers answered {first_line(text)!r}")
        raise ParseError("truncated", f"show peers: the answer ends inside a line: {first_line(lines.rest)!r}")
    if blank and section is not None:
        raise ParseError("truncated", "show peers: the answer ends with the blank line that comes before a section")
    _close(block, "truncated")
    _close_section(section, in_section, "truncated")
    return peers


def _close(block: _Block | None, reason: str) -> None:
    """The end of a peer's block: refused when it is not whole (``reason``: truncated at the end of
    the answer, malformed before another block)."""
    missing = block.missing() if block is not None else None
    if block is not None and missing is not None:
        raise ParseError(reason, f"show peers: peer {block.where()} ends without {missing}")


def _close_section(section: str | None, peers: list[Peer], reason: str) -> None:
    """The end of a section: refused when it is not whole.  HAProxy lists every peer of a section,
    the local one included (a section without it is removed at start), and each peer with every
    table the section shares (peers_register_table gives each peer each table)."""
    if section is None:
        return
    if not any(peer.local for peer in peers):
        what = "any peer" if not peers else "its local peer"
        raise ParseError(reason, f"show peers: section {section} ends without {what}")
    tables = {frozenset(peer.tables) for peer in peers}
    if len(tables) > 1:
        raise ParseError(reason, f"show peers: the peers of section {section} do not list the same tables")


def duration_seconds(text: str) -> float | None:
    """HAProxy's ``human_time`` (``0s``, ``5s``, ``1m2s``, ``3h5m``, ``2d4h``; ``500ms`` accepted too)
    in seconds; None for anything else (``<NEVER>``, ``<PAST>``, ``?``, more digits than any
    number HAProxy prints)."""
    m = _DURATION.fullmatch(text)
    if not text or m is None:
        return None
    days, hours, minutes, seconds, millis = (int(g) if g else 0 for g in m.groups())
    return days * 86400 + hours * 3600 + minutes * 60 + seconds + millis / 1000
