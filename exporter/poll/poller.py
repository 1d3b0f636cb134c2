"""The poll loop: fetch, parse, build and render one complete snapshot per interval, then swap it in.

A poll either produces a whole new HAProxy part or none: any failure of ``show info`` or
``show stat`` leaves the previous part in place (served until ``poll.max_age``) and sets
``haproxy_up`` to 0.  Every failure is counted by command and reason and logged once per change
of reason, not once per poll, so a long outage does not flood the log.
"""

from __future__ import annotations

import logging
import platform
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from exporter import __version__
from exporter.runtime.address import parse_address
from exporter.runtime.advice import advice
from exporter.config import Config
from exporter.runtime.errors import ParseError
from exporter.poll.gcpause import gc_paused
from exporter.exposition.families import NO_LABELS, Family, LabelSet, format_float
from exporter.exposition.render import render, render_bytes
from exporter.sources.stat.model import LabelCache, build_families
from exporter.sources.info.parse import parse_info
from exporter.sources.stat.parse import parse_stat
from exporter.exposition.gzip import GZIP_ENGINE, Part
from exporter.poll.snapshot import DataPart, Published, Store
from exporter.sources.sticktables.source import StickTableSource
from exporter.runtime.client import RuntimeClient, TransportError, TransportLimits

log = logging.getLogger("exporter.poll.poller")

Fetch = Callable[[str], str]
_UNREACHABLE = {"timeout", "connect_timeout", "no_socket", "refused", "permission", "connect"}


@dataclass
class PollState:
    """Counters and last-poll facts behind the exporter's own metrics."""

    polls: dict[str, int] = field(default_factory=lambda: {"success": 0, "failure": 0})
    errors: dict[tuple[str, str], int] = field(default_factory=dict)
    command_seconds: dict[str, float] = field(default_factory=dict)
    command_ok: dict[str, bool] = field(default_factory=dict)
    phase_seconds: dict[str, float] = field(default_factory=dict)
    last_reason: dict[str, str | None] = field(default_factory=dict)
    poll_seconds: float = 0.0
    last_success: float | None = None
    up: bool = False
    invalid_values: int = 0
    config_reload_ok: bool = True  # no reload yet counts as success, as in Prometheus's own metric


def make_client(config: Config) -> RuntimeClient:
    limits = TransportLimits(config.connect_timeout, config.timeout, config.max_response_bytes)
    return RuntimeClient(parse_address(config.haproxy_address), limits)


