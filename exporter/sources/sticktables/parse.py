"""Parse ``show table`` (the summary) and ``show table <name>`` (a dump) into plain records.

Pure functions, text in and records out (reference sheet §4).  A dump is a header line like the
summary's, then one line per entry::

    0x55bc28071e58: key=127.0.0.1 use=0 exp=599672 [shard=0] gpc0=7 conn_rate(10000)=7 server_key=-

Values stay the text HAProxy sent (the renderer writes them unchanged); the model decides what is
a number.  String keys are escaped by HAProxy (``\\ `` for a space, ``\\=``, ``\\\\``, ``\\t``,
``\\xC3``…); :func:`key_text` turns them back into the key's text for the ``key`` label, escaped
so that no two keys share one.

A dump taken on a ``level user`` socket has a second line
``# contents not dumped due to insufficient privileges``: that raises
:class:`~exporter.runtime.errors.ParseError` with reason ``permission_denied`` (not an empty table), so
the poller counts it as an error of that command and the rest of the poll goes on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from exporter.runtime.answer import Text, answer_of, lines
from exporter.runtime.errors import MAX_ITEMS, ParseError, check_count, error_reason, first_line
from exporter.sources.sticktables.select import Keeper, field_value

_SUMMARY = re.compile(
    r"# table: (?P<name>.+?), type: (?P<type>[a-z0-9]+), size:(?P<size>\d{1,20}), used:(?P<used>\d{1,20})(?!\d)"
)
NOT_DUMPED = "# contents not dumped due to insufficient privileges"
# One token of an entry line: a run of characters where an escaped space does not end the token.
_ENTRY = re.compile(
    r"0x[0-9a-fA-F]+: key=((?:\\.|[^\\ ])*) use=(\d{1,20}) exp=(\d{1,20})(?: shard=(\d{1,20}))?"
    r"((?: [a-z0-9_]+(?:\(\d{1,20}\))?=[^ ]*)*) ?"
)
_FIELD = re.compile(r" ([a-z0-9_]+)(?:\((\d+)\))?=([^ ]*)")
_KEY_ESCAPE = re.compile(r"\\(x[0-9A-Fa-f]{2}|.)")
_SIMPLE_ESCAPES = {"t": b"\t", "n": b"\n", "r": b"\r", "e": b"\x1b"}


@dataclass(frozen=True)
class TableInfo:
    """One ``# table:`` line: the table's name, key type, capacity and current number of entries."""

    name: str
    type: str
    size: int
    used: int


class Entry:
    """One stored key: ``key`` as printed (escaped for string keys; see :func:`key_text`), ``use``,
    ``exp`` (ms), ``shard`` (2.7+, else None) and ``data``: (name, period, value) text triplets in
    HAProxy's order, ``period`` being a rate's period in ms as printed (``"10000"``) or ``""``.

    The line is fully validated when parsed, but ``data`` is split only when first used: ranking
    100,000 entries to export 1,000 needs one value per entry, found by :meth:`value` alone.
    """

    __slots__ = ("key", "use", "exp", "shard", "_fields", "_data")

    def __init__(self, key: str, use: int, exp: int, shard: Optional[int] = None, fields: str = "") -> None:
        self.key = key
        self.use = use
        self.exp = exp
        self.shard = shard
        self._fields = fields  # " name=value name(period)=value ...", already checked by _ENTRY
        self._data: Optional[list[tuple[str, str, str]]] = None

    @property
    def data(self) -> list[tuple[str, str, str]]:
        if self._data is None:
            self._data = _FIELD.findall(self._fields)
        return self._data

    @property
    def fields(self) -> str:
        return self._fields

    def value(self, name: str) -> Optional[str]:
        """The value text of one data element (``gpc0``, ``http_req_rate``), or None if absent."""
        return field_value(self._fields, name)

    def __repr__(self) -> str:
        return f"Entry({self.key!r}, use={self.use}, exp={self.exp}, shard={self.shard}, data={self.data!r})"


@dataclass
class TableDump:
    """A parsed ``show table <name>``: the header and the entries kept (every one without a cap).

    ``seen`` counts the dump's entries; when it is more than ``entries``, these are the best by
    ``sort_by`` (None: the dump's first ones), and ``sort_missing`` says the configured type is
    not stored in the table.
    """

    table: TableInfo
    entries: list[Entry]
    seen: int = -1
    sort_by: Optional[str] = None
    sort_missing: bool = False

    def __post_init__(self) -> None:
        if self.seen < 0:
            self.seen = len(self.entries)


