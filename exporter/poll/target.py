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
from exporter.exposition.families import NO_SUFFIX, Family, LabelSuffix, label_suffix
from exporter.exposition.gzip import Part
from exporter.exposition.render import Dropped, render, render_bytes
from exporter.poll.gcpause import gc_paused
from exporter.poll.snapshot import DataPart, Published, Store
from exporter.poll.state import CommandStats, PollState
from exporter.poll.status import target_families
from exporter.runtime.address import parse_address
from exporter.runtime.advice import advice
from exporter.runtime.client import RuntimeClient, TransportError, TransportLimits
from exporter.runtime.errors import ParseError
from exporter.sources.base import Command, Limits, Source
from exporter.sources.info.source import SHOW_INFO
from exporter.sources.proc.model import roles
from exporter.sources.proc.parse import Proc, ProcList
from exporter.sources.proc.source import SHOW_PROC, ProcSource
from exporter.sources.registry import WORKER_SOURCES, allowlist
from exporter.sources.stat.source import SHOW_STAT
from exporter.sources.values import ModelStats

log = logging.getLogger("exporter.poll")

Fetch = Callable[[str], str]
# Reasons that mean the socket cannot be reached at all: the rest of the cycle is not attempted,
# so a dead HAProxy costs one connect timeout per cycle, not one per command.
UNREACHABLE = frozenset({"timeout", "connect_timeout", "no_socket", "refused", "permission", "connect"})
# A master CLI's passing failures while it re-executes itself on a reload: tried again shortly.
TRANSIENT = frozenset({"io", "refused", "no_socket", "truncated", "empty"})
MASTER_RETRIES = (0.1, 0.3, 0.9)
SHOW_CLI_LEVEL = "show cli level"
LEVELS = {"user": 0, "operator": 1, "admin": 2}


def make_client(target: TargetConfig) -> RuntimeClient:
    limits = TransportLimits(target.connect_timeout, target.timeout, target.max_response_bytes)
    return RuntimeClient(parse_address(target.address), allowlist(), limits)


