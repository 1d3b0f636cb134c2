"""Reading one HAProxy process: the runner that sends and records commands, and a process's sources.

A worker's own stats socket is one process; through a master CLI each worker is one, reached with
its ``@!<pid>`` routing prefix.  The :class:`Runner` records every command the same way whatever
the source (duration, success, errors by reason, one log line per change of reason); a
:class:`Process` holds the sources of one process with their caches and runs them in order.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Mapping, Sequence

from exporter.clock import Clock
from exporter.config import Config, TargetConfig
from exporter.exposition.families import NO_SUFFIX, Family, LabelSuffix
from exporter.poll.record import Failure, Recorder
from exporter.poll.state import CommandStats, PollState
from exporter.runtime.advice import advice
from exporter.runtime.answer import Text
from exporter.runtime.client import Budget, Client, RuntimeClient, TransportError
from exporter.runtime.errors import ParseError
from exporter.sources import registry
from exporter.sources.base import Command, Link, ModelStats, Source

log = logging.getLogger("exporter.poll")

Read = Callable[[str, Budget], Text]  # what the runner calls (a client's run): a command, the poll's budget
Connect = Callable[[TargetConfig], Client]  # a target's client, made again when its address changes
# Reasons that mean the socket cannot be reached at all: the rest of the cycle is not attempted,
# so a dead HAProxy costs one connect timeout per cycle, not one per command.
UNREACHABLE = frozenset({"timeout", "connect_timeout", "no_socket", "refused", "permission", "connect"})
# A master CLI's passing failures while it re-executes itself on a reload: tried again shortly.
TRANSIENT = frozenset({"io", "refused", "no_socket", "truncated", "empty"})
# What Runner.run returns when an optional source's command is one this HAProxy does not know.
ABSENT = object()


def make_client(target: TargetConfig) -> RuntimeClient:
    """The poll's :data:`Connect`: the target's address, its limits, every command the registry allows."""
    return RuntimeClient(target.address, registry.allowlist(), target)


class Runner:
    """Sends one target's commands, recording each: duration, success, errors by reason, one log
    line per change of reason.

    ``retries`` are the pauses before trying a command again after a transient failure: a master
    CLI re-executes itself on every reload and refuses or resets connections for a moment
    (BENCHMARKS.md), which must not read as HAProxy being down.  A route (one
    worker behind the master, or the socket itself) still failing after all of them is taken as
    gone for the rest of the cycle: its later commands are tried once each, not retried, so a
    worker that left costs the pauses once per cycle, not once per command.

    ``record`` (exporter/poll/record.py) is told every command as it went (text, bytes, time,
    outcome) and every final failure, for the operator's view of the last poll.
    """

    def __init__(self, fetch: Read, state: PollState, name: str, budget: Budget, sleep: Callable[[float], None],
                 retries: tuple[float, ...] = (), record: Recorder | None = None) -> None:
        self.fetch = fetch
        self.budget = budget  # the bytes this poll may still read
        self.state = state
        self.where = where(name)
        self.sent = 0
        self.retries = retries
        self.sleep = sleep
        self.gone: set[str] = set()  # routes that failed through every retry in this cycle
        self.record = record if record is not None else Recorder(0.0)

    def run(self, command: Command, stats: CommandStats, route: str = "", quiet: bool = False,
            add: bool = False, optional: bool = False) -> Any | None:
        """Fetch and parse one command; None on failure (recorded in ``stats``).

        ``quiet`` (old workers): durations add up and success needs every run of the cycle to
        succeed, as ``stats`` sums over several processes; failures are logged at debug level only.
        ``add``: not the first command of this label in the cycle (one per certificate): its
        duration and success join the label's, and a failure is logged when its reason is new.
        ``optional`` (``Source.optional``): an ``Unknown command`` answer is no failure: it returns
        :data:`ABSENT`, counted and logged as nothing but a success.
        """
        label = command.name
        started = time.perf_counter()
        result, reason, message = self._attempt(command, route)
        retries = self.retries if not quiet and route not in self.gone else ()  # an old worker may just have left
        for pause in retries:
            if reason not in TRANSIENT:
                break
            log.debug("%s%s failed (%s), trying again in %gs: %s", self.where, label, reason, pause, message)
            self.sleep(pause)
            result, reason, message = self._attempt(command, route)
        else:
            if retries and reason in TRANSIENT:
                self.gone.add(route)
                log.debug("%s%s%s still fails after %d tries: not retried again this cycle", self.where,
                          route, label, len(retries) + 1)
        took = time.perf_counter() - started
        if optional and reason == "unknown_command":
            result, reason = ABSENT, None
        joined = quiet or add
        stats.seconds[label] = stats.seconds.get(label, 0.0) + took if joined else took
        stats.ok[label] = (reason is None and stats.ok.get(label, True)) if joined else reason is None
        if not (add and reason is None):  # a later success of the label must not read as "works again"
            self._note(label, reason, message, stats, quiet)
        if reason is not None and not quiet:  # an old worker's are expected: it may just have left
            self.record.failed(route + command.text, reason, message)
        return result

    def _attempt(self, command: Command, route: str) -> tuple[Any, str | None, str]:
        """One fetch and parse: (result, None, "") or (None, reason, message)."""
        self.sent += 1
        sent = route + command.text
        started = time.perf_counter()
        used = self.budget.used
        outcome: tuple[Any, str | None, str]
        try:
            text = self.fetch(sent, self.budget)
            fetched = time.perf_counter()
            self.state.add_phase("fetch", fetched - started)
            outcome = command.parse(text), None, ""
            self.state.add_phase("parse", time.perf_counter() - fetched)
        except (TransportError, ParseError) as exc:
            outcome = None, exc.reason, str(exc)
        except Exception as exc:  # a bug must not kill the loop; count it and say so
            log.exception("%sunexpected error while running %r", self.where, sent)
            outcome = None, "internal_error", f"{type(exc).__name__}: {exc}"
        self.record.exchange(sent, self.budget.used - used, time.perf_counter() - started, outcome[1], outcome[2])
        return outcome

    def probe(self, command: Command) -> Any:
        """Ask the socket something about itself: the parsed answer, or the error; nothing recorded."""
        self.sent += 1
        started = time.perf_counter()
        used = self.budget.used
        answer: Any
        try:
            answer = command.parse(self.fetch(command.text, self.budget))
        except (TransportError, ParseError) as exc:
            log.debug("%sprobe %r: %s", self.where, command.text, exc)
            answer = exc
        except Exception as exc:  # a probe must never break the cycle
            log.exception("%sunexpected error while probing %r", self.where, command.text)
            answer = exc
        reason = None
        if isinstance(answer, Exception):
            reason = answer.reason if isinstance(answer, (TransportError, ParseError)) else "internal_error"
        self.record.exchange(command.text, self.budget.used - used, time.perf_counter() - started, reason,
                             str(answer) if reason else "", probe=True)
        return answer

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
    labels every series it produces (an old worker's ``worker`` label).  Its sources are the
    registry's worker sources, or ``sources`` (a master CLI's own, exporter/poll/master.py).
    """

    def __init__(self, config: Config, clock: Clock, route: str = "", extra: LabelSuffix = NO_SUFFIX,
                 old: bool = False, sources: Sequence[type[Source]] | None = None) -> None:
        self.route = route
        self.old = old
        self.config = config
        self.sources: list[Source] = [
            cls(config.section(cls.config_key) if cls.config_key else None, extra=extra, old=old, limits=config.poll,
                clock=clock)
            for cls in sorted(registry.WORKER_SOURCES if sources is None else sources, key=lambda s: not s.required)
            if cls.old_workers or not old
        ]
        self.clock = clock
        # optional sources this HAProxy does not have (Source.optional): when to ask again
        self._absent_until: dict[str, float] = {}

    def read(self, runner: Runner, stats: CommandStats, timings: dict[str, float] | None,
             okays: dict[str, bool] | None) -> tuple[dict[str, dict[str, Any]], bool]:
        """Every source's answers by command name, and whether every required source was answered.

        Required sources run first.  Once one fails, the others are not run (nothing would be
        published); once the socket is unreachable, nothing more is sent this cycle.  An optional
        source this HAProxy does not have is a success without answers, not asked again before
        :attr:`RECHECK_SECONDS`.
        """
        answers: dict[str, dict[str, Any]] = {}
        required_ok = True
        unreachable = False
        record = runner.record
        for source in self.sources:
            if not source.required and not required_ok:
                if okays is not None:
                    okays[source.name] = False
                record.decide(source.name, "skipped", "a required source failed: this poll publishes nothing",
                              self.who)
                continue
            started = time.perf_counter()
            got: dict[str, Any]
            if self.clock.monotonic() < self._absent_until.get(source.name, float("-inf")):
                got, complete = {}, True  # not in this HAProxy: nothing sent until the recheck
                record.decide(source.name, "absent", "this HAProxy does not know its commands: not sent, asked "
                              f"again every {self.RECHECK_SECONDS:g}s", self.who)
            else:
                asker = _Asker(runner, stats, self.route, self.old, unreachable, source.optional)
                sent, failed = runner.sent, len(record.failures)
                got, complete = source.read(asker.ask)
                if asker.absent:
                    got, complete = {}, True
                    self._note_absent(runner, source, True)
                    record.decide(source.name, "absent", "this HAProxy answered Unknown command: no series, no "
                                  "error counted", self.who)
                else:
                    if complete and source.name in self._absent_until:
                        self._note_absent(runner, source, False)
                    record.decide(source.name, *_verdict(complete, unreachable, runner.sent - sent,
                                                         record.failures[failed:]), self.who)
                unreachable = asker.unreachable
            if source.required and not complete:
                required_ok = False
            if timings is not None and okays is not None:
                timings[source.name] = time.perf_counter() - started
                okays[source.name] = complete
            answers[source.name] = got
        return answers, required_ok

    def build(self, answers: Mapping[str, Mapping[str, Any]], stats: ModelStats,
              timings: dict[str, float] | None, okays: dict[str, bool] | None,
              record: Recorder | None = None) -> list[Family]:
        """The families of every source that was read, in the registry's order.

        A required source that fails to build fails the cycle (raises); any other loses only its
        own series, logged with the traceback, and its success gauge says so.
        """
        families: list[Family] = []
        for source in self.sources:
            got = answers.get(source.name)
            if got is None or (source.required and len(got) != len(source.commands())):
                continue
            if source.reads:
                got = {**_answered(answers, source.reads), **got}
            started = time.perf_counter()
            try:
                built = source.build(got, stats)
            except Exception as exc:
                if okays is not None:
                    okays[source.name] = False
                if record is not None:
                    record.decide(source.name, "build failed", f"{type(exc).__name__}: {exc} (traceback in the log)",
                                  self.who)
                if source.required:
                    raise
                log.exception("building the %s series failed", source.name)
                continue
            finally:
                if timings is not None:
                    timings[source.name] = timings.get(source.name, 0.0) + time.perf_counter() - started
            families.extend(built)
        return families

    RECHECK_SECONDS = 3600.0  # an HAProxy upgraded behind the same socket is seen within the hour

    @property
    def who(self) -> str:
        """The process in the operator's view: "" for the socket's own, ``@!<pid>`` behind a master CLI."""
        return self.route.strip() + (" (old)" if self.old else "")

    def _note_absent(self, runner: Runner, source: Source, absent: bool) -> None:
        """Remember (and say once, at info level) that this HAProxy has no such command, or has it now."""
        was = source.name in self._absent_until
        if absent:
            self._absent_until[source.name] = self.clock.monotonic() + self.RECHECK_SECONDS
        else:
            del self._absent_until[source.name]
        if absent != was:
            who = f"worker {self.route.strip()}: " if self.route else ""
            commands = ", ".join(repr(c.text) for c in source.commands())
            if absent:
                log.info("%s%sthis HAProxy does not know %s (a later version's): no %s series, no error counted;"
                         " asked again every %gs", runner.where, who, commands, source.name, self.RECHECK_SECONDS)
            else:
                log.info("%s%sthis HAProxy now answers %s: %s series again", runner.where, who, commands,
                         source.name)

    def command_names(self) -> set[str]:
        return {command.name for source in self.sources for command in source.commands()}

    def start(self, link: Link) -> None:
        """Start what the sources run between polls (exporter/poll/lifetime.py decides when).  One
        that fails to start loses only what it would have read, as a build that fails does."""
        for source in self.sources:
            try:
                source.start(link)
            except Exception:
                log.exception("%sstarting the %s source failed", link.where, source.name)

    def stop(self) -> None:
        for source in self.sources:
            try:
                source.stop()
            except Exception:
                log.exception("stopping the %s source failed", source.name)

    def forgot(self, stats: CommandStats) -> bool:
        """Whether the socket said it does not know a required command: it is no longer what it
        was taken for (a worker's socket now a master CLI's, or the reverse)."""
        return any(stats.last_reason.get(command.name) == "unknown_command"
                   for source in self.sources if source.required for command in source.commands())


