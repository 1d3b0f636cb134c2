"""Poller.run's schedule under hangs, on a fake clock (no sleeping, no timed assertions).

A poll that hangs until its timeout must not shift the schedule when the timeout is shorter than
the interval, and must not make polls stack up when it is longer.  Each poll runs in place in the
scheduler's thread (``support.run_in_place`` instead of a thread of its own), so the fake clock
gives the same schedule on every run.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from support import EMPTY_ANSWERS, FakeClock, answering, answering_each, run_in_place

from exporter.config import build_config
from exporter.poll.poller import Poller
from exporter.poll.snapshot import Store
from exporter.runtime.client import TransportError

FAULTS = Path(__file__).parent.parent / "fixtures" / "faults"
ANSWERS = {"show info": (FAULTS / "show-info.txt").read_text()[:-1],
           "show stat": (FAULTS / "show-stat.csv").read_text()[:-1],
           **EMPTY_ANSWERS}
UNKNOWN = "Unknown command, but maybe one of the following ones is a better match:\n"  # a worker to show proc


class FakeStop(threading.Event):
    """``wait`` moves the fake clock instead of sleeping; stops the loop after ``polls`` polls."""

    def __init__(self, clock: FakeClock, starts: list[float], polls: int) -> None:
        super().__init__()
        self.clock, self.starts, self.polls = clock, starts, polls

    def wait(self, timeout: float | None = None) -> bool:
        assert timeout is not None and timeout >= 0
        self.clock.now += timeout
        if len(self.starts) >= self.polls:
            self.set()
        return self.is_set()


def run_schedule(hangs: dict[int, float], polls: int, interval: float = 1.0) -> tuple[list[float], Poller]:
    """Run the real loop; poll number ``n`` in ``hangs`` blocks for that long, then times out."""
    clock = FakeClock()
    starts: list[float] = []

    def fetch(command: str) -> str:
        if command not in ANSWERS:
            return UNKNOWN  # the first poll's probes (is it a master CLI?), answered at once
        if command == "show info":
            starts.append(clock.now)
            hang = hangs.get(len(starts) - 1)
            if hang is not None:
                clock.now += hang
                raise TransportError("timeout", "no complete answer")
        clock.now += 0.01
        return ANSWERS.get(command, UNKNOWN)

    config = build_config({"poll": {"interval": interval, "max_age": 60}})
    poller = Poller(config, Store(config.poll.max_age, clock), connect=answering(fetch), clock=clock, start=run_in_place)
    poller.run(FakeStop(clock, starts, polls))
    return [round(s - starts[0], 6) for s in starts], poller


def test_hang_shorter_than_interval_keeps_the_schedule() -> None:
    starts, poller = run_schedule({1: 0.5, 2: 0.9}, polls=5)
    assert starts == [0, 1, 2, 3, 4]
    assert poller.targets[""].state.polls == {"success": 3, "failure": 2}
    assert poller.targets[""].state.commands.errors == {("show info", "timeout"): 2}


def test_hang_longer_than_interval_delays_the_next_poll_without_stacking() -> None:
    starts, poller = run_schedule({2: 2.5}, polls=5)
    # Poll 2 runs from 2 to 4.5: the next starts right away, then the interval resumes from there;
    # the missed slots (3, 4) are not made up with a burst of polls.
    assert starts == pytest.approx([0, 1, 2, 4.5, 5.5])
    assert poller.targets[""].state.polls == {"success": 4, "failure": 1}


def test_every_poll_hanging_still_polls_once_per_interval() -> None:
    """Over a bounded run of 10 fake seconds with every poll hanging, ten attempts start."""
    starts, poller = run_schedule({n: 0.6 for n in range(100)}, polls=10)
    assert starts == [float(n) for n in range(10)]
    assert poller.targets[""].state.commands.errors == {("show info", "timeout"): 10}


def test_a_reloaded_interval_applies_from_the_next_poll() -> None:
    """SIGHUP's reconfigure() swaps the config between polls; the loop reads the new interval."""
    clock = FakeClock()
    starts: list[float] = []
    faster = build_config({"poll": {"interval": 0.5, "max_age": 60}})

    def fetch(command: str) -> str:
        if command == "show info":
            starts.append(clock.now)
            if len(starts) == 3:
                poller.reconfigure(faster)  # as the main loop does on SIGHUP, here mid-poll
        return ANSWERS.get(command, UNKNOWN)

    config = build_config({"poll": {"interval": 1.0, "max_age": 60}})
    poller = Poller(config, Store(config.poll.max_age, clock), connect=answering(fetch), clock=clock, start=run_in_place)
    poller.run(FakeStop(clock, starts, 6))
    assert [s - starts[0] for s in starts] == [0, 1, 2, 2.5, 3, 3.5]
    assert poller.store.max_age == 60


