"""Turn a parsed ``show stat`` table into metric families.

Everything here is pure: records in, families out.  Empty cells produce no series (an empty cell
means "no value", not zero), and cells that are not numbers are skipped and counted rather than
breaking the exposition.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import Counter
from itertools import chain, compress
from operator import itemgetter
from typing import Any, Callable, Sequence

from exporter.exposition.families import (
    NO_LABELS,
    NO_SUFFIX,
    Family,
    LabelColumn,
    LabelExtension,
    LabelProduct,
    LabelSet,
    LabelSuffix,
    LabelVariants,
    clean_label_text,
)
from exporter.reuse import PollMemo, itself
from exporter.sources.stat import naming
from exporter.sources.stat.parse import BACKEND, FRONTEND, LISTENER, SERVER, StatTable
from exporter.sources.values import COUNTER, GAUGE, Built, ModelStats, number_text, plain_column, replay, scaled_text

SCOPE_OF_TYPE = {FRONTEND: "frontend", BACKEND: "backend", SERVER: "server", LISTENER: "listener"}
# The label variants rows need every poll (state sets, response classes): see LabelSet.variants.
_SERVER_STATES = LabelVariants("state", naming.SERVER_STATES)
_PROXY_STATES = LabelVariants("state", naming.PROXY_STATES)
_LISTENER_STATES = LabelVariants("state", naming.LISTENER_STATES)
_CHECK_STATES = LabelVariants("state", naming.CHECK_STATES)
_CODES = LabelVariants("code", tuple(code for _, code in naming.HTTP_RESPONSE_CODES))
_NAME_SAFE = re.compile(r"[^a-zA-Z0-9_]")


# ---------------------------------------------------------------- states

def server_state(status: str) -> str | None:
    """promex's server state for any status string HAProxy prints (reference sheet §1.4)."""
    word = status.split(" ", 1)[0]
    if word in ("MAINT", "DRAIN", "NOLB", "DOWN", "UP"):
        return word
    if status == "no check":
        return "UP"
    return None


def proxy_state(status: str) -> str | None:
    word = status.split(" ", 1)[0]
    if word in ("UP", "OPEN", "FULL"):
        return "UP"
    if word in ("DOWN", "STOP", "PAUSED"):
        return "DOWN"
    return None


def check_state(status: str) -> str | None:
    """Check codes carry a ``* `` prefix while a check runs; INI/UNK/CHECKED are not in promex's set."""
    code = status[2:] if status.startswith("* ") else status
    return code if code in naming.CHECK_STATES else None


def _state_values(states: tuple[str, ...]) -> dict[str | None, tuple[str, ...]]:
    """A state set's values for each possible current state (None: the status matches none)."""
    values: dict[str | None, tuple[str, ...]] = {
        current: tuple("1" if state == current else "0" for state in states) for current in states
    }
    values[None] = ("0",) * len(states)
    return values


def _state_sets(name: str, help: str, scope: str, labels: Sequence[LabelSet], statuses: Sequence[str],
                group: LabelVariants, classify: Callable[[str], str | None]) -> Family:
    """One series per state for every row with a non-empty cell; the current state is 1."""
    values = _state_values(group.values)
    chosen = {status: values.get(classify(status), values[None]) for status in set(statuses) if status}
    rows = labels if all(statuses) else tuple(compress(labels, statuses))
    return Family.of_columns(name, GAUGE, help, LabelProduct(rows, group),
                             list(chain.from_iterable(map(chosen.__getitem__, filter(None, statuses)))), scope=scope)


# ---------------------------------------------------------------- show stat

def _pick(column: Sequence[str], rows: Sequence[int]) -> tuple[str, ...]:
    """The cells of ``rows``, in their order."""
    if len(rows) > 1:
        return itemgetter(*rows)(column)  # type: ignore[no-any-return]
    return tuple(column[row] for row in rows)


