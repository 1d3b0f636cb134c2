"""A master CLI on captured answers of real 2.6, 2.8, 3.2 and 3.4 master-worker HAProxys.

Each ``fixtures/<version>/master/`` holds what a real ``haproxy -W -S`` answered with one old
worker still serving a download after a reload (its README names the current and old pids),
and ``show proc`` after a reload whose new config was broken.  The oracle is the captured text
itself, read here with the test's own CSV reader, never the exporter's parser.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from exposition import samples, types, value
from support import EMPTY_ANSWERS, FakeClock, answering, stat_rows

from exporter.config import build_config
from exporter.poll.poller import Poller
from exporter.poll.snapshot import Store
from exporter.runtime.client import TransportError
from exporter.sources.proc.model import roles
from exporter.sources.proc.parse import parse_proc

FIXTURES = Path(__file__).parent.parent / "fixtures"
VERSIONS = ["2.6.12", "2.8.25", "3.2.0", "3.4.0"]
UNKNOWN = "Unknown command, but maybe one of the following ones is a better match:\n"


def pids(version: str) -> tuple[str, str]:
    readme = (FIXTURES / version / "master" / "README").read_text()
    found = re.search(r"current=(\d+) old=(\d+)", readme)
    assert found, readme
    return found.group(1), found.group(2)


def master_fetch(version: str, proc_file: str = "show-proc.txt", gone: set[str] = frozenset()):
    """A master CLI answering from the captures: show proc, and @!<pid> routed to each worker."""
    base = FIXTURES / version / "master"
    current, old = pids(version)
    sent: list[str] = []

    def fetch(command: str) -> str:
        sent.append(command)
        if command == "show proc":
            return (base / proc_file).read_text()
        if command == "show cli level":
            return (base / "show-cli-level.txt").read_text()
        route = re.fullmatch(rf"@!(\d+) (show info|show stat|{'|'.join(EMPTY_ANSWERS)})", command)
        if route is None:
            return UNKNOWN
        pid, what = route.groups()
        if pid in gone:
            raise TransportError("truncated", (base / "gone-worker-show-info.txt").read_text())
        role = "current" if pid == current else "old" if pid == old else None
        if role is None or what in EMPTY_ANSWERS:
            return EMPTY_ANSWERS[what] if role else UNKNOWN  # the captures' config has no tables, no resolvers
        return (base / f"{role}-{what.replace(' ', '-')}{'.txt' if what == 'show info' else '.csv'}").read_text()

    fetch.sent = sent  # type: ignore[attr-defined]
    return fetch


def poll(fetch, config: dict | None = None) -> tuple[bool, str, Poller]:
    store = Store(30)
    poller = Poller(build_config({"haproxy": {"address": "/run/haproxy-master.sock"}, **(config or {})}), store,
                    connect=answering(fetch))
    ok = poller.poll_once()
    return ok, b"".join(p.text for p in store.parts()).decode(), poller


@pytest.mark.parametrize("version", VERSIONS)
def test_show_proc_parses_every_version(version: str) -> None:
    current, old = pids(version)
    listing = parse_proc((FIXTURES / version / "master" / "show-proc.txt").read_text())
    assert [str(p.pid) for p in listing.current] == [current]
    assert [str(p.pid) for p in listing.old] == [old]
    assert listing.master.reloads == 1 and listing.master.failed == 0
    assert listing.old[0].reloads == 1 and listing.current[0].reloads == 0


@pytest.mark.parametrize("version", VERSIONS)
def test_after_a_failed_reload_the_serving_worker_is_current(version: str) -> None:
    """2.x keeps it under # workers; 3.1+ lists it under # old workers with no current one."""
    current, old = pids(version)
    listing = parse_proc((FIXTURES / version / "master" / "show-proc-failed-reload.txt").read_text())
    assert listing.master.failed == 1
    now, draining = roles(listing)
    assert [str(p.pid) for p in now] == [current]
    assert [str(p.pid) for p in draining] == [old]


def test_a_worker_socket_is_not_taken_for_a_master() -> None:
    with pytest.raises(Exception) as caught:
        parse_proc(UNKNOWN)
    assert getattr(caught.value, "reason", None) == "unknown_command"


