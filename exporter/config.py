"""Configuration: a pure function from a YAML mapping (plus flag overrides) to a valid Config.

Every mistake becomes a :class:`ConfigError` whose text names the key and the problem, so the
CLI can print one line and exit 2 (no traceback at 3 a.m.).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping

from exporter.runtime.address import Address, AddressError, parse_address
from exporter.sources.registry import config_sections, target_checks
from exporter.validation import ConfigError, Keys, parse_duration, positive_int, read_yaml, shown, string

MODES = ("auto", "worker", "master")


@dataclass(frozen=True)
class TargetConfig:
    """One HAProxy to read: its socket and the limits of talking to it, the ``haproxy:`` section.

    The ``haproxy:`` section is one (named ""); each ``targets:`` entry is another, named, with
    the ``haproxy:`` section's values for what it does not set.  ``mode`` says what the socket is:
    a worker's stats socket, the master CLI (``-S``), or ``auto``: found out from the answers (a
    master answers ``show info`` with "Unknown command").  These defaults are the exporter's (the
    client takes its limits from here).
    """

    name: str = ""
    address: Address = parse_address("/run/haproxy/admin.sock")  # parsed once, here; its text kept
    mode: str = "auto"
    connect_timeout: float = 2.0
    timeout: float = 5.0
    max_response_bytes: int = 256 * 1024 * 1024


@dataclass(frozen=True)
class PollSection:
    """``poll:``: when HAProxy is read, and what one poll may hold."""

    interval: float = 5.0
    max_age: float = 30.0
    concurrency: int = 8
    max_series: int = 5_000_000


@dataclass(frozen=True)
class WebSection:
    """``web:``: where and how /metrics is served.  The serving limits (docs/reliability.md,
    "Serving limits") each bound what a client can hold."""

    listen_address: tuple[str, ...] = (":9101",)  # every address is listened on
    telemetry_path: str = "/metrics"
    config_file: str | None = None
    max_connections: int = 4096
    listen_backlog: int = 4096
    read_header_timeout: float = 10.0
    idle_timeout: float = 120.0
    write_stall_timeout: float = 30.0
    write_timeout: float = 600.0
    tls_handshake_timeout: float = 10.0


@dataclass(frozen=True)
class LogSection:
    """``log:``: what is logged (stderr), and how each line is written."""

    level: str = "info"
    format: str = "logfmt"


@dataclass(frozen=True)
class Config:
    """The config file's shape: a field per section, each section's defaults in its own class."""

    haproxy: TargetConfig = field(default_factory=TargetConfig)
    poll: PollSection = field(default_factory=PollSection)
    web: WebSection = field(default_factory=WebSection)
    log: LogSection = field(default_factory=LogSection)
    targets: tuple[TargetConfig, ...] = ()  # ``targets:``; none means the one HAProxy of ``haproxy:``
    sections: Mapping[str, Any] = field(default_factory=dict)  # each source's own section, validated
    path: str | None = field(default=None, compare=False)  # the file it was read from

    @property
    def multi_target(self) -> bool:
        return bool(self.targets)

    def poll_targets(self) -> tuple[TargetConfig, ...]:
        """The HAProxys to poll: the ``targets:`` list, or the single one of ``haproxy:``."""
        return self.targets or (self.haproxy,)

    def section(self, key: str) -> Any:
        """A source's validated config section (its default when the file has none)."""
        return self.sections.get(key)


LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("logfmt", "json")
_TARGET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")


def _address(key: str, value: Any) -> Address:
    try:
        return parse_address(string(key, value))
    except AddressError as exc:
        raise ConfigError(f"{key}: {exc}") from None


