"""The schedule: every target polled once per interval, concurrently, on a bounded pool.

Each target keeps its own schedule, state, ``haproxy_up`` and staleness, so one target that
hangs until its timeouts costs only its own cycle: the others keep their interval.  A slow cycle
delays the next of the same target and never stacks; missed slots are not made up in a burst.

One scheduler serves every shape of config: it reads the current targets at every turn, so a
reload from one socket to ``targets:`` (or back, or any change of the list) is polled from the
next turn on.  A reload replaces the config and the targets as one pair, under a lock; the
scheduler takes the pair once per turn.  A poll thread that cannot be started (the process is
out of threads) is counted per target and logged once, the target is tried again at its next
slot, and ``/healthz`` fails until one starts again.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from functools import partial
from typing import Callable, Mapping, Protocol

from exporter.clock import SYSTEM_CLOCK, Clock
from exporter.config import Config, TargetConfig
from exporter.exposition.page import Part
from exporter.exposition.render import render
from exporter.poll.heap import heap_trimmer
from exporter.poll.process import Connect, make_client
from exporter.poll.snapshot import Store
from exporter.poll.status import overview_families
from exporter.poll.target import TargetPoller

log = logging.getLogger("exporter.poll")
_RUNNING_CHECK = 0.05  # seconds between looks at running polls while some are in flight
MAX_NAMED = 10  # targets named in /-/ready's reason; the rest are counted


class Running(Protocol):
    """What the scheduler keeps of a started poll (a :class:`threading.Thread` from :func:`start_daemon`)."""

    def is_alive(self) -> bool: ...

    def join(self, timeout: float | None = None) -> None: ...


Starter = Callable[[Callable[[], object], str], Running]


def start_daemon(work: Callable[[], object], name: str) -> Running:
    """A daemon thread, not a ThreadPoolExecutor's: the interpreter joins an executor's threads
    at exit, so a poll hung until its timeouts would hold up SIGTERM; these are abandoned."""
    thread = threading.Thread(target=work, name=name, daemon=True)
    thread.start()
    return thread


@dataclass(frozen=True)
class _Plan:
    """What to poll and how, replaced whole by a reload: never one half of one with the other's."""

    config: Config
    targets: Mapping[str, TargetPoller]


