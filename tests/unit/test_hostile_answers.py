"""Hostile or drifting HAProxy output through a scripted socket: never an invalid page, never
unbounded memory, never a failed poll for what can be skipped.

A repeated column, two columns that clean to one metric name and a row of an unknown type are
skipped, counted in ``haproxy_exporter_ignored_fields`` and logged once; a socket that sends
millions of proxies is refused while reading (``too_many_series``), keeping the last good
snapshot.  ``promtool check metrics`` (Prometheus's own linter) judges every page.
"""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator

import pytest
from exposition import samples, value
from support import EMPTY_ANSWERS, require

from exporter.config import build_config
from exporter.exposition.families import Family, LabelSet
from exporter.exposition.render import Dropped, render_bytes
from exporter.poll.poller import Poller
from exporter.poll.snapshot import Store
from exporter.sources.sticktables.config import StickTableConfig
from exporter.sources.sticktables.model import entry_families
from exporter.sources.sticktables.parse import parse_table_dump
from testkit.fakesocket import FakeSocket

FAULTS = Path(__file__).parent.parent / "fixtures" / "faults"
INFO = (FAULTS / "show-info.txt").read_bytes()
STAT = (FAULTS / "show-stat.csv").read_text()
GOOD = {"show info": INFO, "show stat": STAT.encode(), **{c: a.encode() + b"\n" for c, a in EMPTY_ANSWERS.items()}}


@pytest.fixture
def fake() -> Iterator[FakeSocket]:
    path = Path(tempfile.mkdtemp(prefix="hrxh")) / "fake.sock"
    with FakeSocket(path, GOOD) as server:
        yield server


def poller_for(path: str, timeout: str = "2s", **haproxy: object) -> tuple[Poller, Store]:
    config = build_config({"haproxy": {"address": path, "timeout": timeout, "mode": "worker", **haproxy},
                           "poll": {"interval": "1s", "max_age": "10s"}})
    store = Store(config.poll.max_age)
    return Poller(config, store), store


def page(store: Store) -> str:
    return b"".join(p.text for p in store.parts()).decode()


def promtool_accepts(text: str) -> None:
    promtool = require(shutil.which("promtool"), "promtool (Debian package prometheus)")
    result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    problems = [line for line in (result.stdout + result.stderr).splitlines()
                if line and "counter metrics should have" not in line and "non-histogram" not in line]
    assert result.returncode == 0 or not problems, problems[:5]


def with_columns(header_extra: list[str], cell: str = "7") -> str:
    """The fixture's show stat with more columns at the end, the same cell in every row."""
    lines = STAT.rstrip("\n").split("\n")
    out = [lines[0] + ",".join(header_extra) + ","]  # every name and cell is followed by a comma
    out += [line + ",".join([cell] * len(header_extra)) + "," for line in lines[1:] if line]
    return "\n".join(out) + "\n\n"


def test_repeated_and_colliding_columns_are_skipped_counted_and_said_once(fake: FakeSocket, caplog) -> None:
    # bout again (a known column twice), an unknown one twice, two that clean to one metric name,
    # and 2.8.0's unnamed "(null)" column (not a column of data: skipped quietly).
    fake.answers["show stat"] = with_columns(["bout", "x_new", "x_new", "y.z", "y_z", "(null)"]).encode()
    poller, store = poller_for(fake.path)
    with caplog.at_level(logging.WARNING, logger="exporter.poll"):
        assert poller.poll_once()
        assert poller.poll_once()
    text = page(store)
    promtool_accepts(text)
    got = samples(text)  # fails on a duplicate series
    assert value(got, "haproxy_exporter_ignored_fields", what="column", reason="duplicate") == 2
    assert value(got, "haproxy_exporter_ignored_fields", what="column", reason="name_collision") == 1
    assert value(got, "haproxy_frontend_x_new", proxy="fe_main") == 7
    assert value(got, "haproxy_frontend_y_z", proxy="fe_main") == 7  # the first of the two names
    rows = [r for r in STAT.split("\n")[1:] if r.startswith("fe_main,FRONTEND,")]
    bout = rows[0].split(",")[STAT.split("\n")[0][2:].split(",").index("bout")]
    assert value(got, "haproxy_frontend_bytes_out_total", proxy="fe_main") == int(bout)  # the first bout
    assert not [k for k in got if "null" in k[0]]
    assert value(got, "haproxy_exporter_invalid_values_total") == 0  # (null) is not counted
    said = [r.getMessage() for r in caplog.records if "skipping" in r.getMessage()]
    assert len(said) == 2, said  # one line per kind, not one per poll