def parse_listen_address(text: str) -> tuple[str, int]:
    """``:9101``, ``127.0.0.1:9101``, ``[::1]:9101`` → (host, port); an empty host means all."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isascii() or not port.isdigit() or len(port) > 5 or not int(port) < 65536:
        raise ValueError(f"expected [host]:port, got {text!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


MAX_LISTEN_ADDRESSES = 64  # a socket each


def _listen(key: str, value: Any) -> tuple[str, ...]:
    """One address or a list of them (the flag is repeatable, as the exporter-toolkit's): every
    one is listened on.  The same text twice is refused (the second bind would fail anyway)."""
    items = value if isinstance(value, (list, tuple)) else [value]
    if not items:
        raise ConfigError(f"{key}: expected an address like :9101 or a list of them, got an empty list")
    if len(items) > MAX_LISTEN_ADDRESSES:
        raise ConfigError(f"{key}: at most {MAX_LISTEN_ADDRESSES} addresses, got {len(items)}")
    addresses: list[str] = []
    for item in items:
        text = string(key, item)
        try:
            parse_listen_address(text)
        except ValueError as exc:
            raise ConfigError(f"{key}: {exc}") from None
        if text in addresses:
            raise ConfigError(f"{key}: {text} is given twice")
        addresses.append(text)
    return tuple(addresses)


# The exporter's own pages (exporter/web/routes.py): a telemetry path on one of them would hide it.
OWN_PATHS = ("/", "/probe", "/healthz", "/-/healthy", "/-/ready")


def _path(key: str, value: Any) -> str:
    text = string(key, value)
    if not text.startswith("/") or text == "/":
        raise ConfigError(f"{key}: expected a path like /metrics, got {value!r}")
    if text in OWN_PATHS:
        raise ConfigError(f"{key}: {text} is one of the exporter's own pages ({', '.join(OWN_PATHS[1:])}); "
                          "choose another path")
    return text


def _log_level(key: str, value: Any) -> str:
    if not isinstance(value, str) or value.lower() not in LOG_LEVELS:
        raise ConfigError(f"{key}: expected one of {', '.join(LOG_LEVELS)}, got {value!r}")
    return value.lower()


def _log_format(key: str, value: Any) -> str:
    if value not in LOG_FORMATS:
        raise ConfigError(f"{key}: expected one of {', '.join(LOG_FORMATS)}, got {shown(value)}")
    return str(value)


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

# Each core section's keys (its class's fields) and the check of each value.  Flags use the same
# keys, dotted: section.key.
Check = Callable[[str, Any], Any]
CHECKS: dict[str, tuple[type[Any], dict[str, Check]]] = {
    "haproxy": (TargetConfig, {
        "address": _address,
        "mode": _mode,
        "connect_timeout": parse_duration,
        "timeout": parse_duration,
        "max_response_bytes": _at_most(MAX_RESPONSE_BYTES),
    }),
    "poll": (PollSection, {
        "interval": parse_duration,
        "max_age": parse_duration,
        "concurrency": _at_most(MAX_CONCURRENCY),
        "max_series": _at_most(MAX_SERIES),
    }),
    "web": (WebSection, {
        "listen_address": _listen,
        "telemetry_path": _path,
        "config_file": _optional_file,
        "max_connections": _at_most(MAX_CONNECTIONS),
        "listen_backlog": _at_most(MAX_LISTEN_BACKLOG),
        "read_header_timeout": parse_duration,
        "idle_timeout": parse_duration,
        "write_stall_timeout": parse_duration,
        "write_timeout": parse_duration,
        "tls_handshake_timeout": parse_duration,
    }),
    "log": (LogSection, {
        "level": _log_level,
        "format": _log_format,
    }),
}
SCHEMA: dict[str, Check] = {f"{section}.{key}": check
                            for section, (_, checks) in CHECKS.items() for key, check in checks.items()}
CORE_KEYS = {section: Keys(tuple(checks), shape="a mapping of keys") for section, (_, checks) in CHECKS.items()}
TARGET_ENTRY = Keys(("name", *CHECKS["haproxy"][1]), required=("address",), shape="a mapping with name and address")


def _given(data: Any, sections: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """What the file gives: each core section's keys, and ``targets`` and each source's section whole."""
    top = Keys(tuple(sorted((*CHECKS, "targets", *sections))), shape="a mapping of sections", noun="section")
    given: dict[str, Any] = {section: {} for section in CHECKS}
    for section, body in top.check(None, data).items():
        if section not in CHECKS:
            given[section] = body  # a list or a source's own section, validated as a whole
        elif body is not None:
            given[section] = dict(CORE_KEYS[section].check(section, body))
    return given


def build_config(data: Mapping[str, Any] | None, overrides: Mapping[str, Any] | None = None,
                 path: str | None = None) -> Config:
    """Validate the file's mapping, apply flag overrides (same dotted keys) and return a Config."""
    parsers = config_sections()
    given = _given({} if data is None else data, parsers)
    for key, value in (overrides or {}).items():
        if value is not None:
            section, name = key.split(".", 1)
            given[section][name] = value
    address_given = "address" in given["haproxy"]
    core = {section: replace(cls(), **{name: checks[name](f"{section}.{name}", value)
                                       for name, value in given.pop(section).items()})
            for section, (cls, checks) in CHECKS.items()}
    targets = given.pop("targets", None)
    sections = {key: parsers[key](given.get(key)) for key in parsers}
    config = Config(core["haproxy"], core["poll"], core["web"], core["log"], sections=sections, path=path)
    if targets is not None:
        if address_given:
            raise ConfigError("haproxy.address: not used when targets is set; give each target its address")
        config = replace(config, targets=_targets(targets, config.haproxy))
    for key, check in target_checks().items():
        check(sections[key], len(config.poll_targets()))
    web, poll = config.web, config.poll
    if web.write_timeout < web.write_stall_timeout:
        raise ConfigError(f"web.write_timeout: must be at least web.write_stall_timeout "
                          f"({web.write_stall_timeout:g}s), got {web.write_timeout:g}s")
    if poll.max_age < poll.interval:
        raise ConfigError(
            f"poll.max_age: must be at least poll.interval ({poll.interval:g}s), got {poll.max_age:g}s"
        )
    return config


def _targets(value: Any, base: TargetConfig) -> tuple[TargetConfig, ...]:
    """The ``targets:`` list: each entry a name, an address and any haproxy.* key for itself."""
    if not isinstance(value, list) or not value:
        raise ConfigError("targets: expected a list like [{name: edge1, address: unix@/run/haproxy/admin.sock}]")
    checks = CHECKS["haproxy"][1]
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
        settings = {option: checks[option](f"{key}.{option}", v) for option, v in item.items() if option != "name"}
        targets.append(replace(base, name=name, **settings))
    return tuple(targets)


def load_config(path: str | None, overrides: Mapping[str, Any] | None = None) -> Config:
    """Read and validate a YAML file (or none), then apply overrides."""
    data = read_yaml(path, "config.file") if path is not None else None
    return build_config(data, overrides, path=path)
