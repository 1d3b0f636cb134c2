"""One target's poll cycle: read every source of one HAProxy, build, render, compress, swap.

A cycle either produces a whole new HAProxy part or none: if a required source (``show info``,
``show stat``) fails, the previous part stays in place (served until ``poll.max_age``) and
``haproxy_up`` becomes 0.  Every failure is counted by command and reason and logged once per
change of reason, not once per poll, so a long outage does not flood the log.

A cycle uses one config and one client from start to end: a reload (SIGHUP) hands over a new
pair that the poll thread picks up at the start of its next cycle, and the bookkeeping of what
the new config no longer polls happens there too, never under a running cycle.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Mapping

from exporter.config import Config, TargetConfig
from exporter.exposition.families import NO_SUFFIX, Family, LabelSuffix
from exporter.exposition.gzip import Part
from exporter.exposition.render import render, render_bytes
from exporter.poll.gcpause import gc_paused
from exporter.poll.snapshot import DataPart, Published, Store
from exporter.poll.state import CommandStats, PollState
from exporter.poll.status import target_families
from exporter.runtime.address import parse_address
from exporter.runtime.advice import advice
from exporter.runtime.client import RuntimeClient, TransportError, TransportLimits
from exporter.runtime.errors import ParseError
from exporter.sources.base import Command, Source
from exporter.sources.registry import WORKER_SOURCES, allowlist
from exporter.sources.values import ModelStats

log = logging.getLogger("exporter.poll")

Fetch = Callable[[str], str]
# Reasons that mean the socket cannot be reached at all: the rest of the cycle is not attempted,
# so a dead HAProxy costs one connect timeout per cycle, not one per command.
UNREACHABLE = frozenset({"timeout", "connect_timeout", "no_socket", "refused", "permission", "connect"})


def make_client(target: TargetConfig) -> RuntimeClient:
    limits = TransportLimits(target.connect_timeout, target.timeout, target.max_response_bytes)
    return RuntimeClient(parse_address(target.address), allowlist(), limits)


class Runner:
    """Sends one target's commands, recording each: duration, success, errors by reason, one log
    line per change of reason."""

    def __init__(self, fetch: Fetch, state: PollState, name: str) -> None:
        self.fetch = fetch
        self.state = state
        self.where = _where(name)
        self.sent = 0

    def run(self, command: Command, stats: CommandStats, route: str = "", quiet: bool = False) -> Any | None:
        """Fetch and parse one command; None on failure (recorded in ``stats``)."""
        label = command.name
        started = time.perf_counter()
        reason: str | None = None
        message = ""
        result = None
        self.sent += 1
        try:
            text = self.fetch(route + command.text)
            fetched = time.perf_counter()
            self.state.add_phase("fetch", fetched - started)
            result = command.parse(text)
            self.state.add_phase("parse", time.perf_counter() - fetched)
        except (TransportError, ParseError) as exc:
            reason, message = exc.reason, str(exc)
        except Exception as exc:  # a bug must not kill the loop; count it and say so
            reason, message = "internal_error", f"{type(exc).__name__}: {exc}"
            log.exception("%sunexpected error while running %r", self.where, route + command.text)
        stats.seconds[label] = time.perf_counter() - started
        stats.ok[label] = reason is None
        self._note(label, reason, message, stats, quiet)
        return result

    def _note(self, label: str, reason: str | None, message: str, stats: CommandStats, quiet: bool) -> None:
        previous = stats.last_reason.get(label)
        if reason is not None:
            key = (label, reason)
            stats.errors[key] = stats.errors.get(key, 0) + 1
            if reason != previous and not quiet:
                log.warning("%s%s failed (%s): %s; to fix: %s", self.where, label, reason, message, advice(reason))
            else:
                log.debug("%s%s failed (%s): %s", self.where, label, reason, message)
        elif previous is not None and not quiet:
            log.info("%s%s works again after %s", self.where, label, previous)
        stats.last_reason[label] = reason


class Process:
    """One HAProxy process behind the target's socket, with its sources (and their caches).

    ``route`` is the master CLI prefix that reaches it (empty on a worker's own socket); ``extra``
    labels every series it produces (an old worker's ``worker`` label).
    """

    def __init__(self, config: Config, route: str = "", extra: LabelSuffix = NO_SUFFIX, old: bool = False) -> None:
        self.route = route
        self.old = old
        self.config = config
        self.sources: list[Source] = [
            cls(config.section(cls.config_key) if cls.config_key else None, extra=extra)
            for cls in sorted(WORKER_SOURCES, key=lambda s: not s.required)
            if cls.old_workers or not old
        ]

    def read(self, runner: Runner, stats: CommandStats, timings: dict[str, float] | None,
             okays: dict[str, bool] | None) -> tuple[dict[str, dict[str, Any]], bool]:
        """Every source's answers by command name, and whether every required source was answered.

        Required sources run first.  Once one fails, the others are not run (nothing would be
        published); once the socket is unreachable, nothing more is sent this cycle.
        """
        answers: dict[str, dict[str, Any]] = {}
        required_ok = True
        unreachable = False
        for source in self.sources:
            if not source.required and not required_ok:
                if okays is not None:
                    okays[source.name] = False
                continue
            started = time.perf_counter()
            got: dict[str, Any] = {}
            commands = source.commands()
            for command in commands:
                if unreachable:
                    stats.ok[command.name] = False
                    continue
                result = runner.run(command, stats, self.route, quiet=self.old)
                if result is not None:
                    got[command.name] = result
                elif stats.last_reason.get(command.name) in UNREACHABLE:
                    unreachable = True
            complete = len(got) == len(commands)
            if source.required and not complete:
                required_ok = False
            if timings is not None and okays is not None:
                timings[source.name] = time.perf_counter() - started
                okays[source.name] = complete
            answers[source.name] = got
        return answers, required_ok

    def build(self, answers: Mapping[str, Mapping[str, Any]], stats: ModelStats,
              timings: dict[str, float] | None, okays: dict[str, bool] | None) -> list[Family]:
        """The families of every source that was read, in the registry's order.

        A required source that fails to build fails the cycle (raises); any other loses only its
        own series, logged with the traceback, and its success gauge says so.
        """
        families: list[Family] = []
        for source in self.sources:
            got = answers.get(source.name)
            if got is None or (source.required and len(got) != len(source.commands())):
                continue
            started = time.perf_counter()
            try:
                built = source.build(got, stats)
            except Exception:
                if okays is not None:
                    okays[source.name] = False
                if source.required:
                    raise
                log.exception("building the %s series failed", source.name)
                continue
            finally:
                if timings is not None:
                    timings[source.name] = timings.get(source.name, 0.0) + time.perf_counter() - started
            families.extend(built)
        return families

    def command_names(self) -> set[str]:
        return {command.name for source in self.sources for command in source.commands()}


class TargetPoller:
    """Polls one target and publishes its snapshot in the store under the target's name."""

    def __init__(self, target: TargetConfig, config: Config, store: Store, fetch: Fetch | None = None,
                 wall: Callable[[], float] = time.time, monotonic: Callable[[], float] = time.monotonic,
                 reload_ok: Callable[[], bool] = lambda: True) -> None:
        self.target = target
        self.config = config
        self.store = store
        self.state = PollState()
        self.wall = wall
        self.monotonic = monotonic
        self.created_mono = monotonic()  # /healthz counts a target that never completed a cycle from here
        self.reload_ok = reload_ok
        self._fixed_fetch = fetch  # tests inject one fake for every command
        self._fetch = fetch or make_client(target).run
        self._pending: tuple[TargetConfig, Config] | None = None
        self._data: DataPart | None = None
        self._process = Process(config)

    @property
    def name(self) -> str:
        return self.target.name

    def reconfigure(self, target: TargetConfig, config: Config) -> None:
        """Hand over a reloaded config; the poll thread applies it at the start of its next cycle."""
        self._pending = (target, config)

    def _apply_pending(self) -> None:
        pending, self._pending = self._pending, None
        if pending is None:
            return
        target, config = pending
        if target != self.target and self._fixed_fetch is None:
            self._fetch = make_client(target).run
        if config.sections != self.config.sections:
            self._process = Process(config)
            self.state.commands.keep_only(self._process.command_names())
        self.target, self.config = target, config

    # ------------------------------------------------------------------ one cycle

    def poll_once(self) -> bool:
        """Run one complete cycle and publish the result.  Returns whether HAProxy was read."""
        self._apply_pending()
        with gc_paused():  # the cycle allocates ~1M acyclic objects at scale; see exporter/poll/gcpause.py
            return self._cycle()

    def _cycle(self) -> bool:
        st = self.state
        started = time.perf_counter()
        st.phase_seconds = {}
        st.source_seconds, st.source_ok = {}, {}
        runner = Runner(self._fetch, st, self.name)
        answers, ok = self._process.read(runner, st.commands, st.source_seconds, st.source_ok)
        if ok:
            ok = self._publish_data(answers)
        st.up = ok
        st.polls["success" if ok else "failure"] += 1
        st.poll_seconds = time.perf_counter() - started
        st.commands_per_cycle = runner.sent
        st.last_cycle_mono = self.monotonic()
        self.publish()
        return ok

    def _publish_data(self, answers: Mapping[str, Mapping[str, Any]]) -> bool:
        st = self.state
        build_started = time.perf_counter()
        stats = ModelStats()
        try:
            families = self._process.build(answers, stats, st.source_seconds, st.source_ok)
        except Exception:
            log.exception("%sbuilding the series failed; keeping the last snapshot", _where(self.name))
            return False
        del answers  # at scale the rows, the families and the text each take hundreds of MB:
        st.invalid_values += stats.invalid_values  # each is dropped as soon as the next step has what it needs
        samples = sum(len(f.values) for f in families)
        built = time.perf_counter()
        raw = render_bytes(families)
        del families
        rendered = time.perf_counter()
        part = Part.of(raw)
        done = time.perf_counter()
        st.phase_seconds.update(build=built - build_started, render=rendered - built, compress=done - rendered)
        self._data = DataPart(part, self.wall(), samples, self.monotonic())
        st.last_success = self._data.taken_at
        st.samples = samples
        return True

    def publish(self) -> None:
        self.store.publish(Published(self._data, Part.of(self.status_text(stale=False)),
                                     Part.of(self.status_text(stale=True))), self.name)

    def status_families(self, stale: bool) -> list[Family]:
        return target_families(self.state, stale, self.reload_ok())

    def status_text(self, stale: bool) -> str:
        return render(self.status_families(stale))

    def cycle_bound(self) -> float:
        """How long one cycle may take at most: every command it sends waiting out both timeouts."""
        per_command = self.target.connect_timeout + self.target.timeout
        return per_command * max(1, self.state.commands_per_cycle, len(self._process.command_names()))


def _where(name: str) -> str:
    """The log prefix that names the target when there are several."""
    return f"target {name}: " if name else ""
