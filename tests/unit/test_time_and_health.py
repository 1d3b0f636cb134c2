"""Ages on the monotonic clock, /healthz from the poll loop's real progress.

A wall-clock step (NTP, a VM resumed) must neither make a dead HAProxy's data look fresh nor
expire good data early: the timestamp gauge follows the wall clock (freezegun moves it here),
the age of the snapshot the monotonic one (a fake here).  A poll loop that stops completing
cycles turns ``Poller.healthy()`` (what /healthz answers) false after a bound derived from the
interval and the timeouts; a slow but progressing HAProxy does not.
"""

from __future__ import annotations

from pathlib import Path

from exposition import samples, value
from freezegun import freeze_time
from support import EMPTY_ANSWERS, FakeClock, answering

from exporter.clock import SYSTEM_CLOCK
from exporter.config import build_config
from exporter.poll.poller import Poller
from exporter.poll.snapshot import Store
from exporter.runtime.client import TransportError

FAULTS = Path(__file__).parent.parent / "fixtures" / "faults"
ANSWERS = {"show info": (FAULTS / "show-info.txt").read_text()[:-1],
           "show stat": (FAULTS / "show-stat.csv").read_text()[:-1], **EMPTY_ANSWERS}
UNKNOWN = "Unknown command\n"


def setup(fetch=None) -> tuple[Poller, Store, FakeClock]:
    config = build_config({"poll": {"interval": "5s", "max_age": "30s"},
                           "haproxy": {"timeout": "2s", "connect_timeout": "1s"}})
    mono = FakeClock(500.0, wall=SYSTEM_CLOCK.wall)  # the wall clock is freezegun's
    store = Store(config.poll.max_age, mono)
    # The fake monotonic clock from the start: a target counts its first cycle's age from its creation.
    poller = Poller(config, store, connect=answering(fetch or (lambda c: ANSWERS.get(c, UNKNOWN))), clock=mono)
    return poller, store, mono


def served(store: Store) -> dict:
    return samples(b"".join(p.text for p in store.parts()).decode())


def test_a_wall_clock_step_back_does_not_make_old_data_fresh() -> None:
    poller, store, mono = setup()
    with freeze_time("2026-12-02 10:00:00") as wall:
        assert poller.poll_once()
        assert value(served(store), "haproxy_exporter_last_successful_poll_timestamp_seconds") == 1796205600
        mono.now += 31  # 31 s pass...
        wall.move_to("2026-12-02 09:00:00")  # ...while NTP steps the wall clock an hour back
        got = served(store)
        assert value(got, "haproxy_exporter_snapshot_stale") == 1
        assert not [k for k in got if k[0].startswith("haproxy_frontend")]


def test_a_wall_clock_step_forward_does_not_expire_fresh_data() -> None:
    poller, store, mono = setup()
    with freeze_time("2026-12-02 10:00:00") as wall:
        assert poller.poll_once()
        mono.now += 5
        wall.move_to("2026-12-02 12:00:00")  # two hours ahead on the wall, 5 s on the monotonic clock
        got = served(store)
        assert value(got, "haproxy_exporter_snapshot_stale") == 0
        assert value(got, "haproxy_frontend_status", proxy="fe_main", state="UP") == 1


def test_health_follows_completed_cycles_not_a_thread_being_alive() -> None:
    poller, store, mono = setup()
    assert poller.healthy()  # just started: within the bound from the start
    assert poller.poll_once()
    bound = 2 * 5 + poller.targets[""].cycle_bound()
    mono.now += bound - 0.1
    assert poller.healthy()
    mono.now += 0.2  # no cycle has completed for longer than one can take: wedged
    assert not poller.healthy()
    assert poller.poll_once()  # a completed cycle, even a failed one, is progress
    assert poller.healthy()


def test_a_failing_haproxy_is_not_an_unhealthy_exporter() -> None:
    def down(command: str) -> str:
        raise TransportError("refused", "connection refused")

    poller, store, mono = setup(down)
    for _ in range(10):
        assert not poller.poll_once()
        mono.now += 5
        assert poller.healthy()
    assert value(served(store), "haproxy_up") == 0