class Poller:
    """Owns the targets and their schedule; ``poll_once`` polls every target once, usable without threads.

    What it needs of the system is handed in: ``connect`` makes a target's client (sockets to its
    address), ``clock`` (exporter/clock.py) is the schedule's and is passed down to every target,
    its sources and its pauses, and ``start`` runs a poll in a thread of its own.
    """

    def __init__(self, config: Config, store: Store, connect: Connect = make_client, clock: Clock = SYSTEM_CLOCK,
                 start: Starter = start_daemon) -> None:
        self.store = store
        self.clock = clock
        self._connect = connect
        self._start = start
        self.config_reload_ok = True  # no reload yet counts as success, as in Prometheus's own metric
        self._reloading = threading.Lock()  # one reload at a time
        self._overview_lock = threading.Lock()  # an overview is made and published in one step
        self._polls_lock = threading.Lock()
        self._polls = 0  # polls running now: the last one to end gives the freed memory back
        self._trim = heap_trimmer()
        self._plan = _Plan(config, {})
        self._failed_starts: frozenset[str] = frozenset()  # targets whose last poll could not start
        self._plan = _Plan(config, self._sync_targets(config))

    @property
    def config(self) -> Config:
        return self._plan.config

    @property
    def targets(self) -> Mapping[str, TargetPoller]:
        return self._plan.targets

    # ------------------------------------------------------------------ targets

    def _new_target(self, target: TargetConfig, config: Config) -> TargetPoller:
        return TargetPoller(target, config, self.store, self._connect, self.clock,
                            reload_ok=lambda: self.config_reload_ok)

    def _sync_targets(self, config: Config) -> dict[str, TargetPoller]:
        """Keep pollers (and their state) of targets still configured, add new ones, drop the rest."""
        current = self.targets
        wanted = {t.name: t for t in config.poll_targets()}
        targets: dict[str, TargetPoller] = {}
        for name, target in wanted.items():
            poller = current.get(name)
            if poller is None:
                poller = self._new_target(target, config)
            else:
                poller.reconfigure(target, config)
            targets[name] = poller
        for name in current.keys() - wanted.keys():
            self.store.forget(name)  # its lease too: a poll of it still running cannot publish it again
            current[name].end()  # and what its sources run between polls stops
        return targets

    def reconfigure(self, config: Config) -> None:
        """Take a reloaded config (SIGHUP).  Targets added are polled from the scheduler's next turn,
        removed ones are gone from every page at once; a kept target applies the new config at the
        start of its next cycle; the new interval applies after the wait already under way."""
        with self._reloading:
            self.store.max_age = config.poll.max_age
            self._plan = _Plan(config, self._sync_targets(config))  # one reference swap
        self._publish_overview()

    def close(self) -> None:
        """Stop what every target's sources run between polls (streams), once the polls are over
        or abandoned: the exporter stops."""
        for target in self.targets.values():
            target.end()

    def note_config_reload(self, ok: bool) -> None:
        """Record whether a SIGHUP reload was accepted (alerts.yml: HAProxyExporterConfigReloadFailed)."""
        self.config_reload_ok = ok

    # ------------------------------------------------------------------ one round

    def poll_once(self) -> bool:
        """Poll every target once (concurrently when there are several).  True if all were read.

        The calling thread polls too, so every target is polled even if no other thread can start.
        """
        targets = list(self.targets.values())
        if len(targets) == 1:
            return self._poll(targets[0])
        results: dict[str, bool] = {}
        queue = list(reversed(targets))
        lock = threading.Lock()

        def work() -> None:
            while True:
                with lock:
                    if not queue:
                        return
                    target = queue.pop()
                results[target.name] = self._poll(target)

        helpers: list[Running] = []
        for n in range(min(self.config.poll.concurrency, len(targets)) - 1):
            try:
                helpers.append(self._start(work, f"poll {n}"))
            except RuntimeError as exc:  # out of threads: this thread does the rest
                log.warning("could not start a poll thread (%s): polling in fewer threads", exc)
                break
        work()
        for helper in helpers:
            helper.join()
        return all(results.get(t.name, False) for t in targets)

    def _poll(self, target: TargetPoller) -> bool:
        with self._polls_lock:
            self._polls += 1
        try:
            ok = target.poll_once()
        except Exception:  # the loop must outlive any bug
            log.exception("poll cycle of %s failed unexpectedly", target.name or "HAProxy")
            ok = False
        finally:
            with self._polls_lock:
                self._polls -= 1
                last = self._polls == 0
            if last and self._trim is not None:
                self._trim()  # what the polls freed, back to the system (exporter/poll/heap.py)
        self._publish_overview()
        return ok

    def _publish_overview(self) -> None:
        """The overview of the targets configured now, made and published in one step, so an older
        view (a poll finishing after a reload) never replaces a newer one."""
        with self._overview_lock:
            plan = self._plan
            if not plan.config.multi_target:
                self.store.publish_overview(None)
                return
            states = {name: poller.state for name, poller in plan.targets.items()}
            self.store.publish_overview(Part.of(render(overview_families(states, self.config_reload_ok))))

    # ------------------------------------------------------------------ schedule

    def run(self, stop: threading.Event) -> None:
        """Poll every target every interval until ``stop`` is set.

        Each poll runs in a thread of its own, at most ``poll.concurrency`` at a time, each target
        at most once at a time; the targets and the config are read again at every turn.
        """
        due: dict[str, float] = {}
        running: dict[str, tuple[Running, float]] = {}  # by target: the poll and the slot it took
        while not stop.is_set():
            now = self.clock.monotonic()
            plan = self._plan
            for name, (poll, slot) in list(running.items()):
                if not poll.is_alive():
                    del running[name]
                    # the next slot counts from this one; a cycle that overran it starts the next at
                    # once and the schedule goes on from there (missed slots are not made up)
                    due[name] = max(slot + plan.config.poll.interval, now)
            for name in [n for n in due if n not in plan.targets]:
                del due[name]
            waiting = sorted((due.setdefault(name, now), name) for name in plan.targets if name not in running)
            for next_at, name in waiting:  # the most overdue first, while threads are free
                if next_at > now or len(running) >= plan.config.poll.concurrency:
                    break
                started = self._launch(plan.targets[name])
                if started is None:
                    due[name] = max(next_at, now) + plan.config.poll.interval  # tried again at its next slot
                else:
                    running[name] = (started, next_at)
            idle_due = [at for name, at in due.items() if name not in running]
            wait = min(idle_due, default=now + plan.config.poll.interval) - now
            if running:
                wait = min(wait, _RUNNING_CHECK)
            if any(not poll.is_alive() for poll, _ in running.values()):
                wait = 0.0  # one already over: its next slot may be due
            stop.wait(max(wait, 0.0))

    def _launch(self, target: TargetPoller) -> Running | None:
        """Start one poll of ``target``; None when no thread could be started (counted, logged once)."""
        try:
            poll = self._start(partial(self._poll, target), f"poll {target.name}")
        except RuntimeError as exc:  # "can't start new thread": the next slot tries again
            self._note_start(target, exc)
            return None
        self._note_start(target, None)
        return poll

    def _note_start(self, target: TargetPoller, error: RuntimeError | None) -> None:
        """Keep the set of targets whose poll could not start (a new frozenset each time: /healthz
        reads it from another thread) and say when polls stop and start again, once each."""
        failing = frozenset(n for n in self._failed_starts if n in self.targets)  # a removed target is not waited for
        if error is None:
            if target.name in failing:
                failing = failing - {target.name}
                if not failing:
                    log.info("poll threads start again")
            self._failed_starts = failing
            return
        target.state.start_failures += 1
        if not failing:
            log.error("could not start a poll thread (%s): polls stop until threads can be started "
                      "again; /healthz fails meanwhile", error)
        self._failed_starts = failing | {target.name}
        target.publish()  # its poll is not running: its count is up to date on its page at once
        self._publish_overview()

    # ------------------------------------------------------------------ health

    def waiting(self) -> str | None:
        """Why the exporter is not ready (``/-/ready``): the targets that have not completed a poll
        yet, good or failed, named; None once every target has.  A target added by a reload
        makes it wait again until that target's first poll ends."""
        plan = self._plan
        names = [name for name, target in plan.targets.items() if not target.completed]
        if not names:
            return None
        if not plan.config.multi_target:
            return "the first poll of HAProxy has not completed yet"
        shown = ", ".join(names[:MAX_NAMED]) + (f" and {len(names) - MAX_NAMED} more" if len(names) > MAX_NAMED else "")
        return f"{len(names)} of {len(plan.targets)} targets have not completed a poll yet: {shown}"

    def healthy(self) -> bool:
        """False while a poll cannot be started, or when some target's last completed cycle is older
        than its cycle can take.

        The bound is the interval plus the longest a cycle may run (every command waiting out both
        timeouts), plus one more interval of slack: a wedged loop or pool shows, a slow HAProxy not.
        """
        plan = self._plan
        if any(name in plan.targets for name in self._failed_starts):
            return False
        now = self.clock.monotonic()
        for target in plan.targets.values():
            last = target.state.last_cycle_mono
            if last is None:
                last = target.created_mono
            if now - last > 2 * plan.config.poll.interval + target.cycle_bound():
                return False
        return True
