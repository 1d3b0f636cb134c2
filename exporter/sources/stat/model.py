"""Turn a parsed ``show stat`` table into metric families.

Everything here is pure: records in, families out.  Empty cells produce no series (an empty cell
means "no value", not zero), and cells that are not numbers are skipped and counted rather than
breaking the exposition.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import Counter
from itertools import compress
from operator import itemgetter
from typing import Callable, Sequence, TypeVar, cast

from exporter.exposition.families import (
    NO_LABELS,
    NO_SUFFIX,
    Family,
    LabelSet,
    LabelSuffix,
    LabelVariants,
    clean_label_text,
    label_suffix,
)
from exporter.sources.stat import naming
from exporter.sources.stat.parse import BACKEND, FRONTEND, LISTENER, SERVER, StatTable
from exporter.sources.values import COUNTER, GAUGE, ModelStats, number_text, plain_column, scaled_text

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


def _state_sets(family: Family, scope: _Scope, idx: int, group: LabelVariants,
                classify: Callable[[str], str | None]) -> Family:
    """One series per state for every row with a non-empty cell; the current state is 1."""
    values = _state_values(group.values)
    statuses = scope.column(idx)
    chosen = {status: values.get(classify(status), values[None]) for status in set(statuses) if status}
    add_labels, add_values = family.labels.extend, family.values.extend  # type: ignore[attr-defined]
    for status, labels in zip(statuses, scope.labels):
        if status:
            add_labels(labels.variants(group))
            add_values(chosen[status])
    return family



# ---------------------------------------------------------------- show stat

def _pick(column: Sequence[str], rows: Sequence[int]) -> tuple[str, ...]:
    """The cells of ``rows``, in their order."""
    if len(rows) > 1:
        return itemgetter(*rows)(column)  # type: ignore[no-any-return]
    return tuple(column[row] for row in rows)


class _Scope:
    """One object type's rows: their label sets, and their cells column by column on demand.

    A column of the scope is picked out of the table's column only when a family of it is
    built, that is when the column changed since the last poll (``LabelCache.built`` compares the
    table's columns, then the very objects of the last poll): in the steady state a poll picks
    out the few columns that moved, not all 6.5 million cells of 2000 x 25.
    """

    def __init__(self, name: str, rows: list[int], labels: tuple[LabelSet, ...], table_columns: list[list[str]],
                 maint: frozenset[LabelSet] | None = None) -> None:
        self.name = name
        self.rows = rows  # the table's row numbers, in the order of the scope's series
        self.labels = labels  # shared by the scope's families as their label column: never changed
        self.maint = maint  # the row sets of servers in maintenance (the last rows)
        self._table_columns = table_columns
        self._picked: dict[int, tuple[str, ...]] = {}
        self._own: dict[int, tuple[str, ...]] = {}  # columns made for the scope (agent codes)

    def column(self, idx: int) -> tuple[str, ...]:
        """The scope's cells of column ``idx``, in the order of its label sets."""
        found = self._own.get(idx) or self._picked.get(idx)
        if found is None:
            found = self._picked[idx] = _pick(self._table_columns[idx], self.rows)
        return found

    def source(self, idx: int) -> Sequence[str]:
        """What the scope's column ``idx`` is made from, to compare with the last poll's: the
        table's column (the same object as the last poll's when equal), or the scope's own."""
        return self._own.get(idx) or self._table_columns[idx]

    def replace(self, idx: int, cells: tuple[str, ...]) -> None:
        self._own[idx] = cells


_T = TypeVar("_T")


class LabelCache:
    """Every row's label set, kept from one poll to the next together with its variants.

    The same proxies and servers come back every poll, and their label text (plus the 2 to 26
    variants per row that state sets and response classes need) does not change, so a poller
    that keeps one of these builds no label objects for rows it has seen before: about a third
    of the model's time at 1000 backends x 10 servers.  Only the rows of the latest poll are
    kept, so removed servers are forgotten one poll later.
    """

    def __init__(self, extra: LabelSuffix = NO_SUFFIX) -> None:
        self.extra = extra  # labels after the row's own on every set (an old worker's ``worker``)
        self._rows: dict[str, dict[tuple[str, ...], LabelSet]] = {}
        # Per scope, the key columns of the latest poll and what they gave: the same names come
        # back every poll, so neither the names' uniqueness nor the label sets are looked at again.
        self._keys: dict[str, tuple[list[tuple[str, ...]], list[int] | None, tuple[LabelSet, ...]]] = {}
        self._scope_rows: dict[str, tuple[list[int], tuple[LabelSet, ...]]] = {}  # each scope's, as last poll's
        self._columns: list[list[str]] = []  # the table's columns of the latest poll
        # The families of the last poll with the columns they were built from (see ``built``).
        self._built: dict[tuple[str, ...], tuple[tuple[object, ...], list[Family], ModelStats]] = {}
        self._next: dict[tuple[str, ...], tuple[tuple[object, ...], list[Family], ModelStats]] = {}
        self.reused = 0  # families taken as they were in the latest poll
        self._kept: dict[tuple[str, ...], tuple[tuple[object, ...], object]] = {}  # see ``kept``
        self._next_kept: dict[tuple[str, ...], tuple[tuple[object, ...], object]] = {}

    def built(self, key: tuple[str, ...], inputs: tuple[object, ...], make: Callable[[ModelStats], list[Family]],
              stats: ModelStats) -> list[Family]:
        """The families ``make`` builds from ``inputs`` (the label column and the cell columns they
        read), or, when those equal the last poll's (compared in C: the label sets are the same
        objects poll to poll, the cells tuples of text), the very families built then: most of a
        large installation does not change between two polls.  What ``make`` counted in its own
        stats is counted again either way."""
        found = self._built.get(key)
        if found is not None and found[0] == inputs:
            families, own = found[1], found[2]
            self.reused += len(families)
        else:
            own = ModelStats()
            families = make(own)
        self._next[key] = (inputs, families, own)
        stats.invalid_values += own.invalid_values
        for what_reason, count in own.ignored.items():
            stats.ignore(*what_reason, own.examples[what_reason], count)
        return families

    def kept(self, key: tuple[str, ...], inputs: tuple[object, ...], make: Callable[[], _T]) -> _T:
        """What ``make`` makes from ``inputs``, or the very object it made in the last poll when
        those equal the last poll's: a label column derived from a scope's label sets (the
        response classes' variants of every row) stays one object from poll to poll, so it is
        neither made again when only the cells change nor given new label texts by the renderer."""
        found = self._kept.get(key)
        made = cast(_T, found[1]) if found is not None and found[0] == inputs else make()
        self._next_kept[key] = (inputs, made)
        return made

    def poll_done(self) -> None:
        """The families of this poll are the ones the next compares with; the others are forgotten."""
        self._built, self._next = self._next, {}
        self._kept, self._next_kept = self._next_kept, {}

    def __len__(self) -> int:
        """Rows kept (those of the latest poll)."""
        return sum(len(rows) for rows in self._rows.values())

    def same_columns(self, columns: list[list[str]]) -> list[list[str]]:
        """``columns`` with each column equal to the last poll's replaced by that very object.

        Each column is compared once here, cell by cell; every family reading it then compares
        it by identity (``built``), and what was built from it is reused."""
        previous = self._columns
        same = [old if old == new else new for old, new in zip(previous, columns)] if len(previous) == len(columns) \
            else columns
        self._columns = same
        return same

    def same_rows(self, scope: str, rows: list[int],
                  labels: tuple[LabelSet, ...]) -> tuple[list[int], tuple[LabelSet, ...]]:
        """The scope's row numbers and label sets in series order, the very objects of the last
        poll when equal (see ``same_columns``; servers in maintenance reorder them each poll)."""
        previous = self._scope_rows.get(scope)
        if previous is not None and previous[0] == rows and previous[1] == labels:
            return previous
        self._scope_rows[scope] = rows, labels
        return rows, labels

    def scope_rows(self, scope: str, key_columns: list[tuple[str, ...]],
                   names: tuple[str, ...]) -> tuple[list[int] | None, tuple[LabelSet, ...]]:
        """Which of the scope's rows to keep (None: all; else positions, the first of each name)
        and the label set of each kept row, for the rows whose names are ``key_columns``."""
        found = self._keys.get(scope)
        if found is not None and found[0] == key_columns:
            return found[1], found[2]
        keys = list(zip(*key_columns))
        keep = None
        if len(set(keys)) != len(keys):
            # Two rows of one name (a frontend's name appears once; a repeated or garbled row)
            # would make duplicate samples: one row per name, the first.
            keep = _first_of_each_name(keys)
            keys = [keys[i] for i in keep]
        labels = self.row_labels(scope, keys, names)
        self._keys[scope] = (key_columns, keep, labels)
        return keep, labels

    def row_labels(self, scope: str, keys: list[tuple[str, ...]], names: tuple[str, ...]) -> tuple[LabelSet, ...]:
        previous = self._rows.get(scope, {})
        missing = [key for key in keys if key not in previous]
        made = dict(zip(missing, _make_row_labels(missing, names, self.extra)))
        current = {key: previous.get(key) or made[key] for key in keys}
        self._rows[scope] = current
        return tuple(current.values())


def _scopes(table: StatTable, columns: list[list[str]], cache: LabelCache) -> list[_Scope]:
    scopes = []
    status_idx = table.column("status")
    for row_type, scope in SCOPE_OF_TYPE.items():
        rows = table.kinds[row_type]
        names = naming.SCOPE_LABELS[scope]
        # pxname, and svname where the scope has two labels
        keep, labels = cache.scope_rows(scope, [_pick(columns[i], rows) for i in range(len(names))], names)
        if keep is not None:
            rows = [rows[i] for i in keep]
        maint = 0
        if row_type == SERVER and status_idx is not None:
            order, maint = _maintenance_last(_pick(columns[status_idx], rows))
            if maint:
                rows, labels = [rows[i] for i in order], tuple(labels[i] for i in order)
        rows, labels = cache.same_rows(scope, rows, labels)
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
    return bisect_left(range(len(labels)), True, key=lambda i: labels[i].root in rows)


def _first_of_each_name(keys: list[tuple[str, ...]]) -> list[int]:
    """The position of the first row of each name: one series per name."""
    kept, seen = [], set()
    for pos, key in enumerate(keys):
        if key not in seen:
            seen.add(key)
            kept.append(pos)
    return kept


def _make_row_labels(keys: list[tuple[str, ...]], names: tuple[str, ...],
                     extra: LabelSuffix = NO_SUFFIX) -> list[LabelSet]:
    """The identifying label set of every row, followed by the ``extra`` pairs."""
    pairs, text = extra
    if clean_label_text("".join(map("".join, keys))):
        # Nothing to escape: format once per row.
        after = [text.replace("{", "{{").replace("}", "}}")] if text else []
        template = ",".join([f'{name}="{{}}"' for name in names] + after)
        return [NO_LABELS.plus((tuple(zip(names, key)) + pairs, template.format(*key))) for key in keys]
    return [LabelSet(tuple(zip(names, key)) + pairs) for key in keys]


def _numeric_family(scope: _Scope, idx: int, name: str, kind: str, help: str, scale: float,
                    stats: ModelStats) -> Family:
    cells = scope.column(idx)
    joined = "".join(cells)
    if not joined:
        return Family(name, kind, help, scope=scope.name)  # every cell empty: no series
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
        return Family.of_columns(name, kind, help, scope.labels, values, scope=scope.name)
    return Family.of_columns(name, kind, help, tuple(compress(scope.labels, values)), tuple(filter(None, values)),
                             scope=scope.name)


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


def stat_families(table: StatTable, stats: ModelStats, cache: LabelCache | None = None) -> list[Family]:
    """Every family of one ``show stat``; pass the same ``cache`` every poll to reuse label objects
    and the families whose columns did not change (``LabelCache.built``)."""
    cache = cache if cache is not None else LabelCache()
    cache.reused = 0
    families: list[Family] = []
    unknown = _extra_columns(table, stats)
    for kind, rows in table.unknown_types.items():
        stats.ignore("row", "unknown_type", f"type {kind!r}", rows)
    status_idx = table.column("status")
    scopes = _scopes(table, cache.same_columns(table.all_columns()), cache)
    server = next((s for s in scopes if s.name == "server"), None)
    for scope in scopes:
        if not scope.rows:
            continue
        first = len(families)
        for metric in naming.STAT_METRICS:
            idx = table.column(metric.column)
            if idx is None:
                continue
            if metric.column == "agent_code" and scope.name == "server":
                _agent_codes(table, scope, idx)
            name = metric.name_for(scope.name)
            families += cache.built(("column", name), (scope.labels, scope.rows, scope.source(idx)), _one(
                _numeric_family, scope, idx, name, metric.kind, f"{metric.help} (show stat {metric.column})",
                metric.scale), stats)
        codes = [scope.source(idx) for col, _ in naming.HTTP_RESPONSE_CODES if (idx := table.column(col)) is not None]
        families += cache.built(("http", scope.name), (scope.labels, scope.rows, *codes),
                                _one(_http_responses, table, scope, cache), stats)
        if status_idx is not None:
            families += cache.built(("status", scope.name), (scope.labels, scope.rows, scope.source(status_idx)),
                                    _one(_status_family, scope, status_idx, stats_last=False), stats)
        for column, suffix in (("check_status", "check_status"), ("agent_status", "agent_status")):
            idx = table.column(column)
            if idx is not None and scope.name == "server":
                name = f"haproxy_server_{suffix}"
                families += cache.built(("check", name), (scope.labels, scope.rows, scope.source(idx)),
                                        _one(_check_family, scope, idx, name, column, stats_last=False), stats)
        with_mod: dict[tuple[str, tuple[LabelSet, ...]], tuple[LabelSet, ...]] = {}
        for column, (suffix, kind, help, module) in unknown.items():
            name = f"haproxy_{scope.name}_{suffix}"
            [family] = cache.built(("column", name), (scope.labels, scope.rows, scope.source(table.index[column])), _one(
                _numeric_family, scope, table.index[column], name, kind, help, 1), stats)
            if module:
                [family] = cache.built(("module", name), (family,), _one(
                    _module_family, family, module, with_mod, stats_last=False), stats)
            families.append(family)
        info = [scope.source(idx) for col, _ in naming.INFO_LABELS[scope.name] if (idx := table.column(col)) is not None]
        families += cache.built(("info", scope.name), (scope.labels, scope.rows, *info),
                                _one(_info_family, table, scope, stats_last=False), stats)
        if scope.name == "backend":
            used = [server.source(i) for i in (0, table.column("status"), table.column("check_status"))
                    if i is not None] if server is not None and server.rows else []
            families += cache.built(("aggregates",), (scope.labels, scope.rows, table.kinds[SERVER], *used),
                                    lambda own: _aggregates(table, scope, own), stats)  # noqa: B023 - called here
        _mark_maintenance(families[first:], scope)
    cache.poll_done()
    return [f for f in families if f.values]


def _one(build: Callable[..., Family], *args: object, stats_last: bool = True) -> Callable[[ModelStats], list[Family]]:
    """A ``LabelCache.built`` maker for one family: ``build(*args, stats)`` (or without stats)."""
    if stats_last:
        return lambda own: [build(*args, own)]
    return lambda own: [build(*args)]


def _agent_codes(table: StatTable, scope: _Scope, idx: int) -> None:
    """Make the scope's column ``idx`` of agent codes as promex has them: 0 for a server whose
    agent check runs but has no code yet (an empty cell beside a non-empty agent_status), none
    where no agent check runs."""
    status_idx = table.column("agent_status")
    if status_idx is None or not any(scope.source(status_idx)):
        return  # no agent check anywhere
    codes, statuses = scope.column(idx), scope.column(status_idx)
    filled = tuple(code or ("0" if status else "") for code, status in zip(codes, statuses))
    if filled != codes:
        scope.replace(idx, filled)


_MODULES = {prefix[:-1]: LabelVariants("mod", (prefix[:-1],)) for prefix in naming.MODULE_PREFIXES}


def _module_family(family: Family, module: str,
                   with_mod: dict[tuple[str, tuple[LabelSet, ...]], tuple[LabelSet, ...]]) -> Family:
    """A stats module's column as promex's extra counters have it: a ``mod`` label after the row's.

    A module's columns (13 for h2) mostly have the same rows: ``with_mod`` keeps their labelled
    sets by (module, rows) for the scope, so they are looked up once per module, not per column.
    """
    group = _MODULES[module]
    key = (module, tuple(family.labels))
    labels = with_mod.get(key)
    if labels is None:
        labels = with_mod[key] = tuple(ls.variants(group)[0] for ls in family.labels)
    made = family.with_columns(labels, family.values)
    made.extra = True
    return made


def _http_responses(table: StatTable, scope: _Scope, cache: LabelCache, stats: ModelStats) -> Family:
    name = f"haproxy_{scope.name}_http_responses_total"
    help = "Total number of HTTP responses by status class (show stat hrsp_1xx..hrsp_other)"
    present = [(idx, pos) for pos, (col, _) in enumerate(naming.HTTP_RESPONSE_CODES)
               if (idx := table.column(col)) is not None]
    columns = [scope.column(idx) for idx, _ in present]
    masks = {tuple(map(bool, column)) for column in columns}
    if len(masks) == 1 and all(plain_column(column, joined) for column in columns if (joined := "".join(column))):
        # The usual case: every HTTP row has all its classes as plain integers, TCP rows none.
        # The family is then the rows' code variants and the columns interleaved row by row.
        mask = masks.pop()
        positions = tuple(pos for _, pos in present)
        labels = cache.kept(("http", scope.name), (scope.labels, mask, positions),
                            lambda: _response_labels(scope.labels, mask, positions))
        values: list[str] = [""] * len(labels)
        for offset, column in enumerate(columns):
            values[offset::len(columns)] = column if all(mask) else compress(column, mask)
        return Family.of_columns(name, COUNTER, help, labels, values, scope=scope.name)
    family = Family(name, COUNTER, help, scope=scope.name)
    add = family.add
    for row, row_labels in enumerate(scope.labels):
        variants: tuple[LabelSet, ...] | None = None  # made on the first non-empty cell: TCP rows have none
        for idx, pos in present:
            cell = scope.column(idx)[row]
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


def _response_labels(rows: tuple[LabelSet, ...], mask: tuple[bool, ...],
                     positions: tuple[int, ...]) -> tuple[LabelSet, ...]:
    """The label column of the responses family: each HTTP row's code variants, row by row."""
    if not all(mask):
        rows = tuple(compress(rows, mask))
    return tuple(variants[pos] for variants in map(_code_variants, rows) for pos in positions)


def _code_variants(labels: LabelSet) -> tuple[LabelSet, ...]:
    return labels.variants(_CODES)


_STATUS: dict[str, tuple[LabelVariants, Callable[[str], str | None]]] = {
    "server": (_SERVER_STATES, server_state),
    "backend": (_PROXY_STATES, proxy_state),
    "frontend": (_PROXY_STATES, proxy_state),
    "listener": (_LISTENER_STATES, lambda s: s.split(" ", 1)[0] if s.split(" ", 1)[0] in naming.LISTENER_STATES else None),
}


def _status_family(scope: _Scope, idx: int) -> Family:
    group, classify = _STATUS[scope.name]
    family = Family(f"haproxy_{scope.name}_status", GAUGE,
                    f"Current status, one series per state, the current one 1 (show stat status; states "
                    f"{', '.join(group.values)})", scope=scope.name)
    return _state_sets(family, scope, idx, group, classify)


def _check_family(scope: _Scope, idx: int, name: str, column: str) -> Family:
    family = Family(name, GAUGE,
                    f"Result of the last check, one series per code, the current one 1 (show stat {column})",
                    scope=scope.name)
    return _state_sets(family, scope, idx, _CHECK_STATES, check_state)


def _info_family(table: StatTable, scope: _Scope) -> Family:
    pairs = [(idx, label) for col, label in naming.INFO_LABELS[scope.name] if (idx := table.column(col)) is not None]
    family = Family(f"haproxy_{scope.name}_info", GAUGE,
                    f"Identity and settings of the {scope.name} as labels, value 1 (show stat "
                    f"{', '.join(naming_col for naming_col, _ in naming.INFO_LABELS[scope.name])}); "
                    "addr, cookie and algo are blank on a level user socket", scope=scope.name)
    names = [label for _, label in pairs]
    columns = [scope.column(idx) for idx, _ in pairs]
    add = family.add
    if all(clean_label_text("".join(column)) for column in columns):
        # Nothing to escape anywhere (the usual case): one format call per row, not one escape per cell.
        template = ",".join(f'{name}="{{}}"' for name in names)

        def make(cells: tuple[str, ...]) -> LabelSuffix:
            return tuple(zip(names, cells)), template.format(*cells)

        key = family.name  # the info labels of a row are kept with the row until they change
        rows = zip(*columns) if columns else [()] * len(scope.labels)
        family.extend([labels.derived(key, cells, make) for labels, cells in zip(scope.labels, rows)],
                      ("1",) * len(scope.labels))
        return family
    for labels, *cells in zip(scope.labels, *columns):
        add(labels.plus(label_suffix(*zip(names, cells))), "1")
    return family


def _aggregates(table: StatTable, scope: _Scope, stats: ModelStats) -> list[Family]:
    """promex's agg_* backend gauges: how many servers are in each state.  The CLI always says 0
    for these columns (only promex fills them), so they are computed from the server rows."""
    status_idx, check_idx = table.column("status"), table.column("check_status")
    rows = table.kinds[SERVER]  # every server row, a repeated name too: HAProxy counts it
    proxies = table.values(0, rows)
    server_counts = _count_by_proxy(proxies, table, rows, status_idx, server_state)
    check_counts = _count_by_proxy(proxies, table, rows, check_idx, check_state)
    out = []
    for name, counts, group, help in (
        ("agg_server_status", server_counts, _SERVER_STATES, "Number of servers in each state"),
        ("agg_server_check_status", server_counts, _SERVER_STATES,
         "Number of servers in each state (deprecated promex name, same as agg_server_status)"),
        ("agg_check_status", check_counts, _CHECK_STATES, "Number of servers per last check result"),
    ):
        family = Family(f"haproxy_backend_{name}", GAUGE, f"{help} (computed from the server rows)",
                        scope=scope.name)
        texts: dict[tuple[tuple[str, int], ...], list[str]] = {}  # most backends share a count pattern
        for proxy, labels in zip(scope.column(0), scope.labels):
            mine = counts.get(proxy, {})
            pattern = tuple(mine.items())
            values = texts.get(pattern)
            if values is None:
                values = texts[pattern] = [str(mine.get(state, 0)) for state in group.values]
            family.extend(labels.variants(group), values)
        out.append(family)
    return out


def _count_by_proxy(proxies: list[str], table: StatTable, rows: list[int], idx: int | None,
                    classify: Callable[[str], str | None]) -> dict[str, dict[str, int]]:
    """{proxy: {state: servers}} over the raw server rows, classifying each distinct text once."""
    counts: dict[str, dict[str, int]] = {}
    if idx is None:
        return counts
    states = {}
    for (proxy, cell), n in Counter(zip(proxies, table.values(idx, rows))).items():
        if not cell:
            continue
        if cell not in states:
            states[cell] = classify(cell)
        state = states[cell]
        if state:
            bucket = counts.setdefault(proxy, {})
            bucket[state] = bucket.get(state, 0) + n
    return counts
