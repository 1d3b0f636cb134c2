"""What the poll threads, the reload and the scheduler share, under every interleaving that matters.

Under the GIL of CPython 3.11 a thread rarely loses the processor in the middle of these few lines,
so waiting for a race to happen proves nothing.  Instead the first operation is stopped before
each of its bytecodes in turn (``sys.settrace`` with opcode events), the second runs in another
thread until it returns or has to wait for a lock, then the first goes on: every point where a
thread switch (3.9, 3.10, a free-threaded build) could cut it is tried, and the outcome must be
the one of some serial order.  A poll thread that cannot start is injected, not provoked.
"""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any, Callable

import pytest
from exposition import samples, value
from support import EMPTY_ANSWERS, FakeClock, Finished, answering, wait_for

import exporter.poll.poller
import exporter.poll.snapshot
import exporter.poll.target
from exporter.config import build_config
from exporter.exposition.page import Part
from exporter.poll.poller import Poller
from exporter.poll.snapshot import Snapshot, Store
from exporter.poll.target import TargetPoller

FAULTS = Path(__file__).parent.parent / "fixtures" / "faults"
ANSWERS = {"show info": (FAULTS / "show-info.txt").read_text()[:-1],
           "show stat": (FAULTS / "show-stat.csv").read_text()[:-1], **EMPTY_ANSWERS}
UNKNOWN = "Unknown command, but maybe one of the following ones is a better match:\n"
MAX_STEPS = 2000  # far more bytecodes than any of these operations has: the exploration ends


