"""Poller.run's schedule under hangs, on a fake clock (no sleeping, no timed assertions).

A poll that hangs until its timeout must not shift the schedule when the timeout is shorter than
the interval, and must not make polls stack up when it is longer.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from support import EMPTY_ANSWERS

from exporter.config import build_config
from exporter.poll.poller import Poller
from exporter.poll.snapshot import Store
from exporter.runtime.client import TransportError

FAULTS = Path(__file__).parent.parent / "fixtures" / "faults"
ANSWERS = {"show info": (FAULTS / "show-info.txt").read_text()[:-1],
           "show stat": (FAULTS / "show-stat.csv").read_text()[:-1],
           **EMPTY_ANSWERS}
UNKNOWN = "Unknown command, but maybe one of the following ones is a better match:\n"  # a worker to show proc


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeStop(threading.Event):
    """``wait`` moves the fake clock instead of sleeping; stops the loop after ``polls`` polls."""

    def __init__(self, clock: FakeTime, starts: list[float], polls: int) -> None:
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
    clock = FakeTime()
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
    poller = Poller(config, Store(config.max_age), fetch=fetch, clock=clock)
    poller.run(FakeStop(clock, starts, polls))
    return [round(s - starts[0], 6) for s in starts], poller


def test_hang_shorter_than_interval_keeps_the_schedule() -> None:
    starts, poller = run_schedule({1: 0.5, 2: 0.9}, polls=5)
    assert starts == [0, 1, 2, 3, 4]
    assert poller.state.polls == {"success": 3, "failure": 2}
    assert poller.state.commands.errors == {("show info", "timeout"): 2}


def test_hang_longer_than_interval_delays_the_next_poll_without_stacking() -> None:
    starts, poller = run_schedule({2: 2.5}, polls=5)
    # Poll 2 runs from 2 to 4.5: the next starts right away, then the interval resumes from there;
    # the missed slots (3, 4) are not made up with a burst of polls.
    assert starts == pytest.approx([0, 1, 2, 4.5, 5.5])
    assert poller.state.polls == {"success": 4, "failure": 1}


def test_every_poll_hanging_still_polls_once_per_interval() -> None:
    """Over a bounded run of 10 fake seconds with every poll hanging, ten attempts start."""
    starts, poller = run_schedule({n: 0.6 for n in range(100)}, polls=10)
    assert starts == [float(n) for n in range(10)]
    assert poller.state.commands.errors == {("show info", "timeout"): 10}


def test_a_reloaded_interval_applies_from_the_next_poll() -> None:
    """SIGHUP's reconfigure() swaps the config between polls; the loop reads the new interval."""
    clock = FakeTime()
    starts: list[float] = []
    faster = build_config({"poll": {"interval": 0.5, "max_age": 60}})

    def fetch(command: str) -> str:
        if command == "show info":
            starts.append(clock.now)
            if len(starts) == 3:
                poller.reconfigure(faster)  # as the main loop does on SIGHUP, here mid-poll
        return ANSWERS.get(command, UNKNOWN)

    config = build_config({"poll": {"interval": 1.0, "max_age": 60}})
    poller = Poller(config, Store(config.max_age), fetch=fetch, clock=clock)
    poller.run(FakeStop(clock, starts, 6))
    assert [s - starts[0] for s in starts] == [0, 1, 2, 2.5, 3, 3.5]
    assert poller.store.max_age == 60
