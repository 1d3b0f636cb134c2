"""Several HAProxys from one exporter: each target has its own schedule, state and snapshot, and
one that hangs costs only its own polls.  Captured real answers, threads and a real clock, bounded."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from exposition import samples, value
from support import EMPTY_ANSWERS, answering, answering_each, wait_for

from exporter.cli import new_store
from exporter.clock import SYSTEM_CLOCK
from exporter.config import TargetConfig, build_config
from exporter.poll.poller import Poller
from exporter.poll.snapshot import Store
from exporter.runtime.address import parse_address
from exporter.runtime.client import TransportError
from exporter.validation import ConfigError

FIXTURES = Path(__file__).parent.parent / "fixtures"
UNKNOWN = "Unknown command, but maybe one of the following ones is a better match:\n"


def answers(version: str) -> dict[str, str]:
    return {"show info": (FIXTURES / version / "show-info.txt").read_text(),
            "show stat": (FIXTURES / version / "show-stat.csv").read_text(), **EMPTY_ANSWERS}


def text(parts) -> str:
    return b"".join(p.text for p in parts).decode()


CONFIG = {"targets": [{"name": "edge1", "address": "unix@/run/h1.sock"},
                      {"name": "edge2", "address": "ipv4@127.0.0.1:9999", "timeout": "10s"}],
          "poll": {"interval": "200ms", "max_age": "10s"}}


def test_targets_config_takes_the_haproxy_keys_per_entry() -> None:
    config = build_config({"haproxy": {"timeout": "3s"}, **CONFIG})
    assert [t.name for t in config.poll_targets()] == ["edge1", "edge2"]
    assert config.targets[0] == TargetConfig("edge1", parse_address("unix@/run/h1.sock"), timeout=3.0)
    assert config.targets[1].timeout == 10.0 and config.targets[1].address.text == "ipv4@127.0.0.1:9999"


@pytest.mark.parametrize("targets, error", [
    ([{"name": "a b", "address": "/x.sock"}], "targets[0].name:"),
    ([{"name": "a", "address": "/x.sock"}, {"name": "a", "address": "/y.sock"}], "targets[1].name: target 'a' is listed twice"),
    ([{"name": "a"}], "targets[0].address: required"),
    ([{"name": "a", "address": "nope:port"}], "targets[0].address:"),
    ([{"name": "a", "address": "/x.sock", "level": "admin"}], "targets[0].level: unknown key"),
    ([{"name": "a", "address": "/x.sock", "timeout": "-1s"}], "targets[0].timeout:"),
    ("edge1", "targets: expected a list"),
    ([], "targets: expected a list"),
])
def test_a_targets_mistake_is_one_line_naming_the_key(targets, error: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build_config({"targets": targets})
    assert str(caught.value).startswith(error), caught.value


def test_an_address_beside_targets_is_refused() -> None:
    with pytest.raises(ConfigError, match="^haproxy.address: not used when targets is set"):
        build_config({"haproxy": {"address": "/run/haproxy/admin.sock"}, **CONFIG})


def test_each_target_is_served_on_its_own_and_metrics_gives_the_overview() -> None:
    by_address = {"unix@/run/h1.sock": answers("2.6.12"), "ipv4@127.0.0.1:9999": answers("3.3.0")}
    config = build_config(CONFIG)
    store = new_store(config, SYSTEM_CLOCK)  # as the exporter makes it: its process figures on every page
    poller = Poller(config, store, connect=answering_each(lambda t: lambda c: by_address[t.address.text].get(c, UNKNOWN)))
    assert poller.poll_once()
    one, two = samples(text(store.probe("edge1"))), samples(text(store.probe("edge2")))
    assert value(one, "haproxy_process_build_info", version="2.6.12-1+deb12u4", release_date="2026/10/17") == 1
    assert value(two, "haproxy_frontend_res_bytes_out_total", proxy="fe_main") is not None  # a 3.3 column
    assert value(one, "haproxy_up") == value(two, "haproxy_up") == 1
    assert store.probe("edge3") is None
    overview = samples(text(store.parts()))
    assert value(overview, "haproxy_up", target="edge1") == 1 and value(overview, "haproxy_up", target="edge2") == 1
    assert not [k for k in overview if k[0].startswith(("haproxy_frontend", "haproxy_process"))]  # no data mixed in
    assert value(overview, "process_resident_memory_bytes") > 0


def test_a_hung_target_costs_only_its_own_polls() -> None:
    polls = {"edge1": 0, "edge2": 0}
    release = threading.Event()

    def fetch_for(target):
        def fetch(command: str) -> str:
            if command == "show info":
                polls[target.name] += 1
            if target.name == "edge2" and command == "show info":
                release.wait(5)  # hangs until the test ends (bounded)
                raise TransportError("timeout", "no complete answer")
            return answers("2.6.12").get(command, UNKNOWN)
        return fetch

    store = Store(10)
    poller = Poller(build_config(CONFIG), store, connect=answering_each(fetch_for))
    stop = threading.Event()
    thread = threading.Thread(target=poller.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_for(lambda: polls["edge1"] >= 5, 10, "edge1 was not polled on its own schedule")
        assert polls["edge2"] == 1  # still stuck in its first poll meanwhile
        assert value(samples(text(store.probe("edge1"))), "haproxy_up") == 1
    finally:
        stop.set()
        release.set()
        thread.join(5)
    assert not thread.is_alive()


def test_reloading_drops_a_removed_target_and_keeps_the_others_state() -> None:
    store = Store(10)
    poller = Poller(build_config(CONFIG), store, connect=answering(lambda c: answers("2.6.12").get(c, UNKNOWN)))
    assert poller.poll_once()
    kept = poller.targets["edge1"]
    poller.reconfigure(build_config({**CONFIG, "targets": CONFIG["targets"][:1]}))
    assert list(poller.targets) == ["edge1"] and poller.targets["edge1"] is kept
    assert store.probe("edge2") is None
    assert poller.poll_once()
    assert kept.state.polls["success"] == 2


def test_a_target_removed_while_its_poll_runs_is_not_published_again() -> None:
    """The reload removes edge2 while its poll waits for show stat: when that poll ends, neither its
    page nor its line of the overview comes back."""
    waiting, release = threading.Event(), threading.Event()
    hold = {"edge2": False}

    def fetch_for(target):
        def fetch(command: str) -> str:
            if command == "show stat" and hold.get(target.name):
                waiting.set()
                release.wait(10)
            return answers("2.6.12").get(command, UNKNOWN)
        return fetch

    store = Store(10)
    poller = Poller(build_config(CONFIG), store, connect=answering_each(fetch_for))
    assert poller.poll_once()
    edge2 = poller.targets["edge2"]
    hold["edge2"] = True
    poll = threading.Thread(target=poller._poll, args=(edge2,), daemon=True)  # as the scheduler runs it
    poll.start()
    try:
        assert waiting.wait(10), "the poll of edge2 did not start"
        poller.reconfigure(build_config({**CONFIG, "targets": CONFIG["targets"][:1]}))
        assert store.probe("edge2") is None
    finally:
        release.set()
        poll.join(10)
    assert not poll.is_alive()
    assert edge2.state.polls["success"] == 2  # the poll did finish
    assert store.probe("edge2") is None and store.target_names() == ["edge1"]
    overview = samples(text(store.parts()))
    assert value(overview, "haproxy_up", target="edge2") is None
    assert value(overview, "haproxy_up", target="edge1") == 1