class Contended:
    """A lock that says when a thread had to wait for it (the second operation then cannot go on
    before the first, which holds it, and the test lets the first one go)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.waited = threading.Event()

    def __enter__(self) -> Contended:
        if not self._lock.acquire(blocking=False):
            self.waited.set()
            self._lock.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


def preempted(first: Callable[[], object], second: Callable[[], object], files: set[str], step: int,
              contended: Contended | None = None) -> bool:
    """Run ``first`` in a thread, stopped before its ``step``-th bytecode in ``files``; meanwhile run
    ``second`` in another thread until it returns or waits on ``contended``; then let ``first`` end.
    False when ``first`` ended before reaching ``step`` (every point has been tried): ``second``
    then runs after it, the last serial order."""
    stopped, go, ended = threading.Event(), threading.Event(), threading.Event()
    seen = 0
    failures: list[BaseException] = []

    def opcode(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal seen
        if event == "opcode":
            seen += 1
            if seen == step:
                stopped.set()
                go.wait(10)
        return opcode

    def calls(frame: FrameType, event: str, arg: Any) -> Any:
        if frame.f_code.co_filename in files:
            frame.f_trace_opcodes = True
            return opcode
        return None

    def run_first() -> None:
        sys.settrace(calls)
        try:
            first()
        except BaseException as exc:  # handed to the test below
            failures.append(exc)
        finally:
            sys.settrace(None)
            ended.set()
            stopped.set()

    done = threading.Event()

    def run_second() -> None:
        try:
            second()
        except BaseException as exc:
            failures.append(exc)
        finally:
            done.set()

    one = threading.Thread(target=run_first, daemon=True)
    one.start()
    assert stopped.wait(10), "the first operation neither stopped nor ended"
    if ended.is_set():
        one.join(10)
        if failures:
            raise failures[0]
        second()
        return False
    two = threading.Thread(target=run_second, daemon=True)
    two.start()
    wait_for(lambda: done.is_set() or (contended is not None and contended.waited.is_set()), 10,
             "the second operation neither ended nor waited for the lock")
    go.set()
    one.join(10)
    two.join(10)
    assert not one.is_alive() and not two.is_alive(), "a thread is stuck: a deadlock"
    if failures:
        raise failures[0]
    return True


def every_step(trial: Callable[[int], bool]) -> int:
    """Run ``trial`` for step 1, 2, ... until the first operation ends before the step; the count."""
    for step in range(1, MAX_STEPS):
        if not trial(step):
            return step
    raise AssertionError(f"the first operation was not over after {MAX_STEPS} bytecodes")


def published(name: str) -> Snapshot:
    return Snapshot(None, Part.of(f"{name} 1\n"), Part.of(f"{name} 0\n"))


def contents(store: Store) -> dict[str, object]:
    """What each published name serves (these publications have no data: their stale status)."""
    return {name: (store.probe(name) or [None])[0] for name in store.target_names()}


SNAPSHOT = {exporter.poll.snapshot.__file__}


@pytest.mark.parametrize("first_op", ["publish", "forget"])
def test_two_writers_of_the_store_never_lose_each_others_change(first_op: str) -> None:
    """A publication of ``b`` racing with the publication of ``a`` or the removal of ``x``: the
    store ends with ``b`` in it whichever was cut where (unlocked, the slower one wrote back the
    mapping it had copied before ``b`` arrived)."""
    a1, a2, b, x = published("a1"), published("a2"), published("b"), published("x")

    def trial(step: int) -> bool:
        store = Store(30)
        store.publish(a1, "a")
        store.publish(x, "x")
        watched = Contended()
        store._lock = watched  # type: ignore[assignment]  # the real lock's place, to see a wait on it
        first = (lambda: store.publish(a2, "a")) if first_op == "publish" else (lambda: store.forget("x"))
        went = preempted(first, lambda: store.publish(b, "b"), SNAPSHOT, step, watched)
        expected = {"a": a2, "x": x, "b": b} if first_op == "publish" else {"a": a1, "b": b}
        assert contents(store) == {name: pub.status_stale for name, pub in expected.items()}, step
        return went

    assert every_step(trial) > 5


def test_a_reload_handed_to_a_target_is_never_lost() -> None:
    """The main thread hands a reload over while the poll thread takes the previous one: whatever
    the point, the next cycle runs with the last config handed over (with a read-then-clear slot,
    a reload arriving between the read and the clear was dropped)."""
    configs = [build_config({"haproxy": {"address": f"/run/h{n}.sock"}}) for n in range(3)]

    def trial(step: int) -> bool:
        store = Store(30)
        target = TargetPoller(configs[0].poll_targets()[0], configs[0], store, connect=answering(lambda c: ""), clock=FakeClock())
        target.reconfigure(configs[1].poll_targets()[0], configs[1])
        went = preempted(target._apply_pending, lambda: target.reconfigure(configs[2].poll_targets()[0], configs[2]),
                         {exporter.poll.target.__file__}, step)
        target._apply_pending()  # the start of the next cycle
        assert target.target.address.text == "/run/h2.sock" and target.config is configs[2], step
        return went

    assert every_step(trial) > 3


def test_the_scheduler_never_sees_the_new_targets_with_the_old_config() -> None:
    """A reload from one socket to two targets, cut anywhere, as the scheduler reads it: the targets
    and the config it reads at a turn are always one config's (interval, concurrency, overview)."""
    one = build_config({"haproxy": {"address": "/run/h1.sock"}, "poll": {"interval": "7s"}})
    two = build_config({"targets": [{"name": "a", "address": "/run/a.sock"}, {"name": "b", "address": "/run/b.sock"}],
                        "poll": {"interval": "3s"}})

    def trial(step: int) -> bool:
        poller = Poller(one, Store(30), connect=answering(lambda c: UNKNOWN))
        seen: list[tuple[float, list[str]]] = []

        def scheduler_turn() -> None:
            config, targets = poller.config, poller.targets
            seen.append((config.poll.interval, sorted(targets)))

        went = preempted(lambda: poller.reconfigure(two), scheduler_turn, {exporter.poll.poller.__file__}, step)
        assert seen[0] in ((7.0, [""]), (3.0, ["a", "b"])), (step, seen)
        return went

    assert every_step(trial) > 3


# ---------------------------------------------------------------------- a poll thread that cannot start


class Turns(threading.Event):
    """The scheduler's stop event: each wait moves the fake clock and lets the test act between turns."""

    def __init__(self, clock: FakeClock, between: Callable[[], bool]) -> None:
        super().__init__()
        self.clock, self.between = clock, between

    def wait(self, timeout: float | None = None) -> bool:
        assert timeout is not None and timeout >= 0
        self.clock.now += timeout
        if not self.between():
            self.set()
        return self.is_set()


