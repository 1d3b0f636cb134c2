"""``show ssl ocsp-updates`` on captures of 2.8.25, 3.2.0 and 3.4.0 (tests/fixtures/ocsp/capture_updates.py):
one certificate whose OCSP responder answers (updated), one whose responder port is closed (failing),
captured with HAProxy in a +0530 time zone; and 2.6.12, which does not know the command.

The expected values are the test's own reading of the capture (``str.split`` and ``datetime.strptime``).
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

import pytest
from exposition import samples, types, value
from support import EMPTY_ANSWERS, FakeClock, answering, promtool_check_metrics

from exporter.config import Config
from exporter.exposition.render import render
from exporter.poll.poller import Poller
from exporter.poll.process import Process
from exporter.poll.snapshot import Store
from exporter.runtime.errors import ParseError
from exporter.sources.ocsp_updates.model import ocsp_update_families
from exporter.sources.ocsp_updates.parse import log_time, parse_ocsp_updates
from exporter.sources.values import ModelStats

FIXTURES = Path(__file__).parent.parent / "fixtures"
VERSIONS = ["2.8.25", "3.2.0", "3.4.0"]
PREFIX = "haproxy_ssl_ocsp_update_"
HEADER = ("OCSP Certid | Path | Next Update | Last Update | Successes | Failures | Last Update Status"
          " | Last Update Status (str)")
# HAProxy's OCSP_UPDT_* numbers as src/ssl_ocsp.c names them, and the state each one is here
STATES = {"0": "unknown", "1": "successful", "2": "http_error", "3": "missing_header", "4": "check_failure",
          "5": "insert_error"}


def captured(version: str, name: str = "show-ssl-ocsp-updates.txt") -> str:
    return (FIXTURES / version / name).read_text()


def rows(text: str) -> list[dict[str, str]]:
    lines = [line for line in text.split("\n") if line.strip()]
    names = [c.strip() for c in lines[0].split("|")]
    return [dict(zip(names, (c.strip() for c in line.split("|")))) for line in lines[1:]]


def epoch(text: str) -> int:
    return int(datetime.strptime(text, "%d/%b/%Y:%H:%M:%S %z").timestamp())


def exported(text: str) -> tuple[dict, ModelStats, str]:
    stats = ModelStats()
    page = render(ocsp_update_families(parse_ocsp_updates(text), stats))
    return samples(page), stats, page


@pytest.mark.parametrize("version", VERSIONS)
def test_each_certificate_as_the_capture_says(version: str) -> None:
    text = captured(version)
    got, stats, page = exported(text)
    table = rows(text)
    assert {r["Path"] for r in table} == {"/etc/haproxy/certs/good.example.pem", "/etc/haproxy/certs/fail.example.pem"}
    assert "+0530" in text  # captured in a zone that is not UTC: the offset must be applied
    for row in table:
        file = row["Path"]
        assert value(got, PREFIX + "successes_total", file=file) == int(row["Successes"])
        assert value(got, PREFIX + "failures_total", file=file) == int(row["Failures"])
        assert value(got, PREFIX + "next_update_timestamp_seconds", file=file) == epoch(row["Next Update"])
        last = value(got, PREFIX + "last_update_timestamp_seconds", file=file)
        assert last == (None if row["Last Update"] == "-" else epoch(row["Last Update"]))
        for number, state in STATES.items():
            assert value(got, PREFIX + "status", file=file, state=state) == (number == row["Last Update Status"])
    good = "/etc/haproxy/certs/good.example.pem"
    fail = "/etc/haproxy/certs/fail.example.pem"
    assert value(got, PREFIX + "successes_total", file=good) >= 1  # the updater did run
    assert value(got, PREFIX + "failures_total", file=fail) >= 1
    assert value(got, PREFIX + "status", file=good, state="successful") == 1
    assert value(got, PREFIX + "status", file=fail, state="http_error") == 1
    assert value(got, PREFIX + "last_update_timestamp_seconds", file=fail) is None
    assert stats == ModelStats()
    assert types(page)[PREFIX + "successes"] == "counter"
    assert promtool_check_metrics(page) == []


@pytest.mark.parametrize("version", VERSIONS)
def test_no_certificate_with_ocsp_update_is_no_series(version: str) -> None:
    text = captured(version, "show-ssl-ocsp-updates-empty.txt")
    assert text.startswith("OCSP Certid")
    assert parse_ocsp_updates(text).rows == ()
    assert ocsp_update_families(parse_ocsp_updates(text), ModelStats()) == []
    assert parse_ocsp_updates(EMPTY_ANSWERS["show ssl ocsp-updates"]).rows == ()


def test_level_user_is_refused_by_3_4_and_answered_by_older_versions() -> None:
    with pytest.raises(ParseError) as caught:
        parse_ocsp_updates(captured("3.4.0", "user-show-ssl-ocsp-updates.txt"))
    assert caught.value.reason == "permission_denied"
    for version in ("2.8.25", "3.2.0"):
        assert parse_ocsp_updates(captured(version, "user-show-ssl-ocsp-updates.txt")) == parse_ocsp_updates(
            captured(version))


def test_2_6_does_not_know_the_command() -> None:
    with pytest.raises(ParseError) as caught:
        parse_ocsp_updates(captured("2.6.12"))
    assert caught.value.reason == "unknown_command"


def test_columns_are_found_by_name_and_odd_rows_are_counted() -> None:
    text = "\n".join((
        "OCSP Certid | Path | Something New | Next Update | Last Update | Successes | Failures | Last Update Status"
        " | Last Update Status (str)",
        "ab | /a.pem | x | 01/Jan/2027:00:00:00 -0130 | - | 0 | 4 | 4 | OCSP response check failure (bad | signature)",
        "cd | /b.pem | x | 01/Jan/2027:00:00:00 +0000 | 01/Jan/2027:00:00:00 +0000 | 1 | 0 | 9 | Something else",
        "ef | /a.pem | x | 01/Jan/2027:00:00:00 +0000 | - | 0 | 0 | 0 | Unknown",
        "gh | /short.pem | 3",
        "",
    ))
    parsed = parse_ocsp_updates(text)
    assert parsed.rows[0].status_text == "OCSP response check failure (bad | signature)"
    assert parsed.malformed == ("gh | /short.pem | 3",)
    got, stats, _ = exported(text)
    assert value(got, PREFIX + "next_update_timestamp_seconds", file="/a.pem") == epoch("01/Jan/2027:00:00:00 -0130")
    assert value(got, PREFIX + "failures_total", file="/a.pem") == 4  # the first /a.pem row, not the second
    assert value(got, PREFIX + "status", file="/a.pem", state="check_failure") == 1
    assert value(got, PREFIX + "successes_total", file="/b.pem") == 1
    assert not [k for k in got if k[0] == PREFIX + "status" and ("file", "/b.pem") in k[1]]  # status 9: unknown here
    assert stats.ignored == {("OCSP update row", "malformed"): 1, ("OCSP update row", "duplicate_file"): 1,
                             ("OCSP update status", "unknown"): 1}
    assert [k for k in got if ("file", "/short.pem") in k[1]] == []


def test_dates() -> None:
    assert log_time("02/Dec/2026:20:10:44 +0530") == epoch("02/Dec/2026:20:10:44 +0530")
    assert log_time("02/Dec/2026:14:40:44 +0000") == log_time("02/Dec/2026:20:10:44 +0530")
    assert log_time("-") is None
    assert log_time("31/Feb/2026:00:00:00 +0000") is None
    assert log_time("02/Foo/2026:00:00:00 +0000") is None
    with pytest.raises(ParseError):
        parse_ocsp_updates("OCSP Certid | Certificate | Next Update\n")  # no Path column: not the table known here
    with pytest.raises(ParseError) as caught:
        parse_ocsp_updates("")
    assert caught.value.reason == "unexpected_response"


# ------------------------------------------------------------------ an optional source on an HAProxy without it

def _poller(answers: dict[str, str], clock: FakeClock) -> tuple[Poller, Store, list[str]]:
    sent: list[str] = []

    def fetch(command: str) -> str:
        sent.append(command)
        return answers.get(command, "")

    store = Store(30, clock)
    return Poller(Config(), store, connect=answering(fetch), clock=clock), store, sent


def _served(store: Store) -> dict:
    return samples(b"".join(p.text for p in store.parts()).decode())


def test_an_unknown_command_of_an_optional_source_is_no_error_and_asked_again_rarely(caplog) -> None:
    answers = {"show info": captured("2.6.12", "show-info.txt"), "show stat": captured("2.6.12", "show-stat.csv"),
               **EMPTY_ANSWERS, "show ssl ocsp-updates": captured("2.6.12")}
    clock = FakeClock()
    poller, store, sent = _poller(answers, clock)
    with caplog.at_level(logging.DEBUG, logger="exporter"):
        for _ in range(3):
            assert poller.poll_once()
            clock.now += 60
    got = _served(store)
    assert sent.count("show ssl ocsp-updates") == 1
    assert value(got, "haproxy_exporter_source_success", source="ocsp_updates") == 1
    assert value(got, "haproxy_exporter_command_success", command="show ssl ocsp-updates") == 1
    assert not [k for k in got if k[0] == "haproxy_exporter_command_errors_total"
                and ("command", "show ssl ocsp-updates") in k[1]]
    assert not [k for k in got if k[0].startswith(PREFIX)]
    said = [r for r in caplog.records if "show ssl ocsp-updates" in r.getMessage()]
    assert [r.levelno for r in said] == [logging.INFO]
    assert "does not know" in said[0].getMessage()

    clock.now += Process.RECHECK_SECONDS  # later, the same socket served by an upgraded HAProxy
    answers["show ssl ocsp-updates"] = captured("2.8.25")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="exporter"):
        assert poller.poll_once()
    assert sent.count("show ssl ocsp-updates") == 2
    assert value(_served(store), PREFIX + "failures_total", file="/etc/haproxy/certs/fail.example.pem") == 2
    assert [r.levelno for r in caplog.records if "now answers" in r.getMessage()] == [logging.INFO]


def test_other_answers_of_an_optional_source_and_unknown_commands_of_others_still_count() -> None:
    answers = {"show info": captured("2.6.12", "show-info.txt"), "show stat": captured("2.6.12", "show-stat.csv"),
               **EMPTY_ANSWERS, "show ssl ocsp-updates": "Permission denied\n", "show peers": captured("2.6.12")}
    poller, store, sent = _poller(answers, FakeClock())
    assert poller.poll_once()
    assert poller.poll_once()
    got = _served(store)
    assert sent.count("show ssl ocsp-updates") == 2
    assert value(got, "haproxy_exporter_command_errors_total", command="show ssl ocsp-updates",
                 reason="permission_denied") == 2
    assert value(got, "haproxy_exporter_source_success", source="ocsp_updates") == 0
    # show peers is not optional: "Unknown command" there is still an error (a master CLI, a wrong socket)
    assert value(got, "haproxy_exporter_command_errors_total", command="show peers", reason="unknown_command") == 2
