"""Configuration: a pure function from a YAML mapping (plus flag overrides) to a valid Config.

Every mistake becomes a :class:`ConfigError` whose text names the key and the problem, so the
CLI can print one line and exit 2 (no traceback at 3 a.m.).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping

from exporter.runtime.address import AddressError, parse_address
from exporter.sources.registry import config_sections
from exporter.validation import ConfigError, Keys, parse_duration, positive_int, read_yaml, string

MODES = ("auto", "worker", "master")
DEFAULT_ADDRESS = "/run/haproxy/admin.sock"


@dataclass(frozen=True)
class TargetConfig:
    """One HAProxy to read: its socket and the ``haproxy.*`` settings for it.

    ``mode`` says what the socket is: a worker's stats socket, the master CLI (``-S``), or
    ``auto``: found out from the answers (a master answers ``show info`` with "Unknown command").
    """

    name: str
    address: str = DEFAULT_ADDRESS
    mode: str = "auto"
    connect_timeout: float = 2.0
    timeout: float = 5.0
    max_response_bytes: int = 256 * 1024 * 1024


@dataclass(frozen=True)
class Config:
    haproxy_address: str = DEFAULT_ADDRESS
    haproxy_mode: str = "auto"
    connect_timeout: float = 2.0
    timeout: float = 5.0
    max_response_bytes: int = 256 * 1024 * 1024
    interval: float = 5.0
    max_age: float = 30.0
    concurrency: int = 8
    max_series: int = 5_000_000
    listen_address: str = ":9101"
    telemetry_path: str = "/metrics"
    web_config_file: str | None = None
    # Serving limits (docs/reliability.md, "Serving limits"): every one bounds what a client can hold.
    max_connections: int = 4096
    listen_backlog: int = 4096
    read_header_timeout: float = 10.0
    idle_timeout: float = 120.0
    write_stall_timeout: float = 30.0
    write_timeout: float = 600.0
    tls_handshake_timeout: float = 10.0
    log_level: str = "info"
    targets: tuple[TargetConfig, ...] = ()  # ``targets:``; none means the one HAProxy of ``haproxy.*``
    sections: Mapping[str, Any] = field(default_factory=dict)  # each source's own section, validated
    source: str | None = field(default=None, compare=False)

    @property
    def multi_target(self) -> bool:
        return bool(self.targets)

    def poll_targets(self) -> tuple[TargetConfig, ...]:
        """The HAProxys to poll: the ``targets:`` list, or the single one of ``haproxy.*``."""
        if self.targets:
            return self.targets
        return (TargetConfig("", self.haproxy_address, self.haproxy_mode, self.connect_timeout, self.timeout,
                             self.max_response_bytes),)

    def section(self, key: str) -> Any:
        """A source's validated config section (its default when the file has none)."""
        return self.sections.get(key)


LOG_LEVELS = ("debug", "info", "warning", "error")
_TARGET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")
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
    if not sep or not port.isascii() or not port.isdigit() or len(port) > 5 or not int(port) < 65536:
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


def _mode(key: str, value: Any) -> str:
    if value not in MODES:
        raise ConfigError(f"{key}: expected one of {', '.join(MODES)}, got {value!r}")
    return str(value)


def _at_most(most: int) -> Callable[[str, Any], int]:
    def check(key: str, value: Any) -> int:
        return positive_int(key, value, most)
    return check


# The ceilings of the counts: far above any real installation, low enough that a value over them
# is a typo (each is also where the value would stop meaning anything, or start failing later).
MAX_RESPONSE_BYTES = 4 * 1024 ** 3
MAX_CONCURRENCY = 1024  # a thread each
MAX_SERIES = 1_000_000_000
MAX_CONNECTIONS = 1_048_576  # a descriptor each: Linux's default ceiling of the open file limit (fs.nr_open)
MAX_LISTEN_BACKLOG = 65_535  # the kernel caps it at net.core.somaxconn anyway; listen() overflows at 2**31

