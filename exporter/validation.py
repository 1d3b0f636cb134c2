"""Checks shared by every config section (the core keys and each source's own section).

Every mistake becomes a :class:`ConfigError` whose text starts with the key, so the CLI can print
one line and exit 2 (no traceback at 3 a.m.).
"""

from __future__ import annotations

import re
from typing import Any

import yaml


class ConfigError(ValueError):
    """A config value is wrong; the message starts with the key."""


_DURATION = re.compile(r"(?P<num>\d+(?:\.\d+)?)(?P<unit>ms|s|m|h)?")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


# The longest duration any key takes: a day.  Longer ones are mistakes (1e10s, .inf) that would
# otherwise pass here and fail later inside a socket or timer call.
MAX_DURATION = 86_400.0


def parse_duration(key: str, value: Any) -> float:
    """Seconds from ``5``, ``2.5``, ``"500ms"``, ``"15s"``, ``"1m"``; above zero, at most a day."""
    if isinstance(value, bool):
        raise ConfigError(f"{key}: expected a duration like 5s or 500ms, got {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.fullmatch(value.strip())):
        seconds = float(m.group("num")) * _UNITS[m.group("unit")]
    else:
        raise ConfigError(f"{key}: expected a duration like 5s or 500ms, got {value!r}")
    if not seconds > 0:
        raise ConfigError(f"{key}: must be above zero, got {value!r}")
    if not seconds <= MAX_DURATION:
        raise ConfigError(f"{key}: must be at most 24h, got {value!r}")
    return seconds


def positive_int(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{key}: expected a positive whole number, got {value!r}")
    return value


def string(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{key}: expected a non-empty string, got {value!r}")
    return value


def read_yaml(path: str, key: str) -> Any:
    """Load a YAML file; an unreadable file or bad YAML is one ConfigError line naming ``key``."""
    try:
        with open(path, encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except OSError as exc:
        raise ConfigError(f"{key}: cannot read {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).split("\n")[0]
        raise ConfigError(f"{key}: {path} is not valid YAML{where}: {problem}") from None