def test_the_schedule_follows_whatever_a_reload_makes_of_the_targets() -> None:
    """One socket, then two targets, then one removed and one added, then one socket again: from the
    turn after each reload every configured HAProxy is polled each interval, and nothing else."""
    clock = FakeClock()
    polled: list[tuple[float, str]] = []

    def fetch_for(target):
        def fetch(command: str) -> str:
            if command == "show info":
                polled.append((clock.now, target.address.text))
            return ANSWERS.get(command, UNKNOWN)
        return fetch

    def targets(*names: str) -> dict:
        return {"targets": [{"name": n, "address": f"/run/{n}.sock"} for n in names],
                "poll": {"interval": 1.0, "max_age": 60}}

    single = {"haproxy": {"address": "/run/one.sock"}, "poll": {"interval": 1.0, "max_age": 60}}
    reloads = {1002.5: targets("a", "b"), 1005.5: targets("b", "c"), 1008.5: single}
    store = Store(60, clock)
    poller = Poller(build_config(single), store, connect=answering_each(fetch_for), clock=clock, start=run_in_place)
    pages: dict[float, tuple[bool, list[str]]] = {}

    class Reloads(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            assert timeout is not None and timeout >= 0
            for at in sorted(reloads):
                if clock.now < at <= clock.now + timeout:  # the reload comes during this wait
                    clock.now = at
                    poller.reconfigure(build_config(reloads[at]))
                    pages[at] = (store.parts() != [], [n for n in ("a", "b", "c") if store.probe(n) is not None])
                    return False
            clock.now += timeout
            if clock.now >= 1011:
                self.set()
            return self.is_set()

    poller.run(Reloads())
    by_second: dict[int, set[str]] = {}
    for at, address in polled:
        by_second.setdefault(int(at - 1000), set()).add(address)
    assert by_second == {0: {"/run/one.sock"}, 1: {"/run/one.sock"}, 2: {"/run/one.sock", "/run/a.sock", "/run/b.sock"},
                         3: {"/run/a.sock", "/run/b.sock"}, 4: {"/run/a.sock", "/run/b.sock"},
                         5: {"/run/b.sock", "/run/c.sock"}, 6: {"/run/b.sock", "/run/c.sock"},
                         7: {"/run/b.sock", "/run/c.sock"}, 8: {"/run/one.sock"}, 9: {"/run/one.sock"},
                         10: {"/run/one.sock"}}, polled
    # Right after each reload: the overview (or nothing yet for one socket), and no removed target.
    assert pages == {1002.5: (True, []), 1005.5: (True, ["b"]), 1008.5: (False, [])}
    assert store.target_names() == [""]


def test_with_several_targets_a_late_cycle_adds_no_catch_up_poll() -> None:
    """The same rule with targets: target a's third poll hangs 2.5 s; its next starts when it ends,
    then the interval resumes from there (the loop for several targets used to start one more at
    once after that one, making up a missed slot)."""
    clock = FakeClock()
    starts: dict[str, list[float]] = {"a": [], "b": []}

    def fetch_for(target):
        def fetch(command: str) -> str:
            if command == "show info":
                starts[target.name].append(clock.now)
                if target.name == "a" and len(starts["a"]) == 3:
                    clock.now += 2.5
                    raise TransportError("timeout", "no complete answer")
            return ANSWERS.get(command, UNKNOWN)
        return fetch

    config = build_config({"targets": [{"name": "a", "address": "/run/a.sock"}, {"name": "b", "address": "/run/b.sock"}],
                           "poll": {"interval": 1.0, "max_age": 60}})
    poller = Poller(config, Store(60, clock), connect=answering_each(fetch_for), clock=clock, start=run_in_place)

    class Until(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            assert timeout is not None and timeout >= 0
            clock.now += timeout
            if clock.now > 1007.9:
                self.set()
            return self.is_set()

    poller.run(Until())
    assert [round(s - 1000, 6) for s in starts["a"]] == [0, 1, 2, 4.5, 5.5, 6.5, 7.5]
