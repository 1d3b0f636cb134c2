"""The ``logs`` config section: where the lines come from, how they are written, the histograms.

Example::

    logs:
      ring: logs              # HAProxy's `ring logs` section, filled by `log ring@logs local0`
      format: httplog         # or httpslog, tcplog, "httplog clf", "tcplog clf", or the log-format string
      ring_format: raw        # the ring section's `format`
      servers: true           # histograms per server too, not only per backend
      native_histograms: {schema: 3, max_buckets: 160}   # exponential buckets too (protobuf scrapes)

or, instead of the ring, ``syslog: {listen: udp://127.0.0.1:5514, format: rfc5424}`` (syslog.py).

Absent, the source is off and sends nothing.  The log format is compiled here, so a format the
exporter cannot read is a config error naming the key, not a stream of rejected lines later.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from exporter.exposition.native import MAX_SCHEMA, MIN_SCHEMA
from exporter.runtime.errors import ParseError
from exporter.sources.logs.format import BUILTIN_FORMATS, RING_HEADERS, LineParser, compile_format
from exporter.sources.logs.syslog import SyslogConfig, parse_syslog_config
from exporter.validation import ConfigError, Keys, positive_int, shown, string

# What a ring's name may be, in the config and in the command the source declares: the same
# pattern, so a valid config is always sendable (HAProxy's section names are of these characters).
RING_NAME_PATTERN = r"[A-Za-z0-9_.:-]{1,64}"
_RING_NAME = re.compile(RING_NAME_PATTERN)

# Seconds, from 1 ms to 60 s: HAProxy's timers are whole milliseconds, and 60 s is past most
# `timeout server` settings.  Fifteen buckets: ~2.5x apart, as the Prometheus clients' defaults.
DEFAULT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
MAX_BUCKETS = 64  # each is a series per backend and per server: a ceiling against a slip of the keyboard
DEFAULT_MAX_SERIES = 10_000
MAX_SERIES = 1_000_000
MAX_MAXLEN = 1 << 20  # the client refuses longer lines (runtime/answer.py MAX_LINE)

_KEYS = Keys(("ring", "syslog", "format", "ring_format", "maxlen", "buckets", "servers", "max_series",
              "native_histograms"), shape="a mapping like {ring: logs, format: httplog}")
_NATIVE_KEYS = Keys(("schema", "max_buckets"), shape="true, or a mapping like {schema: 3, max_buckets: 160}")
# Schema 3: buckets 2 ** (1/8) = 1.09 apart (client_golang's NativeHistogramBucketFactor 1.1); 160
# buckets hold 20 octaves at that schema, 1 ms to 17 min, before the resolution is halved.
DEFAULT_SCHEMA = 3
DEFAULT_MAX_BUCKETS = 160
MAX_NATIVE_BUCKETS = 10_000


@dataclass(frozen=True)
class NativeConfig:
    """Native histograms beside the classic ones: the schema to start at (-4 to 8, the highest
    resolution) and how many buckets a series may hold before its resolution is halved."""

    schema: int = DEFAULT_SCHEMA
    max_buckets: int = DEFAULT_MAX_BUCKETS


@dataclass(frozen=True)
class LogsConfig:
    """``ring`` or ``syslog``: the transport (one of them; syslog is for a master-worker HAProxy,
    whose rings cannot be streamed through its master CLI, and for sites that ship logs already)."""

    ring: str | None = None
    syslog: SyslogConfig | None = None
    format: str = "httplog"
    ring_format: str = "raw"
    maxlen: int | None = None
    buckets: tuple[float, ...] = DEFAULT_BUCKETS
    servers: bool = False
    max_series: int = DEFAULT_MAX_SERIES
    native: NativeConfig | None = None  # None: classic buckets only

    @property
    def header(self) -> str:
        """What HAProxy writes before each message: the ring's format, or the syslog one."""
        return self.syslog.format if self.syslog is not None else self.ring_format

    def parser(self) -> LineParser:
        """The compiled format (it compiled when the config was read: no error here)."""
        log_format = BUILTIN_FORMATS.get(self.format, self.format)
        return compile_format(log_format, self.header, self.maxlen)


def _ring(value: Any) -> str:
    name = string("logs.ring", value)
    if not _RING_NAME.fullmatch(name):
        raise ConfigError(f"logs.ring: expected a ring section's name (letters, digits, _ . : -; at most 64), "
                          f"got {shown(name)}")
    return name


