"""The schedule: every target polled once per interval, concurrently, on a bounded pool.

Each target keeps its own schedule, state, ``haproxy_up`` and staleness, so one target that
hangs until its timeouts costs only its own cycle: the others keep their interval.  A slow cycle
delays the next of the same target and never stacks; missed slots are not made up in a burst.
"""

from __future__ import annotations

import logging
import threading
import time
from functools import partial
from typing import Callable

from exporter.config import Config, TargetConfig
from exporter.exposition.families import Family
from exporter.exposition.gzip import Part
from exporter.exposition.render import render
from exporter.poll.process import Fetch
from exporter.poll.snapshot import LivePart, Store
from exporter.poll.state import PollState
from exporter.poll.status import overview_families, process_metrics_text
from exporter.poll.target import TargetPoller

log = logging.getLogger("exporter.poll")
_RUNNING_CHECK = 0.05  # seconds between looks at running polls while some are in flight


def _wall() -> float:
    return time.time()  # looked up per call, so freezegun can freeze it


def _monotonic() -> float:
    return time.monotonic()


class Poller:
    """Owns the targets and their schedule; ``poll_once`` polls every target once, usable without threads.

    ``fetch`` replaces the socket for every target, ``fetch_for`` gives each target its own (tests);
    ``clock`` is one fake clock for tests, read both as wall time and as the monotonic clock of
    ages and the schedule; ``monotonic`` fakes the monotonic clock alone (freezegun moves the wall).
    """

    def __init__(self, config: Config, store: Store, fetch: Fetch | None = None,
                 clock: Callable[[], float] | None = None,
                 fetch_for: Callable[[TargetConfig], Fetch] | None = None,
                 monotonic: Callable[[], float] | None = None) -> None:
        self.config = config
        self.store = store
        self.wall: Callable[[], float] = clock or _wall
        self.monotonic: Callable[[], float] = clock or monotonic or _monotonic
        if clock is not None:
            store.monotonic = clock
        if store.live is None:
            store.live = LivePart(process_metrics_text)
        if fetch_for is None and fetch is not None:
            fetch_for = lambda target: fetch  # noqa: E731 - one fake for every target
        self._fetch_for = fetch_for
        self.config_reload_ok = True  # no reload yet counts as success, as in Prometheus's own metric
        self.targets: dict[str, TargetPoller] = {}
        self._sync_targets(config)

    # ------------------------------------------------------------------ targets

    def _new_target(self, target: TargetConfig, config: Config) -> TargetPoller:
        fetch = self._fetch_for(target) if self._fetch_for is not None else None
        return TargetPoller(target, config, self.store, fetch, wall=lambda: self.wall(),
                            monotonic=lambda: self.monotonic(), reload_ok=lambda: self.config_reload_ok)

    def _sync_targets(self, config: Config) -> None:
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
            self.store.forget(name)
        self.targets = targets  # one reference swap: the schedule reads it once per turn

    def reconfigure(self, config: Config) -> None:
        """Take a reloaded config (SIGHUP); each target applies it at the start of its next cycle."""
        self.store.max_age = config.max_age
        self._sync_targets(config)
        self.config = config  # the new interval applies after the wait already under way

    def note_config_reload(self, ok: bool) -> None:
        """Record whether a SIGHUP reload was accepted (alerts.yml: HAProxyExporterConfigReloadFailed)."""
        self.config_reload_ok = ok

    @property
    def state(self) -> PollState:
        """The state of the single target (or of the first one): what tests and --once look at."""
        return next(iter(self.targets.values())).state

    def status_families(self, stale: bool) -> list[Family]:
        return next(iter(self.targets.values())).status_families(stale)

    # ------------------------------------------------------------------ one round

    def poll_once(self) -> bool:
        """Poll every target once (concurrently when there are several).  True if all were read."""
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

        workers = [self._spawn(work, f"poll {n}") for n in range(min(self.config.concurrency, len(targets)))]
        for worker in workers:
            worker.join()
        return all(results.get(t.name, False) for t in targets)

    @staticmethod
    def _spawn(work: Callable[[], object], name: str) -> threading.Thread:
        """A daemon thread, not a ThreadPoolExecutor's: the interpreter joins an executor's threads
        at exit, so a poll hung until its timeouts would hold up SIGTERM; these are abandoned."""
        thread = threading.Thread(target=work, name=name, daemon=True)
        thread.start()
        return thread

    def _poll(self, target: TargetPoller) -> bool:
        try:
            ok = target.poll_once()
        except Exception:  # the loop must outlive any bug
            log.exception("poll cycle of %s failed unexpectedly", target.name or "HAProxy")
            ok = False
        self._publish_overview()
        return ok

    def _publish_overview(self) -> None:
        if not self.config.multi_target:
            self.store.publish_overview(None)
            return
        states = {name: poller.state for name, poller in self.targets.items()}
        self.store.publish_overview(Part.of(render(overview_families(states, self.config_reload_ok))))

    # ------------------------------------------------------------------ schedule

    def run(self, stop: threading.Event) -> None:
        """Poll every target every interval until ``stop`` is set.

        One target polls in this thread; several poll in threads of their own, at most
        ``poll.concurrency`` at a time, each target at most once at a time.
        """
        if len(self.targets) == 1 and not self.config.multi_target:
            self._run_inline(stop)
        else:
            self._run_concurrent(stop)

    def _run_inline(self, stop: threading.Event) -> None:
        next_at = self.monotonic()
        while not stop.is_set():
            target = next(iter(self.targets.values()))
            self._poll(target)
            next_at += self.config.interval
            now = self.monotonic()
            if next_at < now:
                next_at = now
            stop.wait(next_at - now)

    def _run_concurrent(self, stop: threading.Event) -> None:
        due: dict[str, float] = {}
        running: dict[str, threading.Thread] = {}
        while not stop.is_set():
            now = self.monotonic()
            targets = self.targets
            for name in [n for n, thread in running.items() if not thread.is_alive()]:
                del running[name]
            for name in list(due):
                if name not in targets:
                    del due[name]
            waiting = sorted((due.setdefault(name, now), name) for name in targets if name not in running)
            for next_at, name in waiting:  # the most overdue first, while threads are free
                if next_at > now or len(running) >= self.config.concurrency:
                    break
                running[name] = self._spawn(partial(self._poll, targets[name]), f"poll {name}")
                # the next slot counts from this one; a late cycle starts the next at once
                due[name] = max(next_at + self.config.interval, now)
            idle_due = [at for name, at in due.items() if name not in running]
            wait = min(idle_due, default=now + self.config.interval) - now
            if running:
                wait = min(wait, _RUNNING_CHECK)
            stop.wait(max(wait, 0.0))

    # ------------------------------------------------------------------ health

    def healthy(self) -> bool:
        """False when some target's last completed cycle is older than its cycle can take.

        The bound is the interval plus the longest a cycle may run (every command waiting out both
        timeouts), plus one more interval of slack: a wedged loop or pool shows, a slow HAProxy not.
        """
        now = self.monotonic()
        for target in self.targets.values():
            last = target.state.last_cycle_mono
            if last is None:
                last = target.created_mono
            if now - last > 2 * self.config.interval + target.cycle_bound():
                return False
        return True