def worker_socket_exposition(version: str) -> str:
    """The same current worker read through its own stats socket (no master)."""
    base = FIXTURES / version / "master"
    answers = {"show info": (base / "current-show-info.txt").read_text(),
               "show stat": (base / "current-show-stat.csv").read_text(), **EMPTY_ANSWERS}
    store = Store(30)
    assert Poller(build_config({}), store, connect=answering(lambda c: answers.get(c, UNKNOWN))).poll_once()
    return store.published.page.text.decode()


def series(text: str) -> dict:
    return samples(text)


@pytest.mark.parametrize("version", VERSIONS)
def test_through_the_master_the_current_worker_keeps_its_names_and_labels(version: str) -> None:
    ok, text, _ = poll(master_fetch(version))
    assert ok
    got = series(text)
    assert value(got, "haproxy_up") == 1
    current_only = {k: v for k, v in got.items() if "worker" not in dict(k[1])
                    and k[0].startswith(("haproxy_process", "haproxy_frontend", "haproxy_backend", "haproxy_server",
                                       "haproxy_map", "haproxy_acl"))}
    direct = series(worker_socket_exposition(version))
    assert set(current_only) == set(direct)
    assert current_only == direct  # the same answers: the same values too


@pytest.mark.parametrize("version", VERSIONS)
def test_old_workers_add_their_counters_and_levels_under_a_worker_label(version: str) -> None:
    current, old = pids(version)
    ok, text, _ = poll(master_fetch(version))
    assert ok
    got = series(text)
    kinds = types(text)
    old_series = {k: v for k, v in got.items() if dict(k[1]).get("worker") == old and not k[0].startswith("haproxy_master")}
    assert old_series, "the old worker's series are missing"
    # Only what adds up across workers: counters and current levels, never states, limits or info.
    for name, _ in old_series:
        family = name[:-6] if name.endswith("_total") else name
        assert kinds.get(family) == "counter" or "current" in name or name.endswith(
            ("_open_connections", "_open_streams", "_rate", "_bytes", "jobs", "listeners")), name
        assert not name.endswith(("_status", "_info", "_limit_sessions", "_max_sessions", "_weight")), name
    # Values are the old worker's own cells (read here with the test's CSV reader).
    rows = {(r["pxname"], r["svname"]): r for r in stat_rows((FIXTURES / version / "master" / "old-show-stat.csv").read_text())}
    frontend = rows[("fe_dl", "FRONTEND")]
    assert value(got, "haproxy_frontend_bytes_out_total", proxy="fe_dl", worker=old) == int(frontend["bout"])
    assert value(got, "haproxy_frontend_current_sessions", proxy="fe_dl", worker=old) == int(frontend["scur"]) == 1
    server = rows[("be_dl", "dl1")]
    assert value(got, "haproxy_server_sessions_total", proxy="be_dl", server="dl1", worker=old) == int(server["stot"])
    # Not double counted: state sets come from the current worker alone.
    assert value(got, "haproxy_server_status", proxy="be_dl", server="dl1", state="UP", worker=old) is None
    assert sum(v for (n, labels), v in got.items() if n == "haproxy_server_status" and dict(labels)["state"] == "UP") == 1
    # One HELP and TYPE per family (promtool rejects a second one).
    names = re.findall(r"^# TYPE (\S+) ", text, flags=re.M)
    assert len(names) == len(set(names))


@pytest.mark.parametrize("version", VERSIONS)
def test_show_proc_metrics(version: str) -> None:
    current, old = pids(version)
    ok, text, _ = poll(master_fetch(version))
    got = series(text)
    assert value(got, "haproxy_master_current_workers") == 1
    assert value(got, "haproxy_master_old_workers") == 1
    assert value(got, "haproxy_master_reloads_total") == 1
    assert value(got, "haproxy_master_failed_reloads") == 0
    assert value(got, "haproxy_master_worker_reloads", worker=old) == 1
    assert value(got, "haproxy_master_worker_reloads", worker=current) == 0
    version_text = (FIXTURES / version / "master" / "show-proc.txt").read_text().split("\n")[1].split()[-1]
    assert value(got, "haproxy_master_build_info", version=version_text) == 1
    assert value(got, "haproxy_master_worker_info", worker=old, role="old", version=version_text) == 1
    assert value(got, "haproxy_master_uptime_seconds") == 2

    ok, text, _ = poll(master_fetch(version, "show-proc-failed-reload.txt"))
    got = series(text)
    assert value(got, "haproxy_master_failed_reloads") == 1
    assert value(got, "haproxy_master_current_workers") == 1
    assert value(got, "haproxy_master_worker_info", worker=current, role="current", version=version_text) == 1
    assert value(got, "haproxy_up") == 1


