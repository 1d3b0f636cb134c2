"""One target's poll cycle: read every source of one HAProxy, build, render, compress, swap.

A cycle either produces a whole new HAProxy part or none: if a required source (``show info``,
``show stat``) fails, the previous part stays in place (served until ``poll.max_age``) and
``haproxy_up`` becomes 0.  Every failure is counted by command and reason and logged once per
change of reason, not once per poll, so a long outage does not flood the log.

A cycle uses one config and one client from start to end: a reload (SIGHUP) hands over a new
pair that the poll thread picks up at the start of its next cycle, and the bookkeeping of what
the new config no longer polls happens there too, never under a running cycle.  The hand-over is
one reference the reload writes and the poll thread only reads, so a reload arriving while the
poll thread takes the previous one is never lost.  A cycle publishes through the target's lease
(exporter/poll/snapshot.py): once the target has left the config, a cycle still running cannot
bring it back.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

from exporter.clock import Clock
from exporter.config import Config, TargetConfig
from exporter.exposition.families import Family
from exporter.exposition.page import Blocks, FormKeep, Page, Part
from exporter.exposition.render import Dropped, Rendered, render, render_pieces
from exporter.poll.gcpause import gc_paused
from exporter.poll.lifetime import Lifetime
from exporter.poll.master import MASTER_RETRIES, MasterCli
from exporter.poll.process import Connect, Process, Read, Runner, where
from exporter.poll.record import History, PollRecord, Recorder
from exporter.poll.snapshot import Lease, Snapshot, Store
from exporter.poll.state import PollState
from exporter.poll.status import target_families
from exporter.reuse import PollMemo
from exporter.runtime.advice import advice
from exporter.runtime.client import Budget
from exporter.sources import registry
from exporter.sources.base import ModelStats, below

log = logging.getLogger("exporter.poll")


class TargetPoller:
    """Polls one target and publishes its snapshot in the store under the target's name.

    A target is a worker's stats socket or a master CLI (exporter/poll/master.py: every worker
    read through it).
    """

    def __init__(self, target: TargetConfig, config: Config, store: Store, connect: Connect,
                 clock: Clock, reload_ok: Callable[[], bool] = lambda: True) -> None:
        self.target = target
        self.config = config
        self.store = store
        self.state = PollState()
        self.clock = clock
        self.created_mono = clock.monotonic()  # /healthz counts a target that never completed a cycle from here
        self.completed = False  # a cycle has ended and its result is published (/-/ready)
        self.reload_ok = reload_ok
        self._connect = connect
        client = connect(target)
        self._fetch: Read = client.run
        self._life = Lifetime(where(target.name), client)  # when the sources run between polls
        self._lease: Lease = store.lease(target.name)
        # The reload hand-off: the main thread only writes _wanted, the poll thread only writes
        # _applied; neither reads and writes the same slot, so no reload can be lost between them.
        self._wanted = self._applied = (target, config)
        self._page: Page | None = None
        self._process = Process(config, clock)  # the worker behind a worker socket
        self._master = MasterCli(config, clock, self._life)  # or the master CLI and the workers behind it
        self.kind: str | None = None if target.mode == "auto" else target.mode
        self._level_checked = False
        self._said_ignored: set[tuple[str, str]] = set()
        # What the last poll rendered and compressed, reused for what did not change (issue: the
        # poll's CPU in proportion to what changed, not to the size of the configuration).
        self._rendered: PollMemo[Rendered] = PollMemo()
        self._blocks: PollMemo[Blocks] = PollMemo()
        # The OpenMetrics form's changed pieces' blocks, and whether a scrape asked for it yet
        # (Page.openmetrics): the poll converts its page only from then on.
        self._om = FormKeep()
        # The same for the protobuf form (Page.protobuf): encoded by the poll once a scrape asked.
        self._pb = FormKeep()
        # The operator's view (exporter/poll/record.py): the last poll as it went, published with
        # the snapshot, and the recent failed polls (bounded), written by the poll thread only.
        self.history = History()
        self.record: PollRecord | None = None

    @property
    def name(self) -> str:
        return self.target.name

    def reconfigure(self, target: TargetConfig, config: Config) -> None:
        """Hand over a reloaded config; the poll thread applies it at the start of its next cycle."""
        self._wanted = (target, config)

    def _apply_pending(self) -> None:
        """Take the config the last reload handed over, if it is not the one in use (poll thread only)."""
        wanted = self._wanted
        if wanted is self._applied:
            return
        self._applied = wanted
        target, config = wanted
        if target != self.target:
            self._life.stop_all()  # another socket: what streams starts again on it
            self._life.client = self._connect(target)
            self._fetch = self._life.client.run
            self.kind = None if target.mode == "auto" else target.mode
            self._level_checked = False
        if (config.sections, config.poll.max_series) != (self.config.sections, self.config.poll.max_series):
            self._life.stop_all()
            self._process = Process(config, self.clock)
            self._master = MasterCli(config, self.clock, self._life)
            self.state.commands.keep_only(self._process.command_names() | self._master.command_names())
        self.target, self.config = target, config

    # ------------------------------------------------------------------ one cycle

    def end(self) -> None:
        """The target has left the config, or the exporter stops: what its sources run between
        polls stops, and a cycle still running starts nothing again."""
        self._life.end()

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
        # One budget for every answer of the cycle (every worker's, through a master CLI).
        runner = Runner(self._fetch, st, self.name, Budget(self.target.max_response_bytes), self.clock.sleep,
                        record=Recorder(self.clock.wall()))
        kind = self._detect(runner)
        runner.retries = MASTER_RETRIES if kind == "master" else ()
        ok = self._master_cycle(runner) if kind == "master" else self._worker_cycle(runner)
        st.up = ok
        st.polls["success" if ok else "failure"] += 1
        st.poll_seconds = time.perf_counter() - started
        st.commands_per_cycle = runner.sent
        st.last_cycle_mono = self.clock.monotonic()
        self.record = runner.record.finish(ok, kind, st.poll_seconds, self.history, st.source_seconds)
        self.publish()
        self.completed = True
        return ok

    def _detect(self, runner: Runner) -> str | None:
        """What the socket is: a master CLI, or a worker's own socket (MasterCli.probe).

        Asked once (and again after the socket changed its answer).  Until it is known, the
        target is read as a worker.
        """
        if self.kind is None:
            master = self._master.probe(runner)
            if master:
                self.kind = "master"
                log.info("%s%s is a master CLI: reading every worker through it", where(self.name),
                         self.target.address.text)
            elif master is not None:
                self.kind = "worker"
            if self.kind is not None:
                self._life.stop_all()  # what started while the socket was read as a worker's, unknown
        if self.kind is not None and not self._level_checked:
            self._check_level(runner)
        return self.kind

    def _check_level(self, runner: Runner) -> None:
        """Say once when the socket's level is below what a configured source needs."""
        level = runner.probe(registry.LEVEL_PROBE)
        if not isinstance(level, str):
            return  # not reachable now: nothing to say
        self._level_checked = True
        short = [f"{s.name} needs {s.needed_level()}" for s in self._process.sources
                 if below(level, s.needed_level())]
        if short:  # one line for all of them
            via = " (a master CLI passes its level on to the workers)" if self.kind == "master" else ""
            log.warning("%sthe socket is at level %s%s: %s, so part of it is refused (counted as permission_denied)",
                        where(self.name), level, via, ", ".join(short))

    def _worker_cycle(self, runner: Runner) -> bool:
        st = self.state
        self._life.start(self._process)
        answers, ok = self._process.read(runner, st.commands, st.source_seconds, st.source_ok)
        if not ok:
            if self.kind == "worker" and self._process.forgot(st.commands):
                self.kind = None  # the socket no longer knows a worker's commands: look again next cycle
                self._life.stop_all()
            return False
        return self._publish_data(runner, lambda stats: self._process.build(answers, stats, st.source_seconds,
                                                                            st.source_ok, runner.record))

    def _master_cycle(self, runner: Runner) -> bool:
        build = self._master.read(runner, self.state)
        if build is None:
            if self._master.forgot(self.state.commands):
                self.kind = None  # the socket no longer knows show proc: look again next cycle
                self._life.stop_all()
            return False
        return self._publish_data(runner, build)

    def _publish_data(self, runner: Runner, build: Callable[[ModelStats], list[Family]]) -> bool:
        st = self.state
        build_started = time.perf_counter()
        stats = ModelStats()
        try:
            families = build(stats)
        except Exception as exc:
            log.exception("%sbuilding the series failed; keeping the last snapshot", where(self.name))
            runner.record.failed("(building the series)", "internal_error", f"{type(exc).__name__}: {exc}")
            return False
        # At scale the rows, the families and the text each take hundreds of MB: each is dropped
        # as soon as the next step has what it needs.
        st.invalid_values += stats.invalid_values
        self._note_ignored(stats)
        samples = sum(len(f.values) for f in families)
        if samples > self.config.poll.max_series:
            self._refuse(runner, registry.SERIES_CAP_COMMAND, "too_many_series",
                         f"the poll built {samples} series, more than poll.max_series ({self.config.poll.max_series})")
            return False
        built = time.perf_counter()
        dropped = Dropped()
        pieces = render_pieces(families, dropped, self._rendered)
        del families
        if dropped.families or dropped.series:  # the guard caught what must never reach the page
            for what, count in (("family", dropped.families), ("series", dropped.series)):
                if count:
                    stats.ignore(what, "duplicate", ", ".join(dropped.examples), count)
            self._note_ignored(stats)
            samples -= dropped.samples
        rendered = time.perf_counter()
        page = Page.of_pieces(pieces, self._blocks)
        page.om_keep, page.pb_keep = self._om, self._pb
        del pieces
        if self._om.asked:  # someone scrapes OpenMetrics: ready before publishing (counted as compress)
            page.openmetrics()
        if self._pb.asked:  # and protobuf, likewise
            self._protobuf_ready(page)
        done = time.perf_counter()
        st.phase_seconds.update(build=built - build_started, render=rendered - built, compress=done - rendered)
        page.taken_at, page.samples, page.taken_mono = self.clock.wall(), samples, self.clock.monotonic()
        self._page = page
        st.last_success = page.taken_at
        st.samples = samples
        return True

    def _refuse(self, runner: Runner, label: str, reason: str, message: str) -> None:
        """Count a poll refused after its commands succeeded, as a failure of the command behind it."""
        runner.record.failed(label, reason, message)
        commands = self.state.commands
        commands.errors[(label, reason)] = commands.errors.get((label, reason), 0) + 1
        commands.ok[label] = False
        if commands.last_reason.get(label) != reason:
            log.warning("%s%s refused (%s): %s; to fix: %s", where(self.name), label, reason, message, advice(reason))
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
                            where(self.name), what, reason, example)

    def publish(self) -> bool:
        """Publish the last data with the status as it is now; False once the target left the config."""
        status, stale = Part.of(self.status_text(stale=False)), Part.of(self.status_text(stale=True))
        if self._pb.asked:  # someone scrapes protobuf: its few status lines encoded here, not by the scrape
            self._protobuf_ready(status, stale)
        return self._lease.publish(Snapshot(self._page, status, stale, self.record))

    def _protobuf_ready(self, *made: Page | Part) -> None:
        """Make the protobuf form of what the poll publishes; a fault of that form is logged and
        never withholds the text (a protobuf scrape then tries again, at its own cost)."""
        try:
            for thing in made:
                thing.protobuf()
        except Exception:
            log.exception("%sthe protobuf form of the page failed; the text page is published", where(self.name))

    def status_families(self, stale: bool) -> list[Family]:
        return target_families(self.state, stale, self.reload_ok())

    def status_text(self, stale: bool) -> str:
        return render(self.status_families(stale))

    def cycle_bound(self) -> float:
        """How long one cycle may take at most: every command it sends waiting out both timeouts."""
        per_command = self.target.connect_timeout + self.target.timeout
        return per_command * max(1, self.state.commands_per_cycle, len(self._process.command_names()) + 2)

