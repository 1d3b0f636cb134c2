"""The log tally (exporter/sources/logs/tally.py) and the block matcher it reads with
(format.BatchMatcher), on the captured lines of HAProxy 2.6 to 3.4.

The oracle is the capture's ``requests.json``: what the client asked and got, written while the
lines were captured, not read from them.  The block matcher is held to the line parser, line for
line, on real, mixed and hostile blocks.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.sources.logs.config import LogsConfig
from exporter.sources.logs.counting import Counting
from exporter.sources.logs.format import FIELDS, BatchMatcher, LogLine
from exporter.sources.logs.tally import Known, Tally
from tests.unit.test_log_format import CAPTURED, VERSIONS, custom_format, expected, lines, parser

KNOWN = Known(
    frontends=frozenset({"fe_httplog", "fe_httpslog", "fe_httpclf", "fe_custom", "fe_tcplog", "fe_tcpclf"}),
    backends=frozenset({"be_return", "be_app", "be_down", "be_none", "be_tcp_app", "be_tcp_down"}),
    servers=frozenset({("be_app", "app1"), ("be_down", "s1"), ("be_tcp_app", "app1"), ("be_tcp_down", "s1")}),
)


def config(version: str, name: str, **more: Any) -> LogsConfig:
    log_format = custom_format(version) if name == "custom" else name.replace("-", " ")
    return LogsConfig(ring="r", format=log_format, ring_format="rfc3164", **more)


def block(text_lines: list[str]) -> str:
    return "".join(line + "\n" for line in text_lines)


def fields_of(matcher: BatchMatcher, row: tuple[str, ...]) -> dict[str, str]:
    return {name: row[at] for name, at in matcher.columns.items()}


# ------------------------------------------------------------------ the block matcher


@pytest.mark.parametrize("version, name", CAPTURED)
def test_the_block_matcher_reads_each_captured_line_as_the_line_parser_does(version: str, name: str) -> None:
    line_parser = parser(version, name)
    matcher = line_parser.batch()
    captured = lines(version, f"{name}.log")
    rows = matcher.findall(block(captured))
    assert len(rows) == len(captured)
    for line, row in zip(captured, rows):
        parsed = line_parser.parse(line)
        assert isinstance(parsed, LogLine)
        got = fields_of(matcher, row)
        assert got.get("backend") == (parsed.backend or "-" if "backend" in got else None)
        assert got.get("status") in (None, str(parsed.status), "-1", "-")
        if "t_active" in got:
            assert got["t_active"] == ("-1" if parsed.t_active is None else str(parsed.t_active))


@pytest.mark.parametrize("version, name", CAPTURED)
@pytest.mark.parametrize("servers", [False, True])
def test_the_counting_matcher_captures_fewer_fields_and_matches_the_same_lines(version: str, name: str,
                                                                                servers: bool) -> None:
    """The matcher the counting uses leaves out what it never reads (%B, %s without per-server
    histograms): the same lines match, and each field it keeps is the full matcher's."""
    full = parser(version, name).batch()
    counting = Counting(config(version, name, servers=servers))
    kept = counting.matcher
    assert "bytes" not in kept.columns and ("server" in kept.columns) is (servers and "server" in full.columns)
    assert set(kept.columns) < set(full.columns)
    mixed = [*lines(version, f"{name}.log"), *GARBAGE]
    rows, all_rows = kept.findall(block(mixed)), full.findall(block(mixed))
    assert len(rows) == len(all_rows) > 0
    for row, whole in zip(rows, all_rows):
        assert fields_of(kept, row) == {key: value for key, value in fields_of(full, whole).items() if key in kept.columns}


GARBAGE = [
    "",
    "not a log line",
    '<134>Dec  5 03:44:15 localhost haproxy[1]: 127.0.0.1:1 [05/Dec/2026:03:44:15.412] fe be/s 0/0/0/0/0 200 0 - - '
    '---- 1/1/0/0/0 0/0 "GET / HTTP/1.1',  # the request's quote never closes
    '"' * 50,
    "<134>" + "/" * 500,
]


@pytest.mark.parametrize("version", VERSIONS)
def test_a_block_with_bad_lines_between_good_ones_matches_only_the_good_ones(version: str) -> None:
    line_parser = parser(version, "httplog")
    good = lines(version, "httplog.log")
    mixed = [good[0], *GARBAGE, *good[1:], GARBAGE[2]]
    rows = line_parser.batch().findall(block(mixed))
    # An unclosed quote must not join its line to the next one: every good line is one row
    assert len(rows) == len(good)
    assert [isinstance(line_parser.parse(line), LogLine) for line in mixed].count(True) == len(good)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(lines(VERSIONS[-1], "httplog.log") + GARBAGE) | st.text(alphabet='ab"\\ /-[]{}<>'),
                min_size=1, max_size=12))
def test_the_block_matcher_and_the_line_parser_agree_on_any_block(picked: list[Any]) -> None:
    text_lines = [line.replace("\n", " ") for line in (picked if isinstance(picked, list) else [picked])]
    line_parser = parser(VERSIONS[-1], "httplog")
    rows = line_parser.batch().findall(block(text_lines))
    assert len(rows) == sum(isinstance(line_parser.parse(line), LogLine) for line in text_lines)


