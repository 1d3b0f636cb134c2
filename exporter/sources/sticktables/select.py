"""Which entries of a stick-table dump are kept, decided while the dump is read.

At most ``max_entries`` entries of a table are exported: over the cap, those with the highest
``sort_by`` value (ties in HAProxy's order).  A dump holds whatever the table holds, a million
entries or more, and the answer is capped in bytes only (``haproxy.max_response_bytes``), so the
entries are ranked as the dump's lines are read: a line is turned into an entry only when it is
one of the best so far, and at most ``max_entries`` entries exist at any time.  Making every
entry first, then choosing, took about six times the dump's size in memory.
"""

from __future__ import annotations

import heapq
from typing import Generic, Optional, Protocol, Sequence, TypeVar

from exporter.sources.sticktables import naming
from exporter.sources.values import number_text

Data = Sequence[tuple[str, str, str]]  # an entry's (name, period, value) triplets


def field_value(fields: str, name: str) -> Optional[str]:
    """The value text of one data element in an entry's ``" name=value name(period)=value"``."""
    start = fields.find(f" {name}=")
    if start >= 0:
        start += len(name) + 2
    else:
        start = fields.find(f" {name}(")
        if start < 0:
            return None
        start = fields.index("=", start) + 1
    end = fields.find(" ", start)
    return fields[start:] if end < 0 else fields[start:end]


def number(text: Optional[str]) -> int:
    """Rank value of an element; entries without it, or whose value is no number HAProxy prints
    (values.py: the value rules the model exports by), rank last."""
    value = None if text is None else number_text(text)
    return -1 if value is None else int(value)


def default_sort_by(data: Data) -> Optional[str]:
    """The element to rank by when the config names none (see naming.DEFAULT_SORT_ORDER), from
    one entry's data (every entry of a table stores the same types)."""
    stored = [name for name, _, value in data if value.isdigit()]
    for name in naming.DEFAULT_SORT_ORDER:
        if name in stored:
            return name
    return stored[0] if stored else None


class Ranked(Protocol):
    """What ranking needs of an entry (parse.Entry)."""

    use: int
    exp: int

    @property
    def fields(self) -> str: ...

    @property
    def data(self) -> list[tuple[str, str, str]]: ...


T = TypeVar("T", bound=Ranked)


class Keeper(Generic[T]):
    """The best ``max_entries`` entries of a dump read in order (all of them without a cap).

    For each line: while there is :meth:`room`, :meth:`append` the entry; then :meth:`rank` the
    line, and only if :meth:`wants` it, make the entry and :meth:`add` it.  Nothing is ranked
    until the cap is reached, so a dump under the cap costs what it did before; the ranking is
    then decided on the first entry, as the model always did: the configured ``sort_by`` if the
    table stores it, else the default order's first stored type (every entry stores the same).
    """

    def __init__(self, max_entries: Optional[int], sort_by: Optional[str]) -> None:
        self.max_entries = max_entries
        self.asked = sort_by
        self.by: Optional[str] = None  # what entries are ranked by once over the cap (None: dump order)
        self.missing = False  # the configured sort_by is not stored in this table
        self.seen = 0
        self._kept: list[T] = []  # under the cap: every entry, in order
        self._heap: Optional[list[tuple[int, int, T]]] = None  # over it: (rank, -position), worst first

    def room(self) -> bool:
        """Whether the next entry is kept without ranking (the cap is not reached yet)."""
        if self._heap is not None:
            return False
        if self.max_entries is None or len(self._kept) < self.max_entries:
            return True
        self._start_ranking()
        return False

    def append(self, entry: T) -> None:
        self.seen += 1
        self._kept.append(entry)

    def _start_ranking(self) -> None:
        first = self._kept[0]
        sort_by = self.asked
        if sort_by is not None and sort_by not in ("use", "exp") and field_value(first.fields, sort_by) is None:
            self.missing = True  # ranked by a type the table does not store: fall back, and say so
            sort_by = None
        self.by = sort_by if sort_by is not None else default_sort_by(first.data)
        self._heap = [(self.rank(e.use, e.exp, e.fields), -n, e) for n, e in enumerate(self._kept, 1)]
        heapq.heapify(self._heap)
        self._kept = []

    def rank(self, use: int, exp: int, fields: str) -> int:
        by = self.by
        if by is None:
            return 0
        if by == "use":
            return use
        if by == "exp":
            return exp
        return number(field_value(fields, by))

    def wants(self, rank: int) -> bool:
        """Whether the next entry, of this rank, is one of the best so far; counts it as seen."""
        assert self._heap is not None, "room() first"
        self.seen += 1
        return (rank, -self.seen) > self._heap[0][:2]

    def add(self, rank: int, entry: T) -> None:
        """Keep the entry :meth:`wants` just accepted, in place of the worst one."""
        assert self._heap is not None
        heapq.heapreplace(self._heap, (rank, -self.seen, entry))

    def cut(self) -> bool:
        return self._heap is not None and self.seen > len(self._heap)

    def kept(self) -> list[T]:
        """The kept entries: in HAProxy's order under the cap, else best first (ties in its order)."""
        if self._heap is None:
            return self._kept
        return [entry for _, _, entry in sorted(self._heap, key=lambda item: item[:2], reverse=True)]