def _verdict(complete: bool, unreachable: bool, sent: int, failures: Sequence[Failure]) -> tuple[str, str]:
    """What became of a source that was asked, in a word and a why (the operator's view)."""
    if complete:
        return "read", f"{sent} command{'s' if sent != 1 else ''} answered" if sent else \
            "nothing to send this poll (off, streamed between polls, or not due)"
    if unreachable and not sent:
        return "not sent", "the socket was unreachable: nothing more was sent this poll"
    why = "; ".join(f"{f.command}: {f.reason}" for f in failures[:3])
    return "failed", why or "a command failed (an old worker's: only logged at debug level)"


def _answered(answers: Mapping[str, Mapping[str, Any]], commands: tuple[str, ...]) -> dict[str, Any]:
    """The parsed answers to ``commands``, whichever source asked them this cycle."""
    return {name: got[name] for got in answers.values() for name in commands if name in got}


class _Asker:
    """One source's way to the socket in a cycle: each command through the runner, none once the
    socket is unreachable, and repeated labels joined (``Runner.run(add=True)``)."""

    def __init__(self, runner: Runner, stats: CommandStats, route: str, quiet: bool, unreachable: bool,
                 optional: bool = False) -> None:
        self.runner, self.stats, self.route, self.quiet = runner, stats, route, quiet
        self.unreachable = unreachable
        self.optional = optional
        self.absent = False  # an optional source's command was unknown to this HAProxy
        self._asked: set[str] = set()

    def ask(self, command: Command) -> Any | None:
        if self.unreachable:
            self.stats.ok[command.name] = False
            return None
        result = self.runner.run(command, self.stats, self.route, quiet=self.quiet, add=command.name in self._asked,
                                 optional=self.optional)
        self._asked.add(command.name)
        if result is ABSENT:
            self.absent = True
            return None
        if result is None and self.stats.last_reason.get(command.name) in UNREACHABLE:
            self.unreachable = True
        return result