def _format(value: Any, ring_format: str, maxlen: int | None) -> str:
    if value is None:
        return LogsConfig.format
    log_format = string("logs.format", value)
    try:
        compile_format(BUILTIN_FORMATS.get(log_format, log_format), ring_format, maxlen)
    except ParseError as exc:
        raise ConfigError(f"logs.format: {exc}") from None
    if log_format not in BUILTIN_FORMATS and "%" not in log_format:
        raise ConfigError(f"logs.format: expected one of {', '.join(BUILTIN_FORMATS)} or a log-format string "
                          f"with %-aliases, got {shown(log_format)}")
    return log_format


def _ring_format(value: Any) -> str:
    if value is None:
        return LogsConfig.ring_format
    if value not in RING_HEADERS:
        raise ConfigError(f"logs.ring_format: expected the ring's format, one of {', '.join(RING_HEADERS)}, "
                          f"got {shown(value)}")
    return str(value)


def _buckets(value: Any) -> tuple[float, ...]:
    if value is None:
        return DEFAULT_BUCKETS
    if not isinstance(value, list) or not value:
        raise ConfigError(f"logs.buckets: expected a list of upper bounds in seconds like [0.005, 0.05, 0.5, 5], "
                          f"got {shown(value)}")
    if len(value) > MAX_BUCKETS:
        raise ConfigError(f"logs.buckets: at most {MAX_BUCKETS} bounds, got {len(value)}")
    bounds: list[float] = []
    for at, bound in enumerate(value):
        if isinstance(bound, bool) or not isinstance(bound, (int, float)) or not math.isfinite(bound) or bound <= 0:
            raise ConfigError(f"logs.buckets[{at}]: expected a number of seconds above zero, got {shown(bound)}")
        if bounds and bound <= bounds[-1]:
            raise ConfigError(f"logs.buckets[{at}]: the bounds must increase, got {shown(bound)} after {bounds[-1]}")
        bounds.append(float(bound))
    return tuple(bounds)


def _servers(value: Any) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ConfigError(f"logs.servers: expected true or false, got {shown(value)}")
    return value


def _native(value: Any) -> NativeConfig | None:
    if value is None or value is False:
        return None
    if value is True:
        return NativeConfig()
    checked = _NATIVE_KEYS.check("logs.native_histograms", value)
    schema = checked.get("schema", DEFAULT_SCHEMA)
    if isinstance(schema, bool) or not isinstance(schema, int) or not MIN_SCHEMA <= schema <= MAX_SCHEMA:
        raise ConfigError(f"logs.native_histograms.schema: expected a whole number from {MIN_SCHEMA} to "
                          f"{MAX_SCHEMA} (buckets 2 ** 2 ** -schema apart), got {shown(schema)}")
    most = checked.get("max_buckets")
    return NativeConfig(schema, DEFAULT_MAX_BUCKETS if most is None else positive_int(
        "logs.native_histograms.max_buckets", most, MAX_NATIVE_BUCKETS))


def parse_logs_config(value: Any) -> LogsConfig | None:
    """``logs: {ring: NAME, ...}`` → LogsConfig; no section means off (None)."""
    if value is None:
        return None
    checked = _KEYS.check("logs", value)
    ring, syslog = checked.get("ring"), checked.get("syslog")
    if ring is None and "syslog" not in checked:
        raise ConfigError("logs.ring: required, or logs.syslog (the transport of the log lines)")
    if ring is not None and "syslog" in checked:
        raise ConfigError("logs.syslog: give the ring or syslog, not both (one transport, one set of histograms)")
    if syslog is not None or "syslog" in checked:
        if checked.get("ring_format") is not None:
            raise ConfigError("logs.ring_format: for a ring; with syslog the header is logs.syslog.format")
        syslog_config: SyslogConfig | None = parse_syslog_config(syslog)
    else:
        syslog_config = None
    ring_format = _ring_format(checked.get("ring_format"))
    header = syslog_config.format if syslog_config is not None else ring_format
    maxlen = None if checked.get("maxlen") is None else positive_int("logs.maxlen", checked["maxlen"], MAX_MAXLEN)
    max_series = checked.get("max_series")
    return LogsConfig(
        ring=None if ring is None else _ring(ring),
        syslog=syslog_config,
        format=_format(checked.get("format"), header, maxlen),
        ring_format=ring_format,
        maxlen=maxlen,
        buckets=_buckets(checked.get("buckets")),
        servers=_servers(checked.get("servers")),
        max_series=DEFAULT_MAX_SERIES if max_series is None else positive_int("logs.max_series", max_series,
                                                                                MAX_SERIES),
        native=_native(checked.get("native_histograms")),
    )