class Cells:
    """A scope's cells of one column, picked out of the table's column when first read.

    It compares by what it is made of: the table's column (or a column made for the scope) and the
    scope's row numbers, each the very object of the last poll when equal (``stat_families`` makes
    them so), so a family's inputs compare in no time when nothing changed, and cells are picked
    only for the families made again: in the steady state a poll picks out the few columns that
    moved, not every cell of the table.
    """

    __slots__ = ("source", "rows", "own", "_cells")

    def __init__(self, source: Sequence[str], rows: Sequence[int], own: bool = False) -> None:
        self.source = source
        self.rows = rows  # the table's row numbers, in the order of the scope's series
        self.own = own  # ``source`` is the scope's cells already (agent codes made for the scope)
        self._cells: tuple[str, ...] | None = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Cells):
            return NotImplemented
        return (self.own == other.own and (self.source is other.source or self.source == other.source)
                and (self.rows is other.rows or self.rows == other.rows))

    __hash__ = None  # type: ignore[assignment]

    def cells(self) -> tuple[str, ...]:
        found = self._cells
        if found is None:
            found = self._cells = tuple(self.source) if self.own else _pick(self.source, self.rows)
        return found

    def forget(self) -> None:
        """Drop the picked cells: kept from poll to poll to be compared, they are not read again."""
        self._cells = None


class _Scope:
    """One object type's rows: their label sets, and their cells column by column (:class:`Cells`)."""

    def __init__(self, name: str, rows: list[int], labels: tuple[LabelSet, ...], table_columns: list[list[str]],
                 maint: frozenset[LabelSet] | None = None) -> None:
        self.name = name
        self.rows = rows  # the table's row numbers, in the order of the scope's series
        self.labels = labels  # shared by the scope's families as their label column: never changed
        self.maint = maint  # the row sets of servers in maintenance (the last rows)
        self._table_columns = table_columns
        self._cells: dict[int, Cells] = {}

    def cells(self, idx: int) -> Cells:
        """The scope's cells of column ``idx``, one object per column and poll."""
        found = self._cells.get(idx)
        if found is None:
            found = self._cells[idx] = Cells(self._table_columns[idx], self.rows)
        return found

    def column(self, idx: int) -> tuple[str, ...]:
        return self.cells(idx).cells()

    def replace(self, idx: int, cells: tuple[str, ...]) -> None:
        self._cells[idx] = Cells(cells, self.rows, own=True)

    def forget(self) -> None:
        for cells in self._cells.values():
            cells.forget()


class StatReuse:
    """What the ``show stat`` model of one process keeps from poll to poll (exporter/reuse.py).

    - ``families``: each family (or group of families) by key, with the inputs it was built from;
    - ``objects``: the table's columns, each scope's rows and label sets, and the label columns made
      from them, as the very objects of the last poll while they are equal: every family reading
      them then compares its inputs by identity;
    - ``rows``: each scope's row label sets by the row's names.  The same proxies and servers come
      back every poll, and their label text (plus the variants per row that state sets and response
      classes need, kept with the set) does not change: rows seen before cost no label objects.
    """

    def __init__(self, extra: LabelSuffix = NO_SUFFIX) -> None:
        self.extra = extra  # labels after the row's own on every set (an old worker's ``worker``)
        self.families: PollMemo[Built] = PollMemo()
        self.objects: PollMemo[Any] = PollMemo()
        self.rows: dict[str, PollMemo[LabelSet]] = {scope: PollMemo() for scope in SCOPE_OF_TYPE.values()}

    def columns(self) -> list[list[str]]:
        """The table's columns as the last build kept them (to be compared with the next table's)."""
        columns: list[list[str]] = []
        while (column := self.objects.kept(("column", len(columns)))) is not None:
            columns.append(column)
        return columns

    def __len__(self) -> int:
        """Rows kept (those of the latest poll)."""
        return sum(rows.size() for rows in self.rows.values())


def _scope_keys(key_columns: tuple[tuple[str, ...], ...], names: tuple[str, ...], extra: LabelSuffix,
                rows: PollMemo[LabelSet]) -> tuple[list[int] | None, tuple[LabelSet, ...]]:
    """Which of a scope's rows to keep (None: all; else positions, the first of each name) and the
    label set of each kept row, for the rows whose names are ``key_columns``."""
    keys = list(zip(*key_columns))
    keep = None
    if len(set(keys)) != len(keys):
        # Two rows of one name (a frontend's name appears once; a repeated or garbled row)
        # would make duplicate samples: one row per name, the first.
        keep = _first_of_each_name(keys)
        keys = [keys[i] for i in keep]
    with rows.poll():
        labels = LabelColumn(rows.get(key, _row_labels, key, names, extra) for key in keys)
    return keep, labels


def _ordered(rows: list[int], labels: tuple[LabelSet, ...]) -> tuple[list[int], tuple[LabelSet, ...]]:
    return rows, labels


