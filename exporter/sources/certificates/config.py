"""The ``certificates`` config section::

    certificates:
      enabled: true            # default; false sends no ssl command at all
      refresh_interval: 5m     # how often the list and each certificate are read again
      max_per_poll: 200        # certificates read in one poll at most (the rest in the next polls)

Certificates change rarely and there can be thousands: reading all of them every poll would
cost one command each, so they are read once per refresh interval, spread over polls, and the
last answers are served in between (docs/sources.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from exporter.validation import ConfigError, parse_duration, positive_int

SECTION = "certificates"


@dataclass(frozen=True)
class CertificatesConfig:
    enabled: bool = True
    refresh_interval: float = 300.0
    max_per_poll: int = 200


def parse_certificates(value: Any) -> CertificatesConfig:
    if value is None:
        return CertificatesConfig()
    if not isinstance(value, dict):
        raise ConfigError(f"{SECTION}: expected a mapping like {{enabled: true, refresh_interval: 5m}}, "
                          f"got {type(value).__name__}")
    known = ("enabled", "refresh_interval", "max_per_poll")
    for key in value:
        if key not in known:
            raise ConfigError(f"{SECTION}.{key}: unknown key (known: {', '.join(known)})")
    enabled = value.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError(f"{SECTION}.enabled: expected true or false, got {enabled!r}")
    default = CertificatesConfig()
    refresh = value.get("refresh_interval")
    most = value.get("max_per_poll")
    return CertificatesConfig(
        enabled=enabled,
        refresh_interval=default.refresh_interval if refresh is None else parse_duration(
            f"{SECTION}.refresh_interval", refresh),
        max_per_poll=default.max_per_poll if most is None else positive_int(f"{SECTION}.max_per_poll", most))