def test_the_fields_a_block_match_carries_are_the_line_parsers() -> None:
    assert set(FIELDS) <= set(LogLine._fields)


# ------------------------------------------------------------------ the tally against the capture


@pytest.mark.parametrize("version, name", [c for c in CAPTURED if not c[1].startswith("tcplog")])
def test_codes_and_histogram_counts_are_what_the_client_got(version: str, name: str) -> None:
    asked = expected(version)["formats"][name]
    tally = Tally(fold_every=0, config=config(version, name, servers=True))
    tally.set_known(KNOWN)
    tally.feed(block(lines(version, f"{name}.log")))
    view = tally.view()
    assert view.lines == len(asked) and not view.rejected and not view.unexported
    frontend = asked[0]["frontend"]
    assert sorted((proxy, code, n) for proxy, code, n in view.codes["frontend"]) == sorted(
        (frontend, code, n) for code, n in Counter(r["status"] for r in asked).items())
    assert sorted(view.codes["backend"]) == sorted(
        (be, code, n) for (be, code), n in Counter((r["backend"], r["status"]) for r in asked).items())
    # Every request has an active time, so each backend's histogram counts its requests
    totals = {key[0]: counts for key, counts, _ in view.histograms[("backend", "total")]}
    assert {be: sum(counts) for be, counts in totals.items()} == Counter(r["backend"] for r in asked)
    # Per server only where a server was chosen (not <NOSRV>)
    servers = {key: sum(counts) for key, counts, _ in view.histograms[("server", "total")]}
    assert servers == Counter((r["backend"], r["server"]) for r in asked if r["server"])


@pytest.mark.parametrize("version", VERSIONS)
def test_the_slow_path_lands_in_the_bucket_of_its_delay(version: str) -> None:
    slow_ms = expected(version)["slow_ms"]  # the capture's server waited this long before answering
    tally = Tally(fold_every=0, config=config(version, "httplog", buckets=[0.1, 0.25, 1.0]))
    tally.set_known(KNOWN)
    tally.feed(block([line for line in lines(version, "httplog.log") if "/slow" in line]))
    ((key, counts, total_ms),) = tally.view().histograms[("backend", "response")]
    assert key == ("be_app",) and counts == [0, 1, 0, 0]  # 100 ms < 200 ms <= 250 ms
    assert slow_ms <= total_ms < slow_ms + 100


@pytest.mark.parametrize("version", [v for v in VERSIONS if (lines(v, "tcplog.log"))])
def test_a_tcp_format_counts_its_sessions_total_time_and_states(version: str) -> None:
    asked = expected(version)["formats"]["tcplog"]
    tally = Tally(fold_every=0, config=config(version, "tcplog"))
    tally.set_known(KNOWN)
    tally.feed(block(lines(version, "tcplog.log")))
    view = tally.view()
    assert not view.codes["frontend"] and not view.rejected
    totals = {key[0]: sum(counts) for key, counts, _ in view.histograms[("backend", "total")]}
    assert totals == Counter(r["backend"] for r in asked)
    states = {(proxy, state): n for proxy, state, n in view.terminations["frontend"]}
    assert sum(states.values()) == len(asked)


def test_a_timer_of_a_stage_not_reached_is_not_observed() -> None:
    version = VERSIONS[-1]
    tally = Tally(fold_every=0, config=config(version, "httplog"))
    tally.set_known(KNOWN)
    tally.feed(block([line for line in lines(version, "httplog.log") if "/ret " in line]))  # no server: Tc=Tr=-1
    view = tally.view()
    assert view.histograms[("backend", "connect")] == [] and view.histograms[("backend", "response")] == []
    assert [sum(counts) for _, counts, _ in view.histograms[("backend", "total")]] == [1]


# ------------------------------------------------------------------ what cannot become a series


def httplog(frontend: str = "fe", backend: str = "be", server: str = "s1", status: str = "200",
            state: str = "----", ta: str = "5", retries: str = "0") -> str:
    return (f"127.0.0.1:1 [05/Dec/2026:03:44:15.412] {frontend} {backend}/{server} 0/0/1/2/{ta} {status} 10 - - "
            f'{state} 1/1/0/0/{retries} 0/0 "GET / HTTP/1.1"')


def raw_tally(**more: Any) -> Tally:
    tally = Tally(fold_every=0, config=LogsConfig(ring="r", format="httplog", servers=True, **more))
    tally.set_known(Known(frozenset({"fe"}), frozenset({"be"}), frozenset({("be", "s1")})))
    return tally


def test_names_show_stat_does_not_have_are_counted_not_exported() -> None:
    tally = raw_tally()
    tally.feed(block([httplog(frontend="evil"), httplog(backend="evil"), httplog(server="evil"), httplog()]))
    view = tally.view()
    assert view.unexported == {"unknown_proxy": 2, "unknown_server": 1}
    assert sorted(view.codes["frontend"]) == [("fe", 200, 3)]
    assert sorted(view.codes["backend"]) == [("be", 200, 3)]
    assert [(key, sum(c)) for key, c, _ in view.histograms[("server", "total")]] == [(("be", "s1"), 2)]


