"""``show errors`` on captures of 2.6.12, 2.8.25, 3.2.0 and 3.4.0: the process counter and each
proxy's last captured error, its time made Unix time on HAProxy's own clock; payload never read."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import pytest
from exposition import samples, types, value

from exporter.config import build_config
from exporter.exposition.render import render
from exporter.runtime.errors import ParseError
from exporter.sources.errors.model import error_families
from exporter.sources.errors.parse import local_time, parse_errors
from exporter.sources.errors.source import ErrorsSource
from exporter.validation import ConfigError

FIXTURES = Path(__file__).parent.parent / "fixtures"
VERSIONS = ["2.6.12", "2.8.25", "3.2.0", "3.4.0"]


def utc(text: str) -> float:
    """A capture's local time read as UTC (the capturing machine ran in UTC), independently."""
    return datetime.strptime(text, "%d/%b/%Y:%H:%M:%S.%f").replace(tzinfo=timezone.utc).timestamp()


@pytest.mark.parametrize("version", VERSIONS)
def test_the_count_and_each_proxys_last_error(version: str) -> None:
    text = (FIXTURES / version / "show-errors.txt").read_text()
    dump = parse_errors(text)
    now = re.match(r"Total events captured on \[(.*?)\] : (\d+)", text)
    assert now is not None
    out = render(error_families(dump, utc(now.group(1))))  # as if sent when HAProxy said "now"
    got = samples(out)
    assert value(got, "haproxy_process_captured_errors_total") == int(now.group(2)) == 3
    headers = re.findall(r"^\[(.*?)\] (frontend|backend) (\S+) \(#\d+\): invalid (request|response)$", text, re.M)
    assert len(headers) == 3
    for when, side, proxy, _ in headers:
        exported = value(got, f"haproxy_{side}_last_captured_error_timestamp_seconds", proxy=proxy)
        assert exported == pytest.approx(utc(when), abs=0.0005), (side, proxy)
    assert {k for k in got if "last_captured" in k[0]} == {
        ("haproxy_frontend_last_captured_error_timestamp_seconds", (("proxy", "fe_web"),)),
        ("haproxy_frontend_last_captured_error_timestamp_seconds", (("proxy", "fe_other"),)),
        ("haproxy_backend_last_captured_error_timestamp_seconds", (("proxy", "be_bad"),))}
    assert types(out)["haproxy_process_captured_errors"] == "counter"
    assert "demo" not in out and "Token" not in out  # the captured bytes stay out of the exposition


def test_a_zone_other_than_the_exporters_gives_the_same_unix_time() -> None:
    # HAProxy at UTC+2: its clock and its entries are two hours ahead; the age is the same.
    text = "Total events captured on [02/Dec/2026:16:00:10.000] : 1\n \n" \
           "[02/Dec/2026:16:00:00.500] frontend fe (#2): invalid request\n" \
           "  backend <NONE> (#-1), server <NONE> (#-1), event #0, src 127.0.0.1:1\n"
    sent = utc("02/Dec/2026:14:00:10.000")
    got = samples(render(error_families(parse_errors(text), sent)))
    assert value(got, "haproxy_frontend_last_captured_error_timestamp_seconds", proxy="fe") == sent - 9.5


@pytest.mark.parametrize("version", VERSIONS)
def test_no_error_is_the_counter_alone(version: str) -> None:
    dump = parse_errors((FIXTURES / version / "show-errors-empty.txt").read_text())
    assert (dump.total, dump.entries) == (0, ())
    assert [f.name for f in error_families(dump, 0.0)] == ["haproxy_process_captured_errors_total"]


def test_payload_lines_that_look_like_headers_are_not_read() -> None:
    # What a client sent is dumped on indented, offset lines; a "[date] frontend" inside is bytes.
    text = "Total events captured on [02/Dec/2026:16:00:10.000] : 1\n \n" \
           "[02/Dec/2026:16:00:00.500] frontend fe (#2): invalid request\n" \
           "  backend <NONE> (#-1), server <NONE> (#-1), event #0, src 127.0.0.1:1\n" \
           "  00000  [02/Dec/2026:16:00:00.500] frontend evil (#2): invalid request\\r\\n\n"
    assert [e.proxy for e in parse_errors(text).entries] == ["fe"]


def test_an_entry_header_not_as_expected_is_malformed_and_not_quoted() -> None:
    text = "Total events captured on [02/Dec/2026:16:00:10.000] : 1\n \n" \
           "[02/Dec/2026:16:00:00.500] frontend fe (#2): something new secret=1\n"
    with pytest.raises(ParseError) as caught:
        parse_errors(text)
    assert caught.value.reason == "malformed" and "secret" not in str(caught.value)


@pytest.mark.parametrize("answer, reason", [
    ("Permission denied\n", "permission_denied"),  # a level user socket, every version
    ("Unknown command, but maybe one of the following ones is a better match:\n", "unknown_command"),
    ("", "unexpected_response"),
])
def test_an_error_answer_is_refused(answer: str, reason: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_errors(answer)
    assert caught.value.reason == reason


def test_month_names_do_not_depend_on_the_locale() -> None:
    assert local_time("29/Feb/2028:23:59:59.999") == datetime(2028, 2, 29, 23, 59, 59, 999000)


def test_off_by_default_and_on_by_config() -> None:
    off = ErrorsSource(build_config({}).section("errors"))
    assert off.commands() == () and off.needed_level() == "user"
    on = ErrorsSource(build_config({"errors": {"enabled": True}}).section("errors"))
    assert [c.text for c in on.commands()] == ["show errors"] and on.needed_level() == "operator"


@pytest.mark.parametrize("section, message", [
    ({"enabled": "yes"}, "errors.enabled: expected true or false"),
    ({"enable": True}, "errors.enable: unknown key"),
    (True, "errors: expected a mapping"),
])
def test_config_mistakes_name_the_key(section, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        build_config({"errors": section})
