"""SIGHUP: read the config again and apply it, or refuse it and keep running with the old one.

The signal handler only sets a flag (``Signals``); the main loop does the reading, validating and
swapping, so no lock or I/O ever happens inside a signal handler.  A reload is all or nothing:
the YAML file, the flags (which still override it) and the web config file are validated
together before anything changes.
"""

from __future__ import annotations

import logging
import signal
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
    """SIGTERM/SIGINT (stop) and SIGHUP (reload), taken by waiting for them, not by handlers.

    :meth:`block` runs before any thread starts, so every thread inherits the blocked mask and the
    kernel keeps the signals pending until the main loop takes them with ``sigtimedwait``.  No
    Python code runs inside a signal handler at all: a signal can never interrupt the main loop
    while it holds a lock (a SIGHUP handler calling ``Event.set()`` could deadlock it), and a burst
    of SIGHUPs is one pending signal, not nested handlers.
    """

    WATCHED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)

    def __init__(self) -> None:
        self.received: list[str] = []

    def block(self) -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, self.WATCHED)

    def unblock(self) -> None:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, self.WATCHED)

    def wait(self, timeout: float) -> str | None:
        """"stop", "reload" or None (nothing within ``timeout``); a stop wins over reloads pending with it."""
        info = signal.sigtimedwait(self.WATCHED, timeout)
        if info is None:
            return None
        got = {info.si_signo}
        while (more := signal.sigtimedwait(self.WATCHED, 0)) is not None:  # take whatever else is pending
            got.add(more.si_signo)
        self.received.extend(signal.Signals(s).name for s in sorted(got))
        return "stop" if got & {signal.SIGTERM, signal.SIGINT} else "reload"
