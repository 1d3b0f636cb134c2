"""Validation of the ``stick_tables`` config section (entries are exported only for named tables).

Example::

    stick_tables:
      - name: fe_main
        filters: ["data.gpt0 gt 0"]   # passed to HAProxy: only matching entries cross the socket
        max_entries: 500               # cap on exported entries (default 1000)
        sort_by: http_req_rate         # kept entries are those with the highest value of this

Every mistake is a :class:`ConfigError` whose message starts with the key
(``stick_tables[0].filters[1]: ...``), checked before the exporter ever talks to HAProxy, so a
typo cannot turn into a silent "no entries" at runtime.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from exporter.sources.sticktables.naming import (
    ARRAY,
    ARRAY_RATE,
    DATA_TYPES,
    FILTER_OPERATORS,
    FILTER_TYPES,
    MAX_FILTERS,
    element_type,
)
from exporter.validation import ConfigError, Keys, positive_int

# What a table name and a filter look like, for the config check here and for the commands the
# source declares (its allowlist entries): the same patterns, so a valid config is always sendable.
TABLE_NAME_PATTERN = r"[A-Za-z0-9_.:/-]{1,256}"
FILTER_PATTERN = r" data\.[a-z0-9_]{1,32}(?:\[\d{1,3}\])? (?:eq|ne|le|ge|lt|gt) -?\d{1,19}"
_TABLE_NAME = re.compile(TABLE_NAME_PATTERN)
_FILTER = re.compile(r"data\.(?P<type>[a-z0-9_]+(?:\[\d{1,3}\])?)\s+(?P<op>[a-z]+)\s+(?P<value>-?\d+)")
_INDEXED = re.compile(r"(?P<base>[a-z_]+)\[(?P<index>\d{1,3})\]")
_INT64 = (-(2**63), 2**63 - 1)
_KEYS = Keys(("name", "filters", "max_entries", "sort_by"), shape="a mapping with at least name")


@dataclass(frozen=True)
class StickTableConfig:
    """Per-table options for exporting entries (``show table <name>``)."""

    name: str
    filters: tuple[tuple[str, str, int], ...] = ()
    max_entries: int = 1000
    sort_by: str | None = None


DEFAULT_MAX_ENTRIES = StickTableConfig.max_entries
MAX_ENTRIES = 10_000_000  # each exported entry is a series at least: twice poll.max_series's default


def _filter(key: str, value: Any) -> tuple[str, str, int]:
    if not isinstance(value, str):
        raise ConfigError(f"{key}: expected a string like 'data.gpt0 gt 0', got {value!r}")
    m = _FILTER.fullmatch(value.strip())
    if m is None:
        raise ConfigError(f"{key}: expected 'data.<type> <op> <integer>' like 'data.gpt0 gt 0', got {value!r}")
    dtype, op, number = m.group("type"), m.group("op"), int(m.group("value"))
    indexed = _INDEXED.fullmatch(dtype)
    if indexed is not None:
        base = DATA_TYPES.get(indexed.group("base"))
        if base is None or base.kind not in (ARRAY, ARRAY_RATE):
            raise ConfigError(f"{key}: only gpt, gpc and gpc_rate take an [index] (HAProxy 3.2+), got {dtype!r}")
    elif dtype not in FILTER_TYPES:
        hint = " (a server name is not a number)" if dtype in ("server_key", "server_name") else ""
        raise ConfigError(
            f"{key}: unknown or non-numeric data type {dtype!r}{hint}; "
            f"known: {', '.join(sorted(FILTER_TYPES))}"
        )
    if op not in FILTER_OPERATORS:
        raise ConfigError(f"{key}: operator must be one of {', '.join(FILTER_OPERATORS)}, got {op!r}")
    if not _INT64[0] <= number <= _INT64[1]:
        raise ConfigError(f"{key}: value {number} does not fit in a signed 64-bit integer")
    return dtype, op, number


def _filters(key: str, value: Any) -> tuple[tuple[str, str, int], ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise ConfigError(f"{key}: expected a list of filters like ['data.gpt0 gt 0'], got {value!r}")
    if len(value) > MAX_FILTERS:
        raise ConfigError(f"{key}: at most {MAX_FILTERS} filters (HAProxy's limit), got {len(value)}")
    return tuple(_filter(f"{key}[{i}]", item) for i, item in enumerate(value))


def _max_entries(key: str, value: Any) -> int:
    if value is None:
        return DEFAULT_MAX_ENTRIES
    return positive_int(key, value, MAX_ENTRIES)


def _sort_by(key: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{key}: expected a data type name like http_req_rate, got {value!r}")
    found = element_type(value)
    if value in ("use", "exp") or (found is not None and found[0].name not in ("server_key",)):
        return value
    raise ConfigError(
        f"{key}: expected a numeric data type as the dump prints it (http_req_rate, conn_cur, gpc0, "
        f"gpc1_rate, ...) or use/exp, got {value!r}"
    )


def parse_stick_tables(value: Any) -> tuple[StickTableConfig, ...]:
    """The ``stick_tables`` list → one validated :class:`StickTableConfig` per table."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ConfigError("stick_tables: expected a list of tables like [{name: fe_main}]")
    tables: list[StickTableConfig] = []
    names: set[str] = set()
    for pos, item in enumerate(value):
        key = f"stick_tables[{pos}]"
        if isinstance(item, str):
            item = {"name": item}
        _KEYS.check(key, item)
        name = item.get("name")
        if not isinstance(name, str) or not _TABLE_NAME.fullmatch(name):
            raise ConfigError(
                f"{key}.name: expected a table name as 'show table' prints it (letters, digits, _ . : / -), "
                f"got {name!r}"
            )
        if name in names:
            raise ConfigError(f"{key}.name: table {name!r} is listed twice")
        names.add(name)
        tables.append(StickTableConfig(
            name=name,
            filters=_filters(f"{key}.filters", item.get("filters")),
            max_entries=_max_entries(f"{key}.max_entries", item.get("max_entries")),
            sort_by=_sort_by(f"{key}.sort_by", item.get("sort_by")),
        ))
    return tuple(tables)


def dump_command(table: StickTableConfig) -> str:
    """The read-only command for one configured table, filters passed through to HAProxy."""
    parts = [f"show table {table.name}"]
    parts.extend(f"data.{dtype} {op} {value}" for dtype, op, value in table.filters)
    return " ".join(parts)