def test_a_row_of_an_unknown_type_is_skipped_not_a_failed_poll(fake: FakeSocket) -> None:
    lines = STAT.rstrip("\n").split("\n")
    names = lines[0][2:].rstrip(",").split(",")
    row = lines[1].rstrip(",").split(",")
    row[0], row[names.index("type")] = "px_future", "7"
    fake.answers["show stat"] = ("\n".join(lines + [",".join(row) + ","]) + "\n\n").encode()
    poller, store = poller_for(fake.path)
    assert poller.poll_once()
    got = samples(page(store))
    assert value(got, "haproxy_up") == 1
    assert value(got, "haproxy_exporter_ignored_fields", what="row", reason="unknown_type") == 1
    assert not [k for k in got if dict(k[1]).get("proxy") == "px_future"]
    assert value(got, "haproxy_frontend_status", proxy="fe_main", state="UP") == 1


def endless_proxies(count: int):
    """An answer of ``count`` distinct proxies (a million: about 100 MB), streamed as it is written."""
    header = STAT.split("\n")[0]
    width = len(header[2:].rstrip(",").split(","))
    names = header[2:].rstrip(",").split(",")

    def send(conn: socket.socket) -> None:
        conn.sendall((header + "\n").encode())
        row = ["0"] * width
        row[names.index("type")], row[1] = "0", "FRONTEND"
        batch = []
        for n in range(count):
            row[0] = f"px{n}"
            batch.append(",".join(row) + ",\n")
            if len(batch) == 5000:
                conn.sendall("".join(batch).encode())
                batch = []
        conn.sendall(("".join(batch) + "\n").encode())

    return send


@pytest.mark.parametrize("proxies, cap, reason", [
    (200_000, 100 << 20, "too_many_series"),  # 55 MB read, refused before the rows are made (27 M cells > 5 M)
    (1_000_000, 20 << 20, "too_large"),  # 270 MB sent: the read itself stops at haproxy.max_response_bytes
])
def test_millions_of_proxies_are_refused_and_the_last_snapshot_stays(fake: FakeSocket, proxies: int, cap: int,
                                                                     reason: str) -> None:
    poller, store = poller_for(fake.path, timeout="60s", max_response_bytes=cap)
    assert poller.poll_once()
    good = store.published.page
    fake.answers["show stat"] = endless_proxies(proxies)
    assert not poller.poll_once()
    assert store.published.page is good
    got = samples(page(store))
    assert value(got, "haproxy_up") == 0
    assert value(got, "haproxy_exporter_command_errors_total", command="show stat", reason=reason) == 1
    assert value(got, "haproxy_frontend_status", proxy="fe_main", state="UP") == 1  # the last good snapshot