class FailingStarts:
    """Starts each poll in place, or fails as ``threading.Thread.start`` does when the process is
    out of threads, while ``failing`` is set."""

    def __init__(self) -> None:
        self.failing = False
        self.refused = 0

    def __call__(self, work: Callable[[], object], name: str) -> Finished:
        if self.failing:
            self.refused += 1
            raise RuntimeError("can't start new thread")
        work()
        return Finished()


def test_a_poll_thread_that_cannot_start_is_counted_logged_once_and_tried_again(caplog) -> None:
    config = build_config({"targets": [{"name": "a", "address": "/run/a.sock"}, {"name": "b", "address": "/run/b.sock"}],
                           "poll": {"interval": "1s", "max_age": "60s"}})
    clock = FakeClock()
    store = Store(config.poll.max_age, clock)
    starts = FailingStarts()
    poller = Poller(config, store, connect=answering(lambda c: ANSWERS.get(c, UNKNOWN)), clock=clock, start=starts)
    health: list[tuple[float, bool]] = []

    def between() -> bool:
        health.append((clock.now, poller.healthy()))
        polls = poller.targets["a"].state.polls["success"]
        starts.failing = 2 <= polls and clock.now < 1006  # fail from the third round to 6 s in
        return clock.now < 1010

    with caplog.at_level(logging.INFO, logger="exporter.poll"):
        poller.run(Turns(clock, between))  # returns when stopped: the scheduler outlived every failure
    said = [r.getMessage() for r in caplog.records if "poll thread" in r.getMessage()]
    assert len([m for m in said if "could not start" in m]) == 1, said
    assert len([m for m in said if "start again" in m]) == 1, said
    assert starts.refused >= 6  # both targets, at each of their slots from 2 s to 6 s
    failed = {name: t.state.start_failures for name, t in poller.targets.items()}
    assert failed["a"] + failed["b"] == starts.refused and failed["a"] >= 3 and failed["b"] >= 3, failed
    # Polled at each slot before and after: 10 s, two rounds ok, then from 6 s on again.
    assert poller.targets["a"].state.polls["success"] >= 2 + 3
    # /healthz: failing from the first refused start to the first start again, healthy otherwise.
    assert [ok for at, ok in health if at < 1002] and all(ok for at, ok in health if at < 1002)
    assert not [ok for at, ok in health if 1002.5 <= at < 1006 and ok]
    assert health[-1][1]
    for name in ("a", "b"):
        page = samples(b"".join(p.text for p in store.probe(name) or []).decode())
        assert value(page, "haproxy_exporter_poll_start_failures_total") == failed[name]
    overview = samples(b"".join(p.text for p in store.parts()).decode())
    assert value(overview, "haproxy_exporter_poll_start_failures_total", target="a") == failed["a"]


def test_the_scheduler_outlives_threads_that_cannot_start(monkeypatch) -> None:
    """``threading.Thread.start`` itself failing for every poll: the scheduler thread stays alive,
    counts, and ``healthy()`` says so; stopping it still ends it."""
    real_start = threading.Thread.start
    refused: list[str] = []

    def start(self: threading.Thread) -> None:
        if self.name.startswith("poll "):
            refused.append(self.name)
            raise RuntimeError("can't start new thread")
        real_start(self)

    monkeypatch.setattr(threading.Thread, "start", start)
    config = build_config({"targets": [{"name": "a", "address": "/run/a.sock"}, {"name": "b", "address": "/run/b.sock"}],
                           "poll": {"interval": "50ms"}})
    poller = Poller(config, Store(30), connect=answering(lambda c: ANSWERS.get(c, UNKNOWN)))
    stop = threading.Event()
    scheduler = threading.Thread(target=poller.run, args=(stop,), name="scheduler", daemon=True)
    scheduler.start()
    try:
        wait_for(lambda: not scheduler.is_alive() or refused.count("poll b") >= 3, 10, "no poll was started")
        assert scheduler.is_alive(), "the scheduler ended at the first poll thread that could not start"
        assert poller.targets["b"].state.start_failures >= 3
        assert not poller.healthy()
    finally:
        stop.set()
        scheduler.join(10)
    assert not scheduler.is_alive()