def _scopes(table: StatTable, columns: list[list[str]], reuse: StatReuse) -> list[_Scope]:
    scopes = []
    status_idx = table.column("status")
    for row_type, scope in SCOPE_OF_TYPE.items():
        rows = table.kinds[row_type]
        names = naming.SCOPE_LABELS[scope]
        # pxname, and svname where the scope has two labels
        key_columns = tuple(_pick(columns[i], rows) for i in range(len(names)))
        keep, labels = reuse.objects.get(("keys", scope), _scope_keys, key_columns, names, reuse.extra,
                                         reuse.rows[scope])
        if keep is not None:
            rows = [rows[i] for i in keep]
        maint = 0
        if row_type == SERVER and status_idx is not None:
            order, maint = _maintenance_last(_pick(columns[status_idx], rows))
            if maint:
                rows, labels = [rows[i] for i in order], LabelColumn(labels[i] for i in order)
        # The very objects of the last poll when equal (servers in maintenance reorder them each poll).
        rows, labels = reuse.objects.get(("order", scope), _ordered, rows, labels)
        scopes.append(_Scope(scope, rows, labels, columns,
                             frozenset(labels[len(labels) - maint:]) if maint else None))
    return scopes


def _maintenance_last(statuses: Sequence[str]) -> tuple[list[int], int]:
    """The positions of the server rows with those in maintenance last (in their order), and how
    many those are.

    Every family is built in row order, so each family's samples of servers in maintenance are
    then a tail of it: promex's ``no-maint`` serves the family without its tail (Family.maint_from).
    A status of MAINT, ``MAINT (via ...)`` or ``MAINT (resolution)`` is promex's SRV_ADMF_MAINT.
    """
    maint = [i for i, status in enumerate(statuses) if status.startswith("MAINT")]
    if not maint:
        return [], 0
    others = [i for i, status in enumerate(statuses) if not status.startswith("MAINT")]
    return others + maint, len(maint)


def _mark_maintenance(families: list[Family], scope: _Scope) -> None:
    """Where each family's samples of servers in maintenance start (they are its tail)."""
    maint = scope.maint
    if not maint:
        return
    for family in families:
        start = _tail_start(family.labels, maint)
        if start < len(family.labels):
            family.maint_from = start


def _tail_start(labels: Sequence[LabelSet], rows: frozenset[LabelSet]) -> int:
    """The first index whose set was made from one of ``rows``, those being a tail of ``labels``."""
    if isinstance(labels, LabelProduct):  # whole rows of it: found among its rows, not its samples
        return _tail_start(labels.rows, rows) * len(labels.positions)
    if isinstance(labels, LabelExtension):
        return _tail_start(labels.rows, rows)
    return bisect_left(range(len(labels)), True, key=lambda i: labels[i].root in rows)


def _first_of_each_name(keys: list[tuple[str, ...]]) -> list[int]:
    """The position of the first row of each name: one series per name."""
    kept, seen = [], set()
    for pos, key in enumerate(keys):
        if key not in seen:
            seen.add(key)
            kept.append(pos)
    return kept


def _row_labels(key: tuple[str, ...], names: tuple[str, ...], extra: LabelSuffix) -> LabelSet:
    """The identifying label set of a row, followed by the ``extra`` pairs."""
    pairs, text = extra
    if clean_label_text("".join(key)):
        # Nothing to escape: format once.
        own = ",".join(f'{name}="{value}"' for name, value in zip(names, key))
        return NO_LABELS.plus((tuple(zip(names, key)) + pairs, f"{own},{text}" if text else own))
    return LabelSet(tuple(zip(names, key)) + pairs)


def _numeric_family(scope: str, labels: tuple[LabelSet, ...], column: Cells, name: str, kind: str, help: str,
                    scale: float, stats: ModelStats) -> Family:
    cells = column.cells()
    joined = "".join(cells)
    if not joined:
        return Family(name, kind, help, scope=scope)  # every cell empty: no series
    if scale == 1 and plain_column(cells, joined):
        # Every non-empty cell is a plain unsigned integer (the common case, checked for the
        # whole column at once): the text HAProxy sent is the exposition value, and the column
        # itself is the family's value column.
        values = cells
    else:
        # Cells repeat a lot ("0", "-1"): convert each distinct text once, then map the column
        # through the conversions in C.  Empty and invalid cells both become "" and are dropped below.
        converted = {cell: scaled_text(cell, scale, kind) for cell in set(cells)}
        invalid = [cell for cell, value in converted.items() if value is None and cell]
        if invalid:
            stats.invalid_values += sum(map(cells.count, invalid))
        texts = {cell: value or "" for cell, value in converted.items()}
        values = tuple(map(texts.__getitem__, cells))
    if "" not in values:
        return Family.of_columns(name, kind, help, labels, values, scope=scope)
    return Family.of_columns(name, kind, help, tuple(compress(labels, values)), tuple(filter(None, values)),
                             scope=scope)