def _parse_header(line: str) -> TableInfo | None:
    m = _SUMMARY.match(line)
    if m is None:
        return None
    return TableInfo(m.group("name"), m.group("type"), int(m.group("size")), int(m.group("used")))


def _answer_error(text: Text) -> ParseError:
    """HAProxy answered an error text instead of data; classify it for the error metric."""
    line = first_line(text)
    if line.startswith("Filter entry #"):
        return ParseError("bad_filter", f"HAProxy refused the filter: {line!r}")
    return ParseError(error_reason(text), f"HAProxy answered {line!r}" if line else "empty answer")


def parse_table_summary(text: Text) -> list[TableInfo]:
    """``show table`` → one record per table (an empty answer means no tables)."""
    tables: list[TableInfo] = []
    for number, line in enumerate(lines(text), 1):
        if not line:
            continue
        info = _parse_header(line)
        if info is None:
            if not tables:
                raise _answer_error(text)
            raise ParseError("malformed_entry", f"show table: line {number} is not a table line: {line[:120]!r}")
        tables.append(info)
        check_count(len(tables), MAX_ITEMS, "show table: tables")
    return tables


def parse_table_dump(text: Text, max_entries: Optional[int] = None, sort_by: Optional[str] = None) -> TableDump:
    """``show table <name> [filters]`` → header and entries; errors raise :class:`ParseError`.

    With ``max_entries``, only that many entries are kept, the best by ``sort_by`` (select.py):
    the others are validated and counted, never made, and the answer's text is let go of a
    block at a time as it is read, so a dump costs about its text and the kept entries.
    """
    answer = answer_of(text)
    header = _parse_header(answer.head(4096).split("\n", 1)[0])
    if header is None:
        raise _answer_error(answer)
    keep: Keeper[Entry] = Keeper(max_entries, sort_by)
    listed = answer.lines(consume=True)
    next(listed)  # the header
    for number, line in enumerate(listed, 2):
        if not line:
            continue
        if line[0] == "#":
            if line.startswith(NOT_DUMPED):
                raise ParseError(
                    "permission_denied",
                    f"table {header.name}: contents not dumped due to insufficient privileges "
                    "(the socket needs level operator or admin)",
                )
            continue  # a comment line HAProxy may add in a later version; nothing to export
        # One regex for the fixed head (the fields are split only for entries kept): it runs in
        # C, which is what keeps a 100,000-entry dump near a second of CPU instead of several.
        m = _ENTRY.fullmatch(line)
        if m is None:
            raise ParseError("malformed_entry", f"show table: line {number} is not an entry: {line[:120]!r}")
        key, use, exp, shard, fields = m.groups()
        if keep.room():
            keep.append(Entry(key, int(use), int(exp), None if shard is None else int(shard), fields))
            continue
        rank = keep.rank(int(use), int(exp), fields)
        if keep.wants(rank):
            keep.add(rank, Entry(key, int(use), int(exp), None if shard is None else int(shard), fields))
    cut = keep.cut()
    return TableDump(header, keep.kept(), keep.seen, keep.by if cut else None, keep.missing and cut)


def key_text(key: str, key_type: str) -> str:
    """The label text of a key: string keys unescaped and decoded as UTF-8, other types as printed.

    Two string keys never share a label: a key's backslash is doubled (``\\\\``) and a byte that
    is not UTF-8 becomes ``\\x`` and two lower-case hex digits (Python's backslashreplace), so the
    byte 0xFF (``\\xff``) and the text ``\\xff`` (``\\\\xff``) stay two series, and the label
    reads back to the key's bytes unambiguously.  Binary keys keep HAProxy's hex form, which is
    also what ``show table key`` takes.
    """
    if key_type != "string" or "\\" not in key:
        return key
    raw = bytearray()
    pos = 0
    for m in _KEY_ESCAPE.finditer(key):
        raw += key[pos:m.start()].encode("utf-8")
        code = m.group(1)
        if len(code) == 3 and code[0] == "x":
            raw.append(int(code[1:], 16))
        else:
            raw += _SIMPLE_ESCAPES.get(code) or code.encode("utf-8")
        pos = m.end()
    raw += key[pos:].encode("utf-8")
    return raw.replace(b"\\", b"\\\\").decode("utf-8", errors="backslashreplace")