class Poller:
    """Owns the schedule and the state; ``poll_once`` is the whole cycle, usable without a thread."""

    def __init__(self, config: Config, store: Store, fetch: Fetch | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        self.config = config
        self.store = store
        self._fetch = fetch or make_client(config).run
        self.clock = clock  # None: time.time looked up per call, so freezegun can freeze it
        self.state = PollState()
        self._data: DataPart | None = None
        self._labels = LabelCache()  # row label objects reused from poll to poll (model.LabelCache)
        self._sticktables: StickTableSource | None = None
        self.monotonic: Callable[[], float] = time.monotonic  # the schedule's clock; tests inject one
        self._own_fetch = fetch is None

    def reconfigure(self, config: Config) -> None:
        """Take a reloaded config (SIGHUP): new address, limits and interval apply from the next poll.

        Called from the main thread; one reference swap per attribute, read at the start of a poll.
        """
        if self._own_fetch:
            self._fetch = make_client(config).run
        self.store.max_age = config.max_age
        self._forget_removed_tables(config)
        self.config = config  # the new interval applies after the wait already under way

    def _forget_removed_tables(self, config: Config) -> None:
        """Per-command gauges of a table dropped from the config would otherwise stay forever."""
        keep = {f"show table {t.name}" for t in config.stick_tables}
        for per_command in (self.state.command_seconds, self.state.command_ok, self.state.last_reason):
            for label in [k for k in per_command if k.startswith("show table ") and k not in keep]:
                del per_command[label]

    def now(self) -> float:
        return self.clock() if self.clock is not None else time.time()

    # ------------------------------------------------------------------ one cycle

    def _run_command(self, command: str, parse: Callable[[str], object], label: str | None = None) -> object | None:
        """Fetch and parse one command, recording its duration and any error; None on failure."""
        label = label or command
        started = time.perf_counter()
        reason: str | None = None
        result: object | None = None
        message = ""
        try:
            text = self._fetch(command)
            fetched = time.perf_counter()
            self.state.phase_seconds["fetch"] = self.state.phase_seconds.get("fetch", 0.0) + fetched - started
            result = parse(text)
            self.state.phase_seconds["parse"] = (
                self.state.phase_seconds.get("parse", 0.0) + time.perf_counter() - fetched
            )
        except (TransportError, ParseError) as exc:
            reason, message = exc.reason, str(exc)
        except Exception as exc:  # a bug must not kill the loop; count it and say so
            reason, message = "internal_error", f"{type(exc).__name__}: {exc}"
            log.exception("unexpected error while running %r", command)
        self.state.command_seconds[label] = time.perf_counter() - started
        self.state.command_ok[label] = reason is None
        self._note_result(label, reason, message)
        return result

    def _note_result(self, label: str, reason: str | None, message: str) -> None:
        previous = self.state.last_reason.get(label)
        if reason is not None:
            key = (label, reason)
            self.state.errors[key] = self.state.errors.get(key, 0) + 1
            if reason != previous:
                log.warning("%s failed (%s): %s; to fix: %s", label, reason, message, advice(reason))
            else:
                log.debug("%s still failing (%s): %s", label, reason, message)
        elif previous is not None:
            log.info("%s works again after %s", label, previous)
        self.state.last_reason[label] = reason

    def extra_families(self) -> list[Family]:
        """Hook for further sources (stick tables); failures there never fail the poll."""
        source = self._sticktables
        if source is None or source.tables != self.config.stick_tables:  # first poll or reconfigured
            source = self._sticktables = StickTableSource(self.config.stick_tables)
        families = source.families(self._run_command)
        self.state.invalid_values += source.last_invalid_values
        return families

    def poll_once(self) -> bool:
        """Run one complete cycle and publish the result.  Returns whether HAProxy was read."""
        with gc_paused():  # the cycle allocates ~1M acyclic objects at scale; see exporter/gcpause.py
            return self._poll_cycle()

    def _poll_cycle(self) -> bool:
        started = time.perf_counter()
        self.state.phase_seconds = {}
        info = self._run_command("show info", parse_info)
        if info is None and self.state.last_reason.get("show info") in _UNREACHABLE:
            # HAProxy cannot be reached at all: do not wait a second time on the same socket.
            table = None
            self.state.command_ok["show stat"] = False
        else:
            table = self._run_command("show stat", parse_stat)
        ok = info is not None and table is not None
        if ok:
            # stick tables fetch and parse here, timed by their own commands, not as "build"
            extra = self.extra_families()
            build_started = time.perf_counter()
            families, stats = build_families(info, table, self._labels)  # type: ignore[arg-type]
            del table  # at scale the rows, the families and the text each take hundreds of MB:
            families.extend(extra)  # each is dropped as soon as the next step has what it needs
            self.state.invalid_values += stats.invalid_values
            samples = sum(len(f.values) for f in families)
            built = time.perf_counter()
            raw = render_bytes(families)
            del families
            rendered = time.perf_counter()
            part = Part.of(raw)
            done = time.perf_counter()
            self.state.phase_seconds.update(
                build=built - build_started, render=rendered - built, compress=done - rendered
            )
            self._data = DataPart(part, self.now(), samples)
            self.state.last_success = self._data.taken_at
        self.state.up = ok
        self.state.polls["success" if ok else "failure"] += 1
        self.state.poll_seconds = time.perf_counter() - started
        self.publish()
        return ok

    def publish(self) -> None:
        self.store.publish(Published(self._data, Part.of(self.status_text(stale=False)),
                                     Part.of(self.status_text(stale=True))))

    # ------------------------------------------------------------------ own metrics

    def note_config_reload(self, ok: bool) -> None:
        """Record whether a SIGHUP reload was accepted (alerts.yml: HAProxyExporterConfigReloadFailed)."""
        self.state.config_reload_ok = ok

    def status_families(self, stale: bool) -> list[Family]:
        st = self.state
        up = st.up and not stale
        fams = [
            Family("haproxy_up", "gauge", "1 if the last poll read show info and show stat, else 0",
                   [(NO_LABELS, "1" if up else "0")]),
            Family("haproxy_exporter_snapshot_stale", "gauge",
                   "1 when HAProxy's series are withheld because the last good poll is older than poll.max_age",
                   [(NO_LABELS, "1" if stale else "0")]),
            Family("haproxy_exporter_poll_duration_seconds", "gauge", "Wall time of the last poll cycle",
                   [(NO_LABELS, format_float(st.poll_seconds))]),
            Family("haproxy_exporter_poll_phase_seconds", "gauge",
                   "Wall time of the last poll cycle by phase (fetch, parse, build, render, compress)",
                   [(LabelSet((("phase", k),)), format_float(v)) for k, v in st.phase_seconds.items()]),
            Family("haproxy_exporter_command_duration_seconds", "gauge",
                   "Wall time of the last run of each Runtime API command, parsing included",
                   [(LabelSet((("command", k),)), format_float(v)) for k, v in st.command_seconds.items()]),
            Family("haproxy_exporter_command_success", "gauge",
                   "1 if the last run of the command succeeded, else 0",
                   [(LabelSet((("command", k),)), "1" if v else "0") for k, v in st.command_ok.items()]),
            Family("haproxy_exporter_command_errors_total", "counter",
                   "Failed runs of Runtime API commands by reason",
                   [(LabelSet((("command", c), ("reason", r))), str(n)) for (c, r), n in sorted(st.errors.items())]),
            Family("haproxy_exporter_polls_total", "counter", "Poll cycles by result",
                   [(LabelSet((("result", k),)), str(v)) for k, v in st.polls.items()]),
            Family("haproxy_exporter_invalid_values_total", "counter",
                   "Values HAProxy sent that were not numbers and were skipped",
                   [(NO_LABELS, str(st.invalid_values))]),
            Family("haproxy_exporter_build_info", "gauge", "Exporter version, Python version and gzip engine",
                   [(LabelSet((("version", __version__), ("python_version", platform.python_version()),
                               ("gzip", GZIP_ENGINE))), "1")]),
        ]
        if st.last_success is not None:
            fams.append(Family("haproxy_exporter_last_successful_poll_timestamp_seconds", "gauge",
                               "Unix time of the last poll that read HAProxy",
                               [(NO_LABELS, format_float(round(st.last_success, 3)))]))
        fams.append(Family("haproxy_exporter_config_last_reload_successful", "gauge",
                           "0 if the last config reload (SIGHUP) was refused and the previous config is "
                           "still in use, else 1", [(NO_LABELS, "1" if st.config_reload_ok else "0")]))
        if self._data is not None:
            fams.append(Family("haproxy_exporter_snapshot_samples", "gauge",
                               "Number of HAProxy samples in the latest good snapshot",
                               [(NO_LABELS, str(self._data.samples))]))
        return fams

    def status_text(self, stale: bool) -> str:
        return render(self.status_families(stale)) + process_metrics_text()

    # ------------------------------------------------------------------ schedule

    def run(self, stop: threading.Event) -> None:
        """Poll every interval until ``stop`` is set; a slow poll delays the next, never stacks."""
        next_at = self.monotonic()
        while not stop.is_set():
            try:
                self.poll_once()
            except Exception:  # the loop must outlive any bug
                log.exception("poll cycle failed unexpectedly")
            next_at += self.config.interval
            now = self.monotonic()
            if next_at < now:
                next_at = now
            stop.wait(next_at - now)


def process_metrics_text() -> str:
    """The exporter's own process_* metrics (memory, CPU, open fds) from prometheus_client."""
    from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=registry)
    return generate_latest(registry).decode("utf-8")