# A column name that can become part of a metric name; anything else (2.8.0 names one "(null)") is
# not a column of data and is skipped quietly.
_COLUMN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,127}")
_KNOWN_COLUMNS = ({m.column for m in naming.STAT_METRICS} | naming.TEXT_COLUMNS
                  | {c for c, _ in naming.HTTP_RESPONSE_CODES})
# Every name suffix the known columns and derived families take, in any scope.
_TAKEN_SUFFIXES = frozenset(
    {m.suffix for m in naming.STAT_METRICS} | {n for m in naming.STAT_METRICS for n in m.names.values()}
    | {"http_responses_total", "status", "check_status", "agent_status", "info", "agg_server_status",
       "agg_server_check_status", "agg_check_status"}
)


def _extra_columns(table: StatTable, stats: ModelStats) -> dict[str, tuple[str, str, str, str]]:
    """Columns the naming table does not know, each once, with the metric it becomes.

    A repeated column name is read once (its first position); a column whose metric name another
    column already takes is skipped: either would put a second family of one name on the page.
    """
    chosen: dict[str, tuple[str, str, str, str]] = {}
    taken = set(_TAKEN_SUFFIXES)
    seen: set[str] = set()
    for column in table.columns:
        if not _COLUMN_NAME.fullmatch(column):
            continue
        if column in seen:
            stats.ignore("column", "duplicate", column)
            continue
        seen.add(column)
        if column in _KNOWN_COLUMNS:
            continue
        metric = _unknown_column_metric(column)
        if metric[0] in taken:
            stats.ignore("column", "name_collision", f"{column} (as {metric[0]})")
            continue
        taken.add(metric[0])
        chosen[column] = metric
    return chosen


def _unknown_column_metric(column: str) -> tuple[str, str, str, str]:
    """Name, type, help and stats module (or "") for a column the naming table does not know
    (newer HAProxy, modules)."""
    safe = _NAME_SAFE.sub("_", column).strip("_").lower() or "unnamed"
    if column.startswith(naming.MODULE_PREFIXES):
        module = column.split("_", 1)[0]
        if column in naming.MODULE_GAUGES:
            return safe, GAUGE, f"show stat module column {column}", module
        return f"{safe}_total", COUNTER, f"show stat module counter {column}", module
    return safe, GAUGE, f"show stat column {column} (not in the naming table; exported as a gauge)", ""


def stat_families(table: StatTable, stats: ModelStats, reuse: StatReuse | None = None) -> list[Family]:
    """Every family of one ``show stat``; pass the same ``reuse`` every poll to keep label objects
    and take the families whose inputs did not change as they were (:class:`StatReuse`)."""
    reuse = reuse if reuse is not None else StatReuse()
    with reuse.families.poll(), reuse.objects.poll():
        return _stat_families(table, stats, reuse)


