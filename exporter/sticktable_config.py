"""Validation of the ``stick_tables`` config section (entries are exported only for named tables)."""

from __future__ import annotations

from typing import Any

from exporter.config import ConfigError, StickTableConfig


def parse_stick_tables(value: Any) -> tuple[StickTableConfig, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ConfigError("stick_tables: expected a list of tables")
    tables = []
    for pos, item in enumerate(value):
        key = f"stick_tables[{pos}]"
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ConfigError(f"{key}.name: expected a table name")
        tables.append(StickTableConfig(name=item["name"]))
    return tuple(tables)
