"""SIGHUP: read the config again and apply it, or refuse it and keep running with the old one.

The signal handler only sets a flag (``Signals``); the main loop does the reading, validating and
swapping, so no lock or I/O ever happens inside a signal handler.  A reload is all or nothing:
the YAML file, the flags (which still override it) and the web config file are validated
together before anything changes.
"""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import dataclass, fields
from typing import Callable

from exporter.config import Config
from exporter.validation import ConfigError
from exporter.web.config import WebConfig, load_web_config

log = logging.getLogger("exporter.reload")

# Keys a running process cannot change in place; a reload says so instead of pretending.
RESTART_FIELDS = {"listen_address": "web.listen_address"}


@dataclass(frozen=True)
class Settings:
    """Everything a (re)load produces: the config and the loaded web config file, if any."""

    config: Config
    web: WebConfig | None


def load_settings(load_config: Callable[[], Config]) -> Settings:
    """Load the config, then its web config file; any mistake raises one-line :class:`ConfigError`."""
    config = load_config()
    web = load_web_config(config.web_config_file) if config.web_config_file else None
    return Settings(config, web)


def changed_fields(old: Config, new: Config) -> list[str]:
    return [f.name for f in fields(Config) if f.compare and getattr(old, f.name) != getattr(new, f.name)]


def reload_settings(load: Callable[[], Settings], current: Settings) -> Settings | None:
    """The new settings, or None (logged) when they are invalid: the caller keeps ``current``."""
    try:
        new = load()
    except ConfigError as exc:
        log.error("config reload refused, still running with the previous config: %s", exc)
        return None
    changed = changed_fields(current.config, new.config)
    log.info("config reloaded%s", f"; changed: {', '.join(changed)}" if changed else " (no changes)")
    for name in changed:
        if name in RESTART_FIELDS:
            log.warning("%s changed: it takes effect after a restart", RESTART_FIELDS[name])
    return new


class Signals:
    """Flags set by SIGTERM/SIGINT (stop) and SIGHUP (reload), and one event to wake the main loop."""

    def __init__(self, stop: threading.Event | None = None) -> None:
        self.stop = stop or threading.Event()
        self.wake = threading.Event()
        self.reload_requested = False
        self.received: list[str] = []

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_hup)

    def _on_stop(self, signum: int, _frame: object) -> None:
        self.received.append(signal.Signals(signum).name)
        self.stop.set()
        self.wake.set()

    def _on_hup(self, signum: int, _frame: object) -> None:
        self.received.append(signal.Signals(signum).name)
        self.reload_requested = True
        self.wake.set()