def test_a_poll_over_the_series_cap_across_sources_is_refused(fake: FakeSocket) -> None:
    """The stat answer alone fits, but with a stick table's entries the poll would exceed the cap."""
    cells = len([r for r in STAT.split("\n")[1:] if r]) * len(STAT.split("\n")[0][2:].rstrip(",").split(","))
    entries = "".join(f"0x{n:x}: key=10.0.{n // 250}.{n % 250} use=0 exp=1000 gpc0={n} conn_rate(10000)={n}\n"
                      for n in range(900))
    fake.answers["show table"] = b"# table: fe_main, type: ip, size:1024, used:900\n\n"
    fake.answers["show table fe_main"] = (f"# table: fe_main, type: ip, size:1024, used:900\n{entries}\n").encode()
    config = build_config({"haproxy": {"address": fake.path, "mode": "worker"}, "stick_tables": [{"name": "fe_main"}],
                           "poll": {"max_series": cells}})
    store = Store(config.poll.max_age)
    assert not Poller(config, store).poll_once()
    got = samples(page(store))
    assert value(got, "haproxy_exporter_command_errors_total", command="show stat", reason="too_many_series") == 1
    assert store.published.page is None


def test_the_renderer_never_writes_a_family_or_a_series_twice() -> None:
    a, b = LabelSet((("proxy", "a"),)), LabelSet((("proxy", "b"),))
    twin = LabelSet((("proxy", "a"),))  # another object, the same labels
    families = [
        Family("haproxy_frontend_x_total", "counter", "x", [(a, "1"), (b, "2"), (twin, "3")], scope="frontend"),
        Family("haproxy_frontend_y", "gauge", "y", [(a, "4")], scope="frontend"),
        Family("haproxy_frontend_x_total", "counter", "x again", [(b, "5")], scope="frontend"),
    ]
    dropped = Dropped()
    text = render_bytes(families, dropped).decode()
    assert dropped.families == 1 and dropped.series == 1 and dropped.samples == 2
    got = samples(text)
    assert value(got, "haproxy_frontend_x_total", proxy="a") == 1  # the first one wins
    assert value(got, "haproxy_frontend_x_total", proxy="b") == 2
    promtool_accepts(text)


def test_stick_table_keys_that_once_read_the_same_are_two_series() -> None:
    """HAProxy escapes string keys; the byte C3 and a literal backslash-x-c-3 are two keys, and two
    labels (the key's backslash is doubled): nothing is dropped."""
    dump = parse_table_dump("# table: t, type: string, size:10, used:2\n"
                            "0x1: key=a\\xC3 use=0 exp=100 gpc0=1\n"
                            "0x2: key=a\\\\xc3 use=0 exp=100 gpc0=2\n")
    families, _ = entry_families([(StickTableConfig("t"), dump)])
    dropped = Dropped()
    text = render_bytes(families, dropped).decode()
    assert dropped.series == 0
    got = samples(text)
    assert value(got, "haproxy_sticktable_entry_gpc", table="t", key="a\\xc3", index="0") == 1
    assert value(got, "haproxy_sticktable_entry_gpc", table="t", key="a\\\\xc3", index="0") == 2
    promtool_accepts(text)


def test_a_reload_that_changes_the_address_mid_poll_never_mixes_two_haproxys() -> None:
    """SIGHUP's reconfigure() arrives while show info is being answered: the cycle under way
    finishes on the socket it started with; the next one uses the new address."""
    base = Path(tempfile.mkdtemp(prefix="hrxr"))
    with FakeSocket(base / "a.sock", GOOD) as first, FakeSocket(base / "b.sock", GOOD) as second:
        poller, store = poller_for(first.path)
        moved = build_config({"haproxy": {"address": second.path, "timeout": "2s", "mode": "worker"},
                              "poll": {"interval": "1s", "max_age": "10s"}})

        def info_then_reload(conn: socket.socket) -> None:
            poller.reconfigure(moved)  # as the main loop does on SIGHUP, here in the middle of the cycle
            conn.sendall(INFO)

        def data(fake: FakeSocket) -> list[str]:  # what the poll read, without the probes of a new socket
            return [c for c in fake.commands if c in ("show info", "show stat")]

        first.answers["show info"] = info_then_reload
        assert poller.poll_once()
        assert data(first) == ["show info", "show stat"] and data(second) == []
        assert poller.poll_once()
        assert data(second) == ["show info", "show stat"] and data(first) == ["show info", "show stat"]
