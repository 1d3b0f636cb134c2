"""The log-format compiler (exporter/sources/logs/format.py) on real lines of HAProxy 2.6 to 3.4.

The captures (tests/fixtures/logs/capture.py) hold each format's lines as an ``rfc3164`` ring
kept them, every ring format's dump of the same lines, and ``requests.json``: what the client
asked and got, in order.  Each line must parse, and its fields must agree with what the capture
knows without reading the log: the status the client got, the backend and server the
configuration routes the path to, ``-1`` timers where no server was reached, the slow path's
server time at least its delay, the bytes a TCP client received.
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exporter.runtime.errors import ParseError
from exporter.sources.logs import format as format_module
from exporter.sources.logs.format import (
    BUILTIN_FORMATS,
    REASONS,
    RING_HEADERS,
    LineParser,
    LogLine,
    builtin,
    compile_format,
    strip_header,
    tokenize,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "logs"
VERSIONS = sorted(d.name for d in FIXTURES.iterdir() if d.is_dir())
FORMATS = ("httplog", "httpslog", "httplog-clf", "tcplog", "tcplog-clf", "custom")
CAPTURED = [(v, f) for v in VERSIONS for f in FORMATS if (FIXTURES / v / f"{f}.log").exists()]


def expected(version: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((FIXTURES / version / "requests.json").read_text())
    return result


def custom_format(version: str) -> str:
    found = re.search(r'log-format "(.*)"', (FIXTURES / version / "haproxy.cfg").read_text())
    assert found is not None
    return found.group(1)


def parser(version: str, name: str, ring: str = "rfc3164", maxlen: int | None = None) -> LineParser:
    if name == "custom":
        return compile_format(custom_format(version), ring, maxlen)
    return builtin(name.replace("-", " "), ring, maxlen)


def lines(version: str, file: str) -> list[str]:
    return (FIXTURES / version / file).read_text().splitlines()


def parsed(version: str, name: str) -> list[LogLine]:
    p = parser(version, name)
    out = []
    for line in lines(version, f"{name}.log"):
        result = p.parse(line)
        assert isinstance(result, LogLine), f"{version} {name}: {result}: {line}"
        out.append(result)
    return out


def test_the_captures_cover_the_versions_and_formats() -> None:
    assert {"2.6.12", "2.8.25", "3.2.0", "3.4.0"} <= set(VERSIONS)
    assert {f for _, f in CAPTURED} == set(FORMATS)  # tcplog clf: 3.0 on
    assert {name.replace(" ", "-") for name in BUILTIN_FORMATS} == set(FORMATS) - {"custom"}


@pytest.mark.parametrize("version,name", CAPTURED)
def test_every_captured_line_parses_and_agrees_with_the_client(version: str, name: str) -> None:
    asked = expected(version)["formats"][name]
    got = parsed(version, name)
    assert len(got) == len(asked), "one line per request, in order"
    slow_ms = expected(version)["slow_ms"]
    for line, request in zip(got, asked):
        assert line.frontend == request["frontend"]
        assert line.backend == request["backend"]
        assert line.server == (request["server"] or "<NOSRV>")
        assert line.logasap is False
        assert line.retries is not None and line.redispatched is False
        assert line.termination is not None
        for value in line[9:19]:  # the timers: not reached, or a duration
            assert value is None or value >= 0
        if name in ("tcplog", "tcplog-clf"):
            assert line.status is None and line.t_request is None and line.t_response is None
            assert line.bytes == request["bytes"]
            if request["port"] == "down":
                assert line.termination == "SC" and line.t_connect is None and line.retries == 1
            else:
                assert line.termination == "--" and line.t_connect is not None
            continue
        assert line.status == request["status"]
        assert line.tls is request["tls"]  # every HTTP format here has %ft
        assert line.t_request is not None and line.t_active is not None
        if request["server"] is None:  # <NOSRV>: no queue, no connection, no server response
            assert line.t_queue is None and line.t_connect is None and line.t_response is None
            assert line.termination[1:] in ("R--", "C--")
        elif request["backend"] == "be_down":  # refused, retried once, 503 from HAProxy
            assert line.termination == "SC--" and line.status == 503
            assert line.t_connect is None and line.t_response is None and line.retries == 1
        else:
            assert line.termination == "----" and line.retries == 0
            assert line.t_connect is not None and line.t_response is not None
        if request.get("path") == "/slow":
            assert line.t_response is not None and line.t_response >= slow_ms
        if name == "custom":  # the custom format has every timer
            assert line.t_total is not None and line.t_handshake == 0 and line.t_client is not None


@pytest.mark.parametrize("version", VERSIONS)
def test_the_ring_header_of_every_ring_format_strips(version: str) -> None:
    raw = lines(version, "ring-raw.log")
    assert len(raw) == sum(len(expected(version)["formats"][f]) for f in expected(version)["formats"])
    httplog = builtin("httplog")
    for ring in expected(version)["ring_formats"]:
        held = lines(version, f"ring-{ring}.log")
        assert [strip_header(line, ring) for line in held] == raw, ring
        # the same lines read with the header in the expression: the same fields
        with_header = builtin("httplog", ring)
        for line, message in zip(held[:6], raw[:6]):
            assert with_header.parse(line) == httplog.parse(message), ring
    assert set(expected(version)["ring_formats"]) == set(RING_HEADERS)


def test_a_line_without_the_rings_header_is_a_header_reason() -> None:
    line = lines("2.6.12", "ring-raw.log")[0]
    assert strip_header(line, "rfc3164") is None
    assert builtin("httplog", "rfc3164").parse(line) == "header"
    assert builtin("httplog", "rfc5424").parse("<134>" + line) == "header"


@pytest.mark.parametrize("version", VERSIONS)
def test_a_line_cut_at_maxlen_is_truncated_not_an_exception(version: str) -> None:
    maxlen = expected(version)["cut_maxlen"]
    cut = lines(version, "ring-cut.log")
    assert cut and all(len(line) == maxlen for line in cut)  # every captured line is longer
    for name in FORMATS:
        p = parser(version, name, "rfc3164", maxlen)
        assert {p.parse(line) for line in cut} == {"truncated"}
        assert {parser(version, name).parse(line) for line in cut} == {"format"}  # maxlen unknown


def test_clf_quotes_strings_but_not_numbers_nor_the_client_address() -> None:
    line = lines("2.6.12", "httplog-clf.log")[0]
    assert line.split(": ", 1)[1].startswith('127.0.0.1 - - [')
    assert '"fe_httpclf" "be_return" "<NOSRV>" 0 -1 -1 -1 0 LR--' in line
    got = parser("2.6.12", "httplog-clf").parse(line)
    assert isinstance(got, LogLine)
    assert (got.frontend, got.server, got.t_queue, got.termination) == ("fe_httpclf", "<NOSRV>", None, "LR--")


HTTPLOG = ('127.0.0.1:41000 [05/Dec/2026:03:44:21.559] fe~ be/s1 1/0/0/3/4 200 10 - - ---- 1/1/0/0/0 0/0 '
           '{example.com|Mozilla/5.0 (X11; Linux)} {text/html} "GET /a%20b?x=1 HTTP/1.1"')


@pytest.mark.parametrize("line", [
    HTTPLOG,
    HTTPLOG.replace(" {text/html}", ""),  # only request headers captured
    HTTPLOG.replace("{example.com|Mozilla/5.0 (X11; Linux)} {text/html} ", ""),  # none: the spaces merge
    HTTPLOG.replace("127.0.0.1:41000", "::1:41000"),  # an IPv6 client
    HTTPLOG.replace('"GET /a%20b?x=1 HTTP/1.1"', '"<BADREQ>"'),
])
def test_httplog_with_captured_headers_and_spaces_in_quotes(line: str) -> None:
    got = builtin("httplog").parse(line)
    assert isinstance(got, LogLine), got
    assert (got.frontend, got.tls, got.backend, got.server, got.status, got.bytes) == ("fe", True, "be", "s1", 200, 10)
    assert (got.t_request, got.t_queue, got.t_connect, got.t_response, got.t_active) == (1, 0, 0, 3, 4)


def test_logasap_and_redispatch_marks() -> None:
    got = builtin("tcplog").parse("127.0.0.1:5 [05/Dec/2026:03:44:21.559] fe be/s2 0/1/+5 +127 -- 1/1/0/0/+2 0/0")
    assert isinstance(got, LogLine)
    assert (got.t_total, got.bytes, got.logasap, got.retries, got.redispatched) == (5, 127, True, 2, True)
    assert got.status is None and got.t_request is None and got.tls is False


def test_a_custom_format_with_quoted_samples_spaces_and_literal_percent() -> None:
    p = compile_format('%f "%b" %{+Q}[req.hdr(user-agent)] %ST %{+Q}HU %{+X}cp 100%% %Tt/%Td %[req.hdr(x)]')
    got = p.parse('fe "be" "Mozilla/5.0 (X11; Linux)" 404 "/a b" 1F90 100% 12/-1 free text at the end')
    assert isinstance(got, LogLine), got
    assert (got.frontend, got.tls, got.backend, got.server, got.status) == ("fe", None, "be", None, 404)
    assert (got.t_total, got.t_data, got.bytes, got.termination) == (12, None, None, None)
    assert p.parse('fe "be" "x" 404 "/" 1F90 100 % 12/-1 y') == "format"
    assert p.captured == {"frontend", "backend", "status", "t_total", "t_data"}


def test_a_field_seen_twice_is_read_from_its_first_place() -> None:
    got = compile_format("%f %ST f=%f st=%ST").parse("a 200 f=b st=-1")
    assert isinstance(got, LogLine) and (got.frontend, got.status) == ("a", 200)


def test_separators_merge_and_do_not_follow_an_empty_capture() -> None:
    assert tokenize("%ST   %B") == tokenize("%ST %B")
    p = compile_format("%ST %hr %hs %B")
    assert isinstance(p.parse("200 12"), LogLine)
    assert isinstance(p.parse("200 {a|b} 12"), LogLine)
    assert p.parse("200  12") == "format"


@pytest.mark.parametrize("log_format,problem", [
    ("%ci %[src", "no closing ']'"),
    ("%{+Q ci", "no closing '}'"),
    ("%ci %", "neither an alias"),
    ("%ci % %B", "neither an alias"),
    ("%{+json}o %(b)b", "json encoding"),
    ("%{+cbor}o %B", "cbor encoding"),
    ("just text", "no item"),
    ("%ci %[src]%[dst] %B", "%[src] and %[dst] touch with nothing between them"),  # would backtrack for seconds
    ("%Tw%Tc %B", "%Tw and %Tc touch"),
])
def test_a_format_that_cannot_be_compiled_names_its_problem(log_format: str, problem: str) -> None:
    with pytest.raises(ParseError) as raised:
        compile_format(log_format)
    assert raised.value.reason == "log_format"
    assert problem in str(raised.value) and "\n" not in str(raised.value)


def test_unknown_ring_format_or_builtin_is_refused() -> None:
    with pytest.raises(ParseError, match="ring format 'syslog'"):
        compile_format("%B", "syslog")
    with pytest.raises(ParseError, match="built-in log format 'weblog'"):
        builtin("weblog")


def test_a_sample_expression_may_hold_brackets_and_quotes() -> None:
    p = compile_format('%[date,ltime("%d/%b] ")] %ST')
    assert isinstance(p.parse("05/Dec] 200"), LogLine)


PARSERS = [builtin(name, ring, 200) for name in BUILTIN_FORMATS for ring in ("raw", "rfc3164", "rfc5424")]
REAL = [line for v in VERSIONS for f in ("httplog", "tcplog", "httplog-clf") for line in lines(v, f"{f}.log")]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_any_bytes_give_a_line_or_a_reason(raw: bytes) -> None:
    for p in PARSERS:
        result = p.parse_bytes(raw)
        assert isinstance(result, LogLine) or result in REASONS


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(REAL), st.integers(0, 300), st.integers(0, 40), st.text(max_size=30))
def test_a_real_line_with_a_slice_replaced_gives_a_line_or_a_reason(line: str, at: int, size: int, noise: str) -> None:
    changed = line[:at] + noise + line[at + size:]
    for p in PARSERS:
        result = p.parse(changed)
        assert isinstance(result, LogLine) or result in REASONS
        if isinstance(result, LogLine):
            assert all(v is None or isinstance(v, (int, str)) for v in result)


@pytest.mark.parametrize("name", BUILTIN_FORMATS)
def test_hostile_lines_are_refused_without_backtracking_for_ever(name: str) -> None:
    """Each unquoted item stops at the first character of the literal after it: a line of 1,500
    slashes where httpslog has ``%[a]/%[b]/%[c]/%[d]/%[e]`` is refused at once (with lazy ``.*?``
    items it took seconds; a regression hangs here rather than fails).  A real line with junk
    after it may read: the last item of a format (httpslog's ``%sslc``) takes any text."""
    real = lines("3.4.0", "httpslog.log")[1].split(": ", 1)[1]
    for line in (real.rsplit(" ", 2)[0] + " " + "/" * 1500 + " x", "1/" * 1000, "-" * 2000, real + " /x" * 600):
        result = builtin(name, "raw", 2048).parse(line)
        assert isinstance(result, LogLine) or result in REASONS


def test_names_may_hold_dashes_and_dots_even_next_to_a_dash() -> None:
    got = compile_format("%f-%b-%s %ST").parse("fe.a-b-be:1-srv_2 200")
    assert isinstance(got, LogLine)
    assert (got.frontend, got.backend, got.server) == ("fe.a", "b", "be:1-srv_2")  # the first split that fits


def _strings(alphabet: str, longest: int) -> list[str]:
    return ["".join(chars) for size in range(longest + 1) for chars in itertools.product(alphabet, repeat=size)]


@pytest.mark.parametrize(("ours", "written"), [
    (format_module._NUMBER, r"[+-]?\d+|-"),
    (format_module._TYPED_INT, r"[+-]?\d{1,19}|-"),
])
def test_a_number_is_read_as_its_plain_expression_reads_it(ours: str, written: str) -> None:
    """The number expressions are written digits first for speed: every string of up to 5
    characters over digits, signs, a blank and a letter is matched by them as by the plain
    expression, at every length (what a match backtracking into them may take)."""
    mine, plain = re.compile(f"(?:{ours})", re.ASCII), re.compile(f"(?:{written})", re.ASCII)
    for text in _strings("0+- a", 5):
        assert bool(mine.fullmatch(text)) == bool(plain.fullmatch(text)), text
        assert (mine.match(text) or [None])[0] == (plain.match(text) or [None])[0], text
    long = "1" * 19
    for text in (long, "-" + long, "+" + long, long + "1", "-" + long + "1"):
        assert bool(mine.fullmatch(text)) == bool(plain.fullmatch(text)), text


def test_the_spelled_out_classes_are_the_categories_they_replace() -> None:
    """The spelled-out blanks are \\s under re.ASCII, character for character."""
    blanks = re.compile(f"[{format_module._BLANKS}]", re.ASCII)
    for code in range(256):
        c = chr(code)
        assert bool(blanks.fullmatch(c)) == bool(re.fullmatch(r"\s", c, re.ASCII)), code