def test_codes_and_states_haproxy_never_writes_are_counted_apart() -> None:
    tally = raw_tally()
    tally.feed(block([httplog(status="999"), httplog(status="-1", state="CD--"), httplog(state="XY--")]))
    view = tally.view()
    assert view.unexported == {"invalid_code": 1, "invalid_state": 1}
    assert sorted(view.codes["frontend"]) == [("fe", 200, 1)]  # -1: no response, not a code
    assert sorted(view.terminations["frontend"]) == [("fe", "--", 1), ("fe", "CD", 1)]


def test_retries_and_redispatches() -> None:
    tally = raw_tally()
    tally.feed(block([httplog(retries="2"), httplog(retries="+3"), httplog()]))
    view = tally.view()
    assert view.retries == [("be", 5)] and view.redispatches == [("be", 1)]


def test_a_family_holds_at_most_max_series_series() -> None:
    tally = Tally(fold_every=0, config=LogsConfig(ring="r", format="httplog", max_series=2))
    tally.set_known(Known(frozenset({"fe"}), frozenset({"be"}), frozenset()))
    tally.feed(block([httplog(status=str(code)) for code in (200, 201, 202, 203)]))
    view = tally.view()
    assert len(view.codes["frontend"]) == 2 and view.unexported["series_cap"] == 4  # two codes x two scopes


def test_names_that_leave_show_stat_are_let_go() -> None:
    tally = raw_tally()
    tally.feed(block([httplog()]))
    tally.set_known(Known(frozenset({"fe"}), frozenset(), frozenset()))
    view = tally.view()
    assert view.codes["backend"] == [] and view.histograms[("backend", "total")] == []
    assert view.codes["frontend"] == [("fe", 200, 1)]


def test_unreadable_lines_are_counted_by_reason_and_one_of_each_is_logged_once(caplog: Any) -> None:
    tally = Tally(fold_every=0, config=LogsConfig(ring="r", format="httplog", ring_format="rfc3164", maxlen=100))
    tally.set_known(Known(frozenset({"fe"}), frozenset({"be"}), frozenset()))
    header = "<134>Dec  5 03:44:15 localhost haproxy[1]: "
    with caplog.at_level(logging.WARNING, "exporter.logs"):
        tally.feed(block([header + httplog(), "no header", header + "x" * 20, header + "y" * 20,
                          (header + "z" * 100)[:100]]))
        tally.feed(block(["no header either"]))
    view = tally.view()
    assert view.lines == 6 and view.rejected == {"header": 2, "format": 2, "truncated": 1}
    assert len(caplog.records) == 3


@pytest.mark.parametrize("ring_format, notice", [
    ("raw", "2611 events dropped"),  # 2.6
    ("rfc3164", "<133>Dec  5 03:44:15 localhost haproxy[1]: 2537 events dropped\x00"),  # 3.x writes the NUL too
    ("raw", "1 event dropped"),
])
def test_haproxys_notice_of_dropped_lines_is_counted_as_dropped_not_rejected(ring_format: str, notice: str) -> None:
    tally = Tally(fold_every=0, config=LogsConfig(ring="r", format="httplog", ring_format=ring_format))
    tally.set_known(Known(frozenset({"fe"}), frozenset({"be"}), frozenset()))
    tally.feed(block([notice]))
    view = tally.view()
    assert view.dropped == int(notice.split(": ")[-1].split()[0]) and not view.rejected


def test_a_request_the_frontend_answered_itself_counts_for_the_frontend_only() -> None:
    tally = raw_tally()
    tally.feed(block([httplog(backend="fe", server="<NOSRV>")]))  # http-request return: "fe fe/<NOSRV>"
    view = tally.view()
    assert view.codes["frontend"] == [("fe", 200, 1)] and view.codes["backend"] == []
    assert not view.unexported


def test_counts_wait_at_most_fold_every_and_the_reader_folds_them_while_lines_come() -> None:
    now = [100.0]
    tally = Tally(LogsConfig(ring="r", format="httplog"), fold_every=1.0, clock=lambda: now[0])
    tally.set_known(Known(frozenset({"fe"}), frozenset({"be"}), frozenset()))
    tally.feed(block([httplog()]))
    assert tally.view().codes["frontend"] == []  # pending: a poll half a second later does not wait for it
    now[0] += 0.5
    tally.feed(block([httplog()]))
    assert tally.view().lines == 0 and tally.view().codes["frontend"] == []  # read, not yet counted: as of one fold
    now[0] += 0.5  # a second since the first pending count: the reader's next block folds them all
    tally.feed(block([httplog()]))
    assert tally.view().codes["frontend"] == [("fe", 200, 3)] and tally.view().lines == 3
    tally.feed(block([httplog()]))
    now[0] += 1.0  # the stream went quiet: the poll folds what waited a second
    assert tally.view().codes["frontend"] == [("fe", 200, 4)]
