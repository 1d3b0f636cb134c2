"""SIGHUP: read the config again and apply it, or refuse it and keep running with the old one.

The signal handler only sets a flag (``Signals``); the main loop does the reading, validating and
swapping, so no lock or I/O ever happens inside a signal handler.  A reload is all or nothing:
the YAML file, the flags (which still override it) and the web config file are validated
together before anything changes.
"""

from __future__ import annotations

import logging
import signal
from dataclasses import dataclass, fields, is_dataclass
from typing import Any, Callable

from exporter.config import Config
from exporter.validation import ConfigError
from exporter.web.config import WebConfig, load_web_config

log = logging.getLogger("exporter.reload")

# Keys a running process cannot change in place; a reload says so instead of pretending.
RESTART_KEYS = ("web.listen_address",)


@dataclass(frozen=True)
class Settings:
    """Everything a (re)load produces: the config and the loaded web config file, if any."""

    config: Config
    web: WebConfig | None


def load_settings(load_config: Callable[[], Config]) -> Settings:
    """Load the config, then its web config file; any mistake raises one-line :class:`ConfigError`."""
    config = load_config()
    web = load_web_config(config.web.config_file) if config.web.config_file else None
    return Settings(config, web)


def changed_keys(old: Config, new: Config) -> list[str]:
    """The keys whose values differ, named as the file and the flags name them (``poll.interval``,
    ``targets``, a source's section such as ``stick_tables``), in the config's order."""
    changed: list[str] = []
    for f in fields(Config):
        if f.compare:
            changed += _changed(f.name, getattr(old, f.name), getattr(new, f.name))
    return changed


def _changed(key: str, old: Any, new: Any) -> list[str]:
    if is_dataclass(old) and not isinstance(old, type):  # a core section: each of its keys
        return [f"{key}.{f.name}" for f in fields(old) if getattr(old, f.name) != getattr(new, f.name)]
    if key == "sections":  # the sources' own sections, by their keys
        return [name for name in {**old, **new} if old.get(name) != new.get(name)]
    return [key] if old != new else []


def reload_settings(load: Callable[[], Settings], current: Settings) -> Settings | None:
    """The new settings, or None (logged) when they are invalid: the caller keeps ``current``."""
    try:
        new = load()
    except ConfigError as exc:
        log.error("config reload refused, still running with the previous config: %s", exc)
        return None
    changed = changed_keys(current.config, new.config)
    log.info("config reloaded%s", f"; changed: {', '.join(changed)}" if changed else " (no changes)")
    for key in changed:
        if key in RESTART_KEYS:
            log.warning("%s changed: it takes effect after a restart", key)
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
