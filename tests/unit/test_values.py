"""Numbers HAProxy cannot have printed, through a scripted socket: an integer too long for any of
HAProxy's counters (400 digits: Prometheus's parser then refuses the whole page; 5,000: Python's
int() refuses it), a negative counter.  Each is an invalid value: counted in
``haproxy_exporter_invalid_values_total``, its series left out, never a failed poll or a page
``promtool check metrics`` (Go's float parsing, as Prometheus reads a scrape) refuses.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator

import pytest
from exposition import samples, value
from support import EMPTY_ANSWERS, require

from exporter.config import build_config
from exporter.poll.poller import Poller
from exporter.poll.snapshot import Store
from exporter.sources.values import COUNTER, GAUGE, number_text, plain_column, scaled_text
from testkit.fakesocket import FakeSocket

FAULTS = Path(__file__).parent.parent / "fixtures" / "faults"
INFO = (FAULTS / "show-info.txt").read_text()
STAT = (FAULTS / "show-stat.csv").read_text()
NAMES = STAT.split("\n", 1)[0][2:].rstrip(",").split(",")
GOOD = {"show info": INFO.encode(), "show stat": STAT.encode(),
        **{c: a.encode() + b"\n" for c, a in EMPTY_ANSWERS.items()}}
LONG, HUGE = "9" * 400, "9" * 5000


@pytest.fixture
def fake() -> Iterator[FakeSocket]:
    path = Path(tempfile.mkdtemp(prefix="hrxv")) / "fake.sock"
    with FakeSocket(path, GOOD) as server:
        yield server


def poll(fake: FakeSocket, **config: object) -> tuple[bool, str]:
    built = build_config({"haproxy": {"address": fake.path, "mode": "worker"}, **config})
    store = Store(built.poll.max_age)
    ok = Poller(built, store).poll_once()
    return ok, b"".join(p.text for p in store.parts()).decode()


def promtool_accepts(text: str) -> None:
    promtool = require(shutil.which("promtool"), "promtool (Debian package prometheus)")
    result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert "parsing error" not in result.stdout + result.stderr, (result.stdout + result.stderr)[:300]


def with_cells(text: str, changes: dict[tuple[str, str, str], str]) -> str:
    """``show stat`` with the cells at (proxy, server, column) replaced; each must hold a value now."""
    lines = text.split("\n")
    for (px, sv, column), cell in changes.items():
        at = next(i for i, line in enumerate(lines) if line.startswith(f"{px},{sv},"))
        row = lines[at].split(",")
        assert row[NAMES.index(column)], (px, sv, column)  # a cell that makes a series today
        row[NAMES.index(column)] = cell
        lines[at] = ",".join(row)
    return "\n".join(lines)


def with_fields(text: str, changes: dict[str, str | None]) -> str:
    """``show info`` with the fields' values replaced (None: the line left out)."""
    lines = text.split("\n")
    assert {line.partition(": ")[0] for line in lines} >= set(changes)
    return "\n".join(line if (name := line.partition(": ")[0]) not in changes else f"{name}: {changes[name]}"
                     for line in lines if changes.get(line.partition(": ")[0], "") is not None)


STAT_CHANGES = {
    ("fe_main", "FRONTEND", "stot"): LONG,  # a counter, otherwise the column's plain-integers path
    ("be_a", "a1", "scur"): HUGE,  # a gauge
    ("be_a", "BACKEND", "qtime"): HUGE,  # milliseconds to seconds: int() of the cell
    ("fe_main", "FRONTEND", "hrsp_2xx"): LONG,  # the response classes' own path
    ("be_a", "a2", "bin"): "-5",  # a negative counter
    ("be_a", "a3", "stot"): "-" + "9" * 19,
}
GONE = [("haproxy_frontend_sessions_total", {"proxy": "fe_main"}),
        ("haproxy_server_current_sessions", {"proxy": "be_a", "server": "a1"}),
        ("haproxy_backend_queue_time_average_seconds", {"proxy": "be_a"}),
        ("haproxy_frontend_http_responses_total", {"proxy": "fe_main", "code": "2xx"}),
        ("haproxy_server_bytes_in_total", {"proxy": "be_a", "server": "a2"}),
        ("haproxy_server_sessions_total", {"proxy": "be_a", "server": "a3"})]