class Runner:
    """Sends one target's commands, recording each: duration, success, errors by reason, one log
    line per change of reason.

    ``retries`` are the pauses before trying a command again after a transient failure: a master
    CLI re-executes itself on every reload and refuses or resets connections for a moment (10 to
    40 ms seen with a small config), which must not read as HAProxy being down.
    """

    def __init__(self, fetch: Fetch, state: PollState, name: str, retries: tuple[float, ...] = (),
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.fetch = fetch
        self.state = state
        self.where = _where(name)
        self.sent = 0
        self.retries = retries
        self.sleep = sleep

    def run(self, command: Command, stats: CommandStats, route: str = "", quiet: bool = False) -> Any | None:
        """Fetch and parse one command; None on failure (recorded in ``stats``).

        ``quiet`` (old workers): durations add up and success needs every run of the cycle to
        succeed, as ``stats`` sums over several processes; failures are logged at debug level only.
        """
        label = command.name
        started = time.perf_counter()
        result, reason, message = self._attempt(command, route)
        for pause in self.retries if not quiet else ():  # an old worker may just have left: no retry
            if reason not in TRANSIENT:
                break
            log.debug("%s%s failed (%s), trying again in %gs: %s", self.where, label, reason, pause, message)
            self.sleep(pause)
            result, reason, message = self._attempt(command, route)
        took = time.perf_counter() - started
        stats.seconds[label] = stats.seconds.get(label, 0.0) + took if quiet else took
        stats.ok[label] = (reason is None and stats.ok.get(label, True)) if quiet else reason is None
        self._note(label, reason, message, stats, quiet)
        return result

    def _attempt(self, command: Command, route: str) -> tuple[Any, str | None, str]:
        """One fetch and parse: (result, None, "") or (None, reason, message)."""
        self.sent += 1
        started = time.perf_counter()
        try:
            text = self.fetch(route + command.text)
            fetched = time.perf_counter()
            self.state.add_phase("fetch", fetched - started)
            result = command.parse(text)
            self.state.add_phase("parse", time.perf_counter() - fetched)
            return result, None, ""
        except (TransportError, ParseError) as exc:
            return None, exc.reason, str(exc)
        except Exception as exc:  # a bug must not kill the loop; count it and say so
            log.exception("%sunexpected error while running %r", self.where, route + command.text)
            return None, "internal_error", f"{type(exc).__name__}: {exc}"

    def probe(self, command: Command) -> Any:
        """Ask the socket something about itself: the parsed answer, or the error; nothing recorded."""
        self.sent += 1
        try:
            return command.parse(self.fetch(command.text))
        except (TransportError, ParseError) as exc:
            log.debug("%sprobe %r: %s", self.where, command.text, exc)
            return exc
        except Exception as exc:  # a probe must never break the cycle
            log.exception("%sunexpected error while probing %r", self.where, command.text)
            return exc

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
        limits = Limits(config.max_series)
        self.sources: list[Source] = [
            cls(config.section(cls.config_key) if cls.config_key else None, extra=extra, old=old, limits=limits)
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
    """Polls one target and publishes its snapshot in the store under the target's name.

    A target is a worker's stats socket or a master CLI.  Through a master, every worker is read
    with ``@!<pid>`` routing: the current worker under exactly the names and labels a worker
    socket gives, old workers still draining after a reload under the same names with a
    ``worker="<pid>"`` label and only what adds up across processes (docs/master-worker.md).
    """

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
        self.sleep: Callable[[float], None] = time.sleep  # the pause between retries; tests replace it
        self._fixed_fetch = fetch  # tests inject one fake for every command
        self._fetch = fetch or make_client(target).run
        self._pending: tuple[TargetConfig, Config] | None = None
        self._data: DataPart | None = None
        self._process = Process(config)  # the worker behind a worker socket
        self._workers: dict[tuple[int, bool], Process] = {}  # through a master: by (pid, old)
        self._master = ProcSource()
        self.kind: str | None = None if target.mode == "auto" else target.mode
        self._level_checked = False
        self._said_ignored: set[tuple[str, str]] = set()

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
        if target != self.target:
            if self._fixed_fetch is None:
                self._fetch = make_client(target).run
            self.kind = None if target.mode == "auto" else target.mode
            self._level_checked = False
        if (config.sections, config.max_series) != (self.config.sections, self.config.max_series):
            self._process = Process(config)
            self._workers = {}
            self.state.commands.keep_only(self._process.command_names() | {SHOW_PROC.name})
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
        runner = Runner(self._fetch, st, self.name, sleep=self.sleep)
        kind = self._detect(runner)
        runner.retries = MASTER_RETRIES if kind == "master" else ()
        ok = self._master_cycle(runner) if kind == "master" else self._worker_cycle(runner)
        st.up = ok
        st.polls["success" if ok else "failure"] += 1
        st.poll_seconds = time.perf_counter() - started
        st.commands_per_cycle = runner.sent
        st.last_cycle_mono = self.monotonic()
        self.publish()
        return ok

    def _detect(self, runner: Runner) -> str | None:
        """What the socket is: a master CLI answers ``show proc``, a worker says it does not know it.

        Asked once (and again after the socket changed its answer), quietly: the question is
        not one of the target's commands.  Until it is known, the target is read as a worker.
        """
        if self.kind is None:
            answer = runner.probe(SHOW_PROC)
            if isinstance(answer, ProcList):
                self.kind = "master"
                log.info("%s%s is a master CLI: reading every worker through it", _where(self.name),
                         self.target.address)
            elif isinstance(answer, ParseError) and answer.reason == "unknown_command":
                self.kind = "worker"
        if self.kind is not None and not self._level_checked:
            self._check_level(runner)
        return self.kind

    def _check_level(self, runner: Runner) -> None:
        """Say once when the socket's level is below what a configured source needs."""
        answer = runner.probe(Command(SHOW_CLI_LEVEL, str.strip))
        if not isinstance(answer, str):
            return  # old HAProxy, or not reachable now: nothing to say
        self._level_checked = True
        level = answer if answer in LEVELS else "admin"
        for source in self._process.sources:
            if LEVELS[level] < LEVELS[source.needed_level()]:
                via = " (a master CLI passes its level on to the workers)" if self.kind == "master" else ""
                log.warning("%sthe socket is at level %s%s: the %s source needs %s, so part of it is refused "
                            "(counted as permission_denied)", _where(self.name), level, via, source.name,
                            source.needed_level())

    def _worker_cycle(self, runner: Runner) -> bool:
        st = self.state
        answers, ok = self._process.read(runner, st.commands, st.source_seconds, st.source_ok)
        if not ok:
            if self.kind == "worker" and st.commands.last_reason.get(SHOW_INFO) == "unknown_command":
                self.kind = None  # the socket no longer knows show info: look again next cycle
            return False
        return self._publish_data(lambda stats: self._process.build(answers, stats, st.source_seconds, st.source_ok))

    def _master_cycle(self, runner: Runner) -> bool:
        st = self.state
        started = time.perf_counter()
        listing = runner.run(SHOW_PROC, st.commands)
        st.source_seconds[ProcSource.name] = time.perf_counter() - started
        st.source_ok[ProcSource.name] = listing is not None
        if listing is None:
            if st.commands.last_reason.get(SHOW_PROC.name) == "unknown_command":
                self.kind = None
            return False
        current, old = roles(listing)
        processes = self._worker_processes(current, old)
        ok = bool(current)
        if not current:
            log.warning("%sthe master lists no worker: nothing to read", _where(self.name))
        reads: list[tuple[Process, Mapping[str, Mapping[str, Any]]]] = []
        for process in processes[: len(current)]:
            answers, read_ok = process.read(runner, st.commands, st.source_seconds, st.source_ok)
            ok = ok and read_ok
            reads.append((process, answers))
        if not ok:
            return False
        old_stats = CommandStats(last_reason=st.old_commands.last_reason)
        for process in processes[len(current):]:
            answers, read_ok = process.read(runner, old_stats, None, None)
            if read_ok:  # an old worker that left meanwhile simply has no series this time
                reads.append((process, answers))
        _merge_old(st.old_commands, old_stats)

        def build(stats: ModelStats) -> list[Family]:
            families: list[Family] = []
            for process, answers in reads:
                timings = st.source_seconds if not process.old else None
                okays = st.source_ok if not process.old else None
                families = merge_families(families, process.build(answers, stats, timings, okays))
            return families + self._master.build({SHOW_PROC.name: listing}, stats)

        return self._publish_data(build)

    def _worker_processes(self, current: list[Proc], old: list[Proc]) -> list[Process]:
        """A reader per worker, current ones first, kept from poll to poll (label caches)."""
        several = len(current) > 1  # before 2.5 (nbproc): tell the current processes apart
        wanted: list[tuple[tuple[int, bool], LabelSuffix]] = [
            ((p.pid, False), label_suffix(("process", str(p.relative or n + 1))) if several else NO_SUFFIX)
            for n, p in enumerate(current)
        ] + [((p.pid, True), label_suffix(("worker", str(p.pid)))) for p in old]
        kept = {key: self._workers.get(key) or Process(self.config, f"@!{key[0]} ", extra, old=key[1])
                for key, extra in wanted}
        self._workers = kept
        return list(kept.values())

    def _publish_data(self, build: Callable[[ModelStats], list[Family]]) -> bool:
        st = self.state
        build_started = time.perf_counter()
        stats = ModelStats()
        try:
            families = build(stats)
        except Exception:
            log.exception("%sbuilding the series failed; keeping the last snapshot", _where(self.name))
            return False
        # At scale the rows, the families and the text each take hundreds of MB: each is dropped
        # as soon as the next step has what it needs.
        st.invalid_values += stats.invalid_values
        self._note_ignored(stats)
        samples = sum(len(f.values) for f in families)
        if samples > self.config.max_series:
            self._refuse(SHOW_STAT, "too_many_series",
                         f"the poll built {samples} series, more than poll.max_series ({self.config.max_series})")
            return False
        built = time.perf_counter()
        dropped = Dropped()
        raw = render_bytes(families, dropped)
        del families
        if dropped.families or dropped.series:  # the guard caught what must never reach the page
            for what, count in (("family", dropped.families), ("series", dropped.series)):
                if count:
                    stats.ignore(what, "duplicate", ", ".join(dropped.examples), count)
            self._note_ignored(stats)
            samples -= dropped.samples
        rendered = time.perf_counter()
        part = Part.of(raw)
        done = time.perf_counter()
        st.phase_seconds.update(build=built - build_started, render=rendered - built, compress=done - rendered)
        self._data = DataPart(part, self.wall(), samples, self.monotonic())
        st.last_success = self._data.taken_at
        st.samples = samples
        return True

    def _refuse(self, label: str, reason: str, message: str) -> None:
        """Count a poll refused after its commands succeeded, as a failure of the command behind it."""
        commands = self.state.commands
        commands.errors[(label, reason)] = commands.errors.get((label, reason), 0) + 1
        commands.ok[label] = False
        if commands.last_reason.get(label) != reason:
            log.warning("%s%s refused (%s): %s; to fix: %s", _where(self.name), label, reason, message, advice(reason))
        commands.last_reason[label] = reason

    def _note_ignored(self, stats: ModelStats) -> None:
        """What could not become series (repeated columns, unknown row types): a gauge per poll, a
        log line the first time each kind is seen."""
        self.state.ignored = dict(stats.ignored)
        for key, example in stats.examples.items():
            if key not in self._said_ignored:
                self._said_ignored.add(key)
                what, reason = key
                log.warning("%sskipping a %s of HAProxy's answer (%s): %s; the rest is exported",
                            _where(self.name), what, reason, example)

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
        return per_command * max(1, self.state.commands_per_cycle, len(self._process.command_names()) + 2)


def merge_families(first: list[Family], more: list[Family]) -> list[Family]:
    """``first`` with ``more`` added: samples of a family already there join it (one HELP/TYPE
    per name), new families follow in their order."""
    if not first:
        return more
    position = {f.name: i for i, f in enumerate(first)}
    merged = list(first)
    for family in more:
        at = position.get(family.name)
        if at is None:
            position[family.name] = len(merged)
            merged.append(family)
        else:
            base = merged[at]
            merged[at] = Family.of_columns(base.name, base.kind, base.help, [*base.labels, *family.labels],
                                           [*base.values, *family.values])
    return merged


def _merge_old(total: CommandStats, cycle: CommandStats) -> None:
    """The old workers' figures of one cycle, summed over them: durations added, success only
    if all succeeded; counters accumulate."""
    for key, count in cycle.errors.items():
        total.errors[key] = total.errors.get(key, 0) + count
    total.seconds = dict(cycle.seconds)
    total.ok = dict(cycle.ok)


def _where(name: str) -> str:
    """The log prefix that names the target when there are several."""
    return f"target {name}: " if name else ""