# section.key → (Config field, validator).  Flags use the same keys.
SCHEMA: dict[str, tuple[str, Callable[[str, Any], Any]]] = {
    "haproxy.address": ("haproxy_address", _address),
    "haproxy.mode": ("haproxy_mode", _mode),
    "haproxy.connect_timeout": ("connect_timeout", parse_duration),
    "haproxy.timeout": ("timeout", parse_duration),
    "haproxy.max_response_bytes": ("max_response_bytes", _at_most(MAX_RESPONSE_BYTES)),
    "poll.interval": ("interval", parse_duration),
    "poll.max_age": ("max_age", parse_duration),
    "poll.concurrency": ("concurrency", _at_most(MAX_CONCURRENCY)),
    "poll.max_series": ("max_series", _at_most(MAX_SERIES)),
    "web.listen_address": ("listen_address", _listen),
    "web.telemetry_path": ("telemetry_path", _path),
    "web.config_file": ("web_config_file", _optional_file),
    "web.max_connections": ("max_connections", _at_most(MAX_CONNECTIONS)),
    "web.listen_backlog": ("listen_backlog", _at_most(MAX_LISTEN_BACKLOG)),
    "web.read_header_timeout": ("read_header_timeout", parse_duration),
    "web.idle_timeout": ("idle_timeout", parse_duration),
    "web.write_stall_timeout": ("write_stall_timeout", parse_duration),
    "web.write_timeout": ("write_timeout", parse_duration),
    "web.tls_handshake_timeout": ("tls_handshake_timeout", parse_duration),
    "log.level": ("log_level", _log_level),
}
CORE_SECTIONS = ("haproxy", "poll", "web", "log")
CORE_KEYS = {section: Keys(tuple(k.split(".", 1)[1] for k in SCHEMA if k.startswith(f"{section}.")),
                           shape="a mapping of keys")
             for section in CORE_SECTIONS}
# haproxy.* key → TargetConfig field: what a ``targets:`` entry may set for itself.
TARGET_KEYS = {"address": "address", "mode": "mode", "connect_timeout": "connect_timeout",
               "timeout": "timeout", "max_response_bytes": "max_response_bytes"}
TARGET_ENTRY = Keys(("name", *TARGET_KEYS), required=("address",), shape="a mapping with name and address")


def _flatten(data: Any, sections: Mapping[str, Any]) -> dict[str, Any]:
    top = Keys(tuple(sorted((*CORE_SECTIONS, "targets", *sections))), shape="a mapping of sections", noun="section")
    flat: dict[str, Any] = {}
    for section, body in top.check(None, data).items():
        if section not in CORE_SECTIONS:
            flat[section] = body  # a list or a source's own section, validated as a whole
            continue
        if body is None:
            continue
        for key, value in CORE_KEYS[section].check(section, body).items():
            flat[f"{section}.{key}"] = value
    return flat


def build_config(data: Mapping[str, Any] | None, overrides: Mapping[str, Any] | None = None,
                 source: str | None = None) -> Config:
    """Validate the file's mapping, apply flag overrides (same dotted keys) and return a Config."""
    if data is None:
        data = {}
    parsers = config_sections()
    flat = _flatten(data, parsers)
    flat.update({k: v for k, v in (overrides or {}).items() if v is not None})
    values: dict[str, Any] = {}
    sections = {key: parse(None) for key, parse in parsers.items()}
    targets = flat.pop("targets", None)
    for key, value in flat.items():
        if key in parsers:
            sections[key] = parsers[key](value)
            continue
        attr, check = SCHEMA[key]
        values[attr] = check(key, value)
    config = replace(Config(), source=source, sections=sections, **values)
    if targets is not None:
        if "haproxy.address" in flat:
            raise ConfigError("haproxy.address: not used when targets is set; give each target its address")
        config = replace(config, targets=_targets(targets, config))
    if config.write_timeout < config.write_stall_timeout:
        raise ConfigError(f"web.write_timeout: must be at least web.write_stall_timeout "
                          f"({config.write_stall_timeout:g}s), got {config.write_timeout:g}s")
    if config.max_age < config.interval:
        raise ConfigError(
            f"poll.max_age: must be at least poll.interval ({config.interval:g}s), got {config.max_age:g}s"
        )
    return config


def _targets(value: Any, defaults: Config) -> tuple[TargetConfig, ...]:
    """The ``targets:`` list: each entry a name, an address and any haproxy.* key for itself."""
    if not isinstance(value, list) or not value:
        raise ConfigError("targets: expected a list like [{name: edge1, address: unix@/run/haproxy/admin.sock}]")
    base = defaults.poll_targets()[0]
    targets: list[TargetConfig] = []
    for pos, item in enumerate(value):
        key = f"targets[{pos}]"
        TARGET_ENTRY.check(key, item)
        name = item.get("name")
        if not isinstance(name, str) or not _TARGET_NAME.fullmatch(name):
            raise ConfigError(f"{key}.name: expected a name of letters, digits and _ . : - (what /probe?target= "
                              f"takes), got {name!r}")
        if any(t.name == name for t in targets):
            raise ConfigError(f"{key}.name: target {name!r} is listed twice")
        settings: dict[str, Any] = {}
        for option, option_value in item.items():
            if option == "name":
                continue
            _, check = SCHEMA[f"haproxy.{option}"]
            settings[TARGET_KEYS[option]] = check(f"{key}.{option}", option_value)
        targets.append(replace(base, name=name, **settings))
    return tuple(targets)



def load_config(path: str | None, overrides: Mapping[str, Any] | None = None) -> Config:
    """Read and validate a YAML file (or none), then apply overrides."""
    data = read_yaml(path, "config.file") if path is not None else None
    return build_config(data, overrides, source=path)