# Memmax_MB is read (in MiB, scaled) only when Memmax_bytes is not there
INFO_CHANGES = {"CumConns": LONG, "Memmax_bytes": None, "Memmax_MB": HUGE, "PoolFailed": "-1", "Tainted": "f" * 300}
INFO_INVALID = 4


def test_numbers_haproxy_cannot_print_are_invalid_values_not_a_failed_poll_or_page(fake: FakeSocket) -> None:
    fake.answers["show stat"] = with_cells(STAT, STAT_CHANGES).encode()
    fake.answers["show info"] = with_fields(INFO, INFO_CHANGES).encode()
    ok, text = poll(fake)
    assert ok
    promtool_accepts(text)
    got = samples(text)
    assert value(got, "haproxy_up") == 1
    assert value(got, "haproxy_exporter_invalid_values_total") == len(STAT_CHANGES) + INFO_INVALID
    for name, labels in GONE:
        assert value(got, name, **labels) is None, (name, labels)
    for name in ("connections_total", "max_memory_bytes", "pool_failures_total", "tainted"):
        assert value(got, f"haproxy_process_{name}") is None, name
    # the rest of each row and column is as HAProxy sent it
    assert value(got, "haproxy_server_current_sessions", proxy="be_a", server="a2") is not None
    assert value(got, "haproxy_frontend_http_responses_total", proxy="fe_main", code="4xx") is not None
    assert value(got, "haproxy_server_bytes_in_total", proxy="be_a", server="a1") is not None
    assert value(got, "haproxy_process_uptime_seconds") is not None


def test_a_negative_gauge_is_a_value(fake: FakeSocket) -> None:
    """-1 is how HAProxy says "never" in lastsess and a few others: a gauge may be negative."""
    fake.answers["show stat"] = with_cells(STAT, {("be_a", "a1", "lastsess"): "-1"}).encode()
    ok, text = poll(fake)
    got = samples(text)
    assert ok and value(got, "haproxy_server_last_session_seconds", proxy="be_a", server="a1") == -1
    assert value(got, "haproxy_exporter_invalid_values_total") == 0


PEERS = ("0x1: [02/Dec/2026:14:09:11] id=mesh disabled=0 flags=0x6811 resync_timeout=2s task_calls=8\n"
         "  0x2: id=b(remote,active) addr=127.0.0.1:1 last_status=ESTA last_hdshk={age}\n"
         "        reconnect=2s heartbeat=1s confirm=0 tx_hbt={tx} rx_hbt=4 no_hbt=0 new_conn=2 proto_err=0 coll=0\n"
         "        flags=0x0\n"
         "  0x3: id=a(local,inactive) addr=127.0.0.1:2 last_status=NONE last_hdshk=<NEVER>\n"
         "        reconnect=<NEVER> heartbeat=<NEVER> confirm=0 tx_hbt=0 rx_hbt=0 no_hbt=0 new_conn=0 proto_err=0"
         " coll=0\n"
         "        flags=0x0\n\n")
TABLE = "# table: st, type: string, size:100, used:{used}\n"
ENTRIES = "0x1: key=k1 use={use} exp=1000 gpc0={gpc} http_req_rate(10000)=3\n0x2: key=k2 use=0 exp=1000 gpc0=2 " \
          "http_req_rate(10000)=4\n"


@pytest.mark.parametrize("answers, invalid, gone", [
    ({"show peers": PEERS.format(age="2s", tx=LONG)}, 1, ("haproxy_peer_heartbeats_sent_total", {})),
    ({"show peers": PEERS.format(age="2s", tx=-3)}, 1, ("haproxy_peer_heartbeats_sent_total", {})),
    ({"show peers": PEERS.format(age=HUGE + "s", tx=3)}, 1, ("haproxy_peer_last_handshake_seconds", {})),
    ({"show table st": TABLE.format(used=2) + ENTRIES.format(use=0, gpc=LONG) + "\n"}, 1,
     ("haproxy_sticktable_entry_gpc", {"table": "st", "key": "k1", "index": "0"})),
    ({"show resolvers": f"Resolvers section dns\n nameserver ns1:\n  sent:        {LONG}\n  valid:       1\n\n"},
     1, ("haproxy_resolver_sent", {"resolver": "dns", "nameserver": "ns1"})),
], ids=["peer counter 400 digits", "peer counter negative", "peer age 5000 digits", "stick-table value",
        "resolver counter"])