def merge_families(first: list[Family], more: list[Family]) -> list[Family]:
    """``first`` with ``more`` added: samples of a family already there join it (one HELP/TYPE
    per name), new families follow in their order.  A family of a name already there with another
    type is not joined (a gauge's samples in a histogram would be written as its lines): it
    follows as a family of its own, which the renderer leaves out as a repeated name and notes."""
    if not first:
        return more
    position = {f.name: i for i, f in enumerate(first)}
    merged = list(first)
    for family in more:
        at = position.get(family.name)
        if at is None:
            position[family.name] = len(merged)
            merged.append(family)
        elif merged[at].kind != family.kind:
            merged.append(family)
        else:
            merged[at] = _joined(merged[at], family)
    return merged


def _joined(base: Family, more: Family) -> Family:
    """One family with the samples of both, those of servers in maintenance still last."""
    cut_base = len(base.values) if base.maint_from is None else base.maint_from
    cut_more = len(more.values) if more.maint_from is None else more.maint_from
    suffixes = None
    if base.suffixes is not None or more.suffixes is not None:
        ours, theirs = _suffixes(base), _suffixes(more)
        suffixes = [*ours[:cut_base], *theirs[:cut_more], *ours[cut_base:], *theirs[cut_more:]]
    joined = base.with_columns(
        [*base.labels[:cut_base], *more.labels[:cut_more], *base.labels[cut_base:], *more.labels[cut_more:]],
        [*base.values[:cut_base], *more.values[:cut_more], *base.values[cut_base:], *more.values[cut_more:]],
        suffixes)
    if base.maint_from is not None or more.maint_from is not None:
        joined.maint_from = cut_base + cut_more
    return joined


def _suffixes(family: Family) -> Sequence[str]:
    """The family's samples' name suffixes, empty ones for a family without."""
    return family.suffixes if family.suffixes is not None else ("",) * len(family.values)


def where(name: str) -> str:
    """The log prefix that names the target when there are several."""
    return f"target {name}: " if name else ""