def _stat_families(table: StatTable, stats: ModelStats, reuse: StatReuse) -> list[Family]:
    families: list[Family] = []

    def family(key: tuple[str, ...], make: Callable[..., Family | list[Family]], *inputs: Any) -> list[Family]:
        """The families ``make(*inputs, stats)`` builds, or the very families of the last poll when
        the inputs equal its: what making them counted is counted again either way."""
        return replay(reuse.families.get(key, _built, make, *inputs), stats)

    unknown = _extra_columns(table, stats)
    for kind, rows in table.unknown_types.items():
        stats.ignore("row", "unknown_type", f"type {kind!r}", rows)
    status_idx = table.column("status")
    # Each column equal to the last poll's is that very object: compared once here, cell by cell,
    # and by identity in every family's inputs.
    columns = [reuse.objects.get(("column", i), itself, column) for i, column in enumerate(table.all_columns())]
    scopes = _scopes(table, columns, reuse)
    for scope in scopes:
        if not scope.rows:
            continue
        first = len(families)
        labels = scope.labels
        for metric in naming.STAT_METRICS:
            idx = table.column(metric.column)
            if idx is None:
                continue
            if metric.column == "agent_code" and scope.name == "server":
                _agent_codes(table, scope, idx)
            name = metric.name_for(scope.name)
            families += family(("column", name), _numeric_family, scope.name, labels, scope.cells(idx), name,
                               metric.kind, f"{metric.help} (show stat {metric.column})", metric.scale)
        codes = tuple((pos, scope.cells(idx)) for pos, (col, _) in enumerate(naming.HTTP_RESPONSE_CODES)
                      if (idx := table.column(col)) is not None)
        families += family(("http", scope.name), _http_responses, scope.name, labels, codes)
        if status_idx is not None:
            families += family(("status", scope.name), _status_family, scope.name, labels, scope.cells(status_idx))
        for column, suffix in (("check_status", "check_status"), ("agent_status", "agent_status")):
            idx = table.column(column)
            if idx is not None and scope.name == "server":
                name = f"haproxy_server_{suffix}"
                families += family(("check", name), _check_family, scope.name, labels, scope.cells(idx), name, column)
        for column, (suffix, kind, help, module) in unknown.items():
            name = f"haproxy_{scope.name}_{suffix}"
            [made] = family(("column", name), _numeric_family, scope.name, labels, scope.cells(table.index[column]),
                            name, kind, help, 1)
            if module:
                [made] = family(("module", name), _module_family, made, module)
            families.append(made)
        info = tuple((label, scope.cells(idx)) for col, label in naming.INFO_LABELS[scope.name]
                     if (idx := table.column(col)) is not None)
        families += family(("info", scope.name), _info_family, scope.name, labels, info)
        if scope.name == "backend":
            check_idx = table.column("check_status")
            families += family(("aggregates",), _aggregates, labels, scope.cells(0), table.kinds[SERVER], columns[0],
                               None if status_idx is None else columns[status_idx],
                               None if check_idx is None else columns[check_idx])
        _mark_maintenance(families[first:], scope)
        scope.forget()
    return [f for f in families if f.values]


def _built(make: Callable[..., Family | list[Family]], *inputs: Any) -> Built:
    """What ``make(*inputs, stats)`` builds, as families, with the stats it counted."""
    own = ModelStats()
    made = make(*inputs, own)
    return ([made] if isinstance(made, Family) else made), own


def _agent_codes(table: StatTable, scope: _Scope, idx: int) -> None:
    """Make the scope's column ``idx`` of agent codes as promex has them: 0 for a server whose
    agent check runs but has no code yet (an empty cell beside a non-empty agent_status), none
    where no agent check runs."""
    status_idx = table.column("agent_status")
    if status_idx is None or not any(scope.cells(status_idx).source):
        return  # no agent check anywhere
    codes, statuses = scope.column(idx), scope.column(status_idx)
    filled = tuple(code or ("0" if status else "") for code, status in zip(codes, statuses))
    if filled != codes:
        scope.replace(idx, filled)


_MODULES = {prefix[:-1]: LabelVariants("mod", (prefix[:-1],)) for prefix in naming.MODULE_PREFIXES}


def _module_family(family: Family, module: str, stats: ModelStats) -> Family:
    """A stats module's column as promex's extra counters have it: a ``mod`` label after the row's."""
    made = family.with_columns(LabelProduct(family.labels, _MODULES[module]), family.values)
    made.extra = True
    return made


def _http_responses(scope: str, rows: tuple[LabelSet, ...], codes: tuple[tuple[int, Cells], ...],
                    stats: ModelStats) -> Family:
    name = f"haproxy_{scope}_http_responses_total"
    help = "Total number of HTTP responses by status class (show stat hrsp_1xx..hrsp_other)"
    columns = [cells.cells() for _, cells in codes]
    masks = {tuple(map(bool, column)) for column in columns}
    if len(masks) == 1 and all(plain_column(column, joined) for column in columns if (joined := "".join(column))):
        # The usual case: every HTTP row has all its classes as plain integers, TCP rows none.
        # The family is then the rows' code variants and the columns interleaved row by row.
        mask = masks.pop()
        positions = tuple(pos for pos, _ in codes)
        labels = LabelProduct(rows if all(mask) else tuple(compress(rows, mask)), _CODES, positions)
        values: list[str] = [""] * len(labels)
        for offset, column in enumerate(columns):
            values[offset::len(columns)] = column if all(mask) else compress(column, mask)
        return Family.of_columns(name, COUNTER, help, labels, values, scope=scope)
    family = Family(name, COUNTER, help, scope=scope)
    add = family.add
    for row, row_labels in enumerate(rows):
        variants: tuple[LabelSet, ...] | None = None  # made on the first non-empty cell: TCP rows have none
        for (pos, _), column in zip(codes, columns):
            cell = column[row]
            if not cell:
                continue
            value = number_text(cell, COUNTER)
            if value is None:
                stats.invalid_values += 1
                continue
            if variants is None:
                variants = row_labels.variants(_CODES)
            add(variants[pos], value)
    return family