def test_every_source_counts_what_is_no_number(fake: FakeSocket, answers: dict[str, str], invalid: int,
                                               gone: tuple[str, dict[str, str]]) -> None:
    fake.answers["show table"] = (TABLE.format(used=2) + "\n").encode()
    fake.answers["show table st"] = (TABLE.format(used=2) + ENTRIES.format(use=0, gpc=1) + "\n").encode()
    fake.answers.update({c: a.encode() for c, a in answers.items()})
    ok, text = poll(fake, stick_tables=[{"name": "st"}])
    assert ok
    promtool_accepts(text)
    got = samples(text)
    assert value(got, "haproxy_exporter_invalid_values_total") == invalid
    name, labels = gone
    if name.startswith("haproxy_peer_"):
        labels = {"peers": "mesh", "peer": "b"}
    assert value(got, name, **labels) is None


@pytest.mark.parametrize("command, answer, reason", [
    ("show table", TABLE.format(used=LONG) + "\n", "unexpected_response"),  # its only line is no table's
    ("show table st", TABLE.format(used=2) + ENTRIES.format(use=HUGE, gpc=1) + "\n", "malformed_entry"),
    ("show map", f"# id (file) description\n1 (/etc/x.map) pattern loaded from file '/etc/x.map' used by map at "
                 f"file '/h.cfg' line 1. curr_ver=0 next_ver=0 entry_cnt={HUGE}\n\n", "malformed"),
    ("show errors", f"Total events captured on [02/Dec/2026:14:12:40.161] : {'9' * 100}\n\n", "unexpected_response"),
])
def test_a_line_whose_number_haproxy_cannot_print_is_a_malformed_answer(fake: FakeSocket, command: str, answer: str,
                                                                        reason: str) -> None:
    """Where the number is part of a line's shape (a table's size, an entry's use=, a list's count),
    the line is not one of HAProxy's: the command fails with a reason, the rest of the poll stands."""
    fake.answers["show table"] = (TABLE.format(used=2) + "\n").encode()
    fake.answers["show table st"] = (TABLE.format(used=2) + ENTRIES.format(use=0, gpc=1) + "\n").encode()
    fake.answers["show errors"] = b"Total events captured on [02/Dec/2026:14:12:40.161] : 0\n\n"
    fake.answers[command] = answer.encode()
    ok, text = poll(fake, stick_tables=[{"name": "st"}], errors={"enabled": True})
    assert ok
    promtool_accepts(text)
    got = samples(text)
    assert value(got, "haproxy_exporter_command_errors_total", command=command, reason=reason) == 1
    assert value(got, "haproxy_frontend_status", proxy="fe_main", state="UP") == 1


# ---------------------------------------------------------------- the rules themselves

@pytest.mark.parametrize("cell, gauge, counter", [
    ("0", "0", "0"), ("18446744073709551615", "18446744073709551615", "18446744073709551615"),
    ("99999999999999999999", "99999999999999999999", "99999999999999999999"),  # 20 digits: any u64's width
    ("-1", "-1", None), ("-9223372036854775808", "-9223372036854775808", None), ("-0", "-0", None),
    ("999999999999999999999", None, None), (LONG, None, None), (HUGE, None, None), ("-" + LONG, None, None),
    ("", None, None), ("-", None, None), ("+1", None, None), ("1e5", None, None), ("1.5", None, None),
    ("١٢", None, None), ("²", None, None), (" 1", None, None), ("1_0", None, None), ("0x10", None, None),
])
def test_what_is_a_number(cell: str, gauge: str | None, counter: str | None) -> None:
    assert number_text(cell, GAUGE) == gauge
    assert number_text(cell, COUNTER) == counter


def test_scaling_never_reads_a_cell_it_would_refuse() -> None:
    assert scaled_text("1500", 0.001) == "1.5"
    assert scaled_text("3", 1024 * 1024) == "3145728"
    assert scaled_text(HUGE, 0.001) is None and scaled_text(HUGE, 1024 * 1024) is None
    assert scaled_text("-1", 0.001, COUNTER) is None and scaled_text("-1", 0.001, GAUGE) == "-0.001"


@pytest.mark.parametrize("cells, plain", [
    (("1", "", "22"), True), (("1", "9" * 20), True), (("1", "9" * 21), False), (("9" * 21,), False),
    (("1", "-1"), False), (("", ""), False), (("١",), False),
])
def test_a_plain_column(cells: tuple[str, ...], plain: bool) -> None:
    assert plain_column(cells, "".join(cells)) is plain
