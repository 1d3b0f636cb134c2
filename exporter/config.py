"""Configuration: a pure function from a YAML mapping (plus flag overrides) to a valid Config.

Every mistake becomes a :class:`ConfigError` whose text names the key and the problem, so the
CLI can print one line and exit 2 (no traceback at 3 a.m.).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping

from exporter.runtime.address import AddressError, parse_address
from exporter.sources.sticktables.config import StickTableConfig, parse_stick_tables
from exporter.validation import ConfigError, parse_duration, positive_int, read_yaml, string


@dataclass(frozen=True)
class Config:
    haproxy_address: str = "/run/haproxy/admin.sock"
    connect_timeout: float = 2.0
    timeout: float = 5.0
    max_response_bytes: int = 256 * 1024 * 1024
    interval: float = 5.0
    max_age: float = 30.0
    listen_address: str = ":9101"
    telemetry_path: str = "/metrics"
    web_config_file: str | None = None
    log_level: str = "info"
    stick_tables: tuple[StickTableConfig, ...] = ()
    source: str | None = field(default=None, compare=False)


LOG_LEVELS = ("debug", "info", "warning", "error")
def _address(key: str, value: Any) -> str:
    text = string(key, value)
    try:
        parse_address(text)
    except AddressError as exc:
        raise ConfigError(f"{key}: {exc}") from None
    return text


def parse_listen_address(text: str) -> tuple[str, int]:
    """``:9101``, ``127.0.0.1:9101``, ``[::1]:9101`` → (host, port); an empty host means all."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"expected [host]:port, got {text!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


def _listen(key: str, value: Any) -> str:
    text = string(key, value)
    try:
        parse_listen_address(text)
    except ValueError as exc:
        raise ConfigError(f"{key}: {exc}") from None
    return text


def _path(key: str, value: Any) -> str:
    text = string(key, value)
    if not text.startswith("/") or text == "/":
        raise ConfigError(f"{key}: expected a path like /metrics, got {value!r}")
    return text


def _log_level(key: str, value: Any) -> str:
    if not isinstance(value, str) or value.lower() not in LOG_LEVELS:
        raise ConfigError(f"{key}: expected one of {', '.join(LOG_LEVELS)}, got {value!r}")
    return value.lower()


def _optional_file(key: str, value: Any) -> str | None:
    return None if value is None else string(key, value)


# section.key → (Config field, validator).  Flags use the same keys.
SCHEMA: dict[str, tuple[str, Callable[[str, Any], Any]]] = {
    "haproxy.address": ("haproxy_address", _address),
    "haproxy.connect_timeout": ("connect_timeout", parse_duration),
    "haproxy.timeout": ("timeout", parse_duration),
    "haproxy.max_response_bytes": ("max_response_bytes", positive_int),
    "poll.interval": ("interval", parse_duration),
    "poll.max_age": ("max_age", parse_duration),
    "web.listen_address": ("listen_address", _listen),
    "web.telemetry_path": ("telemetry_path", _path),
    "web.config_file": ("web_config_file", _optional_file),
    "log.level": ("log_level", _log_level),
}
SECTIONS = {"haproxy", "poll", "web", "log", "stick_tables"}


def _flatten(data: Mapping[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for section, body in data.items():
        if not isinstance(section, str) or section not in SECTIONS:
            raise ConfigError(f"{section}: unknown section (known: {', '.join(sorted(SECTIONS))})")
        if section == "stick_tables":
            flat[section] = body
            continue
        if body is None:
            continue
        if not isinstance(body, Mapping):
            raise ConfigError(f"{section}: expected a mapping of keys, got {type(body).__name__}")
        for key, value in body.items():
            full = f"{section}.{key}"
            if full not in SCHEMA:
                raise ConfigError(f"{full}: unknown key")
            flat[full] = value
    return flat


def build_config(data: Mapping[str, Any] | None, overrides: Mapping[str, Any] | None = None,
                 source: str | None = None) -> Config:
    """Validate the file's mapping, apply flag overrides (same dotted keys) and return a Config."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"(top level): expected a mapping of sections, got {type(data).__name__}")
    flat = _flatten(data)
    flat.update({k: v for k, v in (overrides or {}).items() if v is not None})
    values: dict[str, Any] = {}
    for key, value in flat.items():
        if key == "stick_tables":
            values["stick_tables"] = parse_stick_tables(value)
            continue
        attr, check = SCHEMA[key]
        values[attr] = check(key, value)
    config = replace(Config(), source=source, **values)
    if config.max_age < config.interval:
        raise ConfigError(
            f"poll.max_age: must be at least poll.interval ({config.interval:g}s), got {config.max_age:g}s"
        )
    return config


def load_config(path: str | None, overrides: Mapping[str, Any] | None = None) -> Config:
    """Read and validate a YAML file (or none), then apply overrides."""
    data = read_yaml(path, "config.file") if path is not None else None
    return build_config(data, overrides, source=path)