_STATUS: dict[str, tuple[LabelVariants, Callable[[str], str | None]]] = {
    "server": (_SERVER_STATES, server_state),
    "backend": (_PROXY_STATES, proxy_state),
    "frontend": (_PROXY_STATES, proxy_state),
    "listener": (_LISTENER_STATES, lambda s: s.split(" ", 1)[0] if s.split(" ", 1)[0] in naming.LISTENER_STATES else None),
}


def _status_family(scope: str, labels: tuple[LabelSet, ...], statuses: Cells, stats: ModelStats) -> Family:
    group, classify = _STATUS[scope]
    return _state_sets(f"haproxy_{scope}_status", f"Current status, one series per state, the current one 1 "
                       f"(show stat status; states {', '.join(group.values)})", scope, labels, statuses.cells(),
                       group, classify)


def _check_family(scope: str, labels: tuple[LabelSet, ...], statuses: Cells, name: str, column: str,
                  stats: ModelStats) -> Family:
    return _state_sets(name, f"Result of the last check, one series per code, the current one 1 (show stat {column})",
                       scope, labels, statuses.cells(), _CHECK_STATES, check_state)


def _info_family(scope: str, labels: tuple[LabelSet, ...], info: tuple[tuple[str, Cells], ...],
                 stats: ModelStats) -> Family:
    return Family.of_columns(
        f"haproxy_{scope}_info", GAUGE,
        f"Identity and settings of the {scope} as labels, value 1 (show stat "
        f"{', '.join(naming_col for naming_col, _ in naming.INFO_LABELS[scope])}); "
        "addr, cookie and algo are blank on a level user socket",
        LabelExtension(labels, tuple(label for label, _ in info), tuple(cells.cells() for _, cells in info)),
        ("1",) * len(labels), scope=scope)


def _aggregates(labels: tuple[LabelSet, ...], backends: Cells, servers: list[int], proxy_column: Sequence[str],
                status_column: Sequence[str] | None, check_column: Sequence[str] | None,
                stats: ModelStats) -> list[Family]:
    """promex's agg_* backend gauges: how many servers are in each state.  The CLI always says 0
    for these columns (only promex fills them), so they are computed from the server rows (every
    server row, a repeated name too: HAProxy counts it)."""
    proxies = list(map(proxy_column.__getitem__, servers))
    server_counts = _count_by_proxy(proxies, servers, status_column, server_state)
    check_counts = _count_by_proxy(proxies, servers, check_column, check_state)
    out = []
    for name, counts, group, help in (
        ("agg_server_status", server_counts, _SERVER_STATES, "Number of servers in each state"),
        ("agg_server_check_status", server_counts, _SERVER_STATES,
         "Number of servers in each state (deprecated promex name, same as agg_server_status)"),
        ("agg_check_status", check_counts, _CHECK_STATES, "Number of servers per last check result"),
    ):
        texts: dict[tuple[tuple[str, int], ...], list[str]] = {}  # most backends share a count pattern
        values: list[str] = []
        for proxy in backends.cells():
            mine = counts.get(proxy, {})
            pattern = tuple(mine.items())
            found = texts.get(pattern)
            if found is None:
                found = texts[pattern] = [str(mine.get(state, 0)) for state in group.values]
            values += found
        out.append(Family.of_columns(f"haproxy_backend_{name}", GAUGE, f"{help} (computed from the server rows)",
                                     LabelProduct(labels, group), values, scope="backend"))
    return out


def _count_by_proxy(proxies: list[str], servers: list[int], column: Sequence[str] | None,
                    classify: Callable[[str], str | None]) -> dict[str, dict[str, int]]:
    """{proxy: {state: servers}} over the raw server rows, classifying each distinct text once."""
    counts: dict[str, dict[str, int]] = {}
    if column is None:
        return counts
    states = {}
    for (proxy, cell), n in Counter(zip(proxies, map(column.__getitem__, servers))).items():
        if not cell:
            continue
        if cell not in states:
            states[cell] = classify(cell)
        state = states[cell]
        if state:
            bucket = counts.setdefault(proxy, {})
            bucket[state] = bucket.get(state, 0) + n
    return counts