def test_an_old_worker_gone_between_show_proc_and_its_turn_costs_only_its_series() -> None:
    current, old = pids("3.4.0")
    ok, text, poller = poll(master_fetch("3.4.0", gone={old}))
    assert ok
    got = series(text)
    assert not [k for k in got if dict(k[1]).get("worker") == old and not k[0].startswith("haproxy_master")]
    assert value(got, "haproxy_exporter_command_errors_total", command="show info", reason="truncated",
                 worker="old") == 1
    assert value(got, "haproxy_exporter_command_success", command="show info", worker="old") == 0
    assert value(got, "haproxy_exporter_command_success", command="show info") == 1


def test_only_routed_read_only_commands_reach_the_workers() -> None:
    current, old = pids("2.6.12")
    fetch = master_fetch("2.6.12")
    poll(fetch, {"stick_tables": [{"name": "fe_dl"}]})
    assert fetch.sent == ["show proc", "show cli level", "show proc",
                          f"@!{current} show info", f"@!{current} show stat", f"@!{current} show table",
                          f"@!{current} show table fe_dl", f"@!{current} show resolvers",
                          f"@!{current} show ssl cert", f"@!{current} show ssl ocsp-response",
                          f"@!{current} show ssl ocsp-updates", f"@!{current} show peers",
                          f"@!{current} show map", f"@!{current} show acl",
                          f"@!{old} show info", f"@!{old} show stat"]


def test_a_master_at_level_user_says_once_what_it_costs(caplog: pytest.LogCaptureFixture) -> None:
    fetch = master_fetch("2.6.12")

    def user_level(command: str) -> str:
        return "user\n" if command == "show cli level" else fetch(command)

    store = Store(30)
    poller = Poller(build_config({"haproxy": {"address": "/m.sock"}, "stick_tables": [{"name": "fe_dl"}]}), store,
                    connect=answering(user_level))
    with caplog.at_level(logging.WARNING, logger="exporter.poll"):
        poller.poll_once()
        poller.poll_once()
    said = [r.getMessage() for r in caplog.records if "level user" in r.getMessage()]
    assert len(said) == 1 and "sticktables" in said[0] and "master CLI" in said[0], said


def test_a_master_cli_away_for_a_moment_during_a_reload_is_tried_again() -> None:
    """The master re-executes itself on every reload and refuses connections for a few ms."""
    fetch = master_fetch("2.6.12")
    refusals = {"count": 0}

    def reloading(command: str) -> str:
        if command.startswith("@!") and refusals["count"] < 2:
            refusals["count"] += 1
            raise TransportError("refused", "connection refused")
        return fetch(command)

    clock = FakeClock()
    store = Store(30, clock)
    poller = Poller(build_config({"haproxy": {"address": "/m.sock"}}), store, connect=answering(reloading), clock=clock)
    assert poller.poll_once()
    assert clock.slept == [0.1, 0.3]
    got = samples(b"".join(p.text for p in store.parts()).decode())
    assert value(got, "haproxy_up") == 1
    assert not [k for k in got if k[0] == "haproxy_exporter_command_errors_total"]


def test_a_master_cli_that_stays_away_fails_the_poll_after_a_bounded_wait() -> None:
    def gone(command: str) -> str:
        if command == "show proc" and gone.known:  # type: ignore[attr-defined]
            raise TransportError("refused", "connection refused")
        gone.known = True  # type: ignore[attr-defined]
        return master_fetch("2.6.12")(command)

    gone.known = False  # type: ignore[attr-defined]
    clock = FakeClock()
    store = Store(30, clock)
    poller = Poller(build_config({"haproxy": {"address": "/m.sock"}}), store, connect=answering(gone), clock=clock)
    assert not poller.poll_once()  # detected as a master by the probe, then refused
    assert sum(clock.slept) < 2
    got = samples(b"".join(p.text for p in store.parts()).decode())
    assert value(got, "haproxy_exporter_command_errors_total", command="show proc", reason="refused") == 1
