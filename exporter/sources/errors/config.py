"""The ``errors`` config section: off unless ``enabled: true``.

Off by default because ``show errors`` is the one read that is neither cheap nor harmless: it
needs level operator, and it dumps the bytes of every kept error (up to a buffer, 16 kB by default,
per proxy and direction), which may be a client's cookies or credentials.  The exporter reads only
the entries' headers, but the bytes still cross the socket on every poll.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from exporter.validation import ConfigError, Keys

_KEYS = Keys(("enabled",), shape="a mapping like {enabled: true}")


@dataclass(frozen=True)
class ErrorsConfig:
    enabled: bool = False


def parse_errors_config(value: Any) -> ErrorsConfig:
    """``errors: {enabled: true}`` → ErrorsConfig; no section means off."""
    if value is None:
        return ErrorsConfig()
    _KEYS.check("errors", value)
    enabled = value.get("enabled", False)
    if not isinstance(enabled, bool):
        raise ConfigError(f"errors.enabled: expected true or false, got {enabled!r}")
    return ErrorsConfig(enabled)
