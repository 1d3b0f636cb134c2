"""Property-based tests of the HTTP request path: whatever bytes a client sends, it gets clear
HTTP answers or a counted rejection, the connection ends, nothing escapes to the event loop's
exception handler, and what the server holds for it stays bounded.

Driven two ways: through a real :class:`Server` on loopback (exporter/web/server.py) serving two
targets whose store holds a page built from HAProxy 3.2's captured answers, read back by a
parser of this file's own; and function by function (``request_of`` on h11's events,
``dispatch``, ``wants_gzip``, ``promex_query.parse``).
"""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import h11
import pytest
from httpraw import connect, read_all
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import EMPTY_ANSWERS, answering

from exporter.cli import new_store
from exporter.clock import SYSTEM_CLOCK
from exporter.config import build_config
from exporter.exposition.page import Piece
from exporter.poll.poller import Poller
from exporter.web import promex_query
from exporter.web.config import load_web_config
from exporter.web.negotiate import wants_gzip
from exporter.web.protocol import MAX_HEAD_BYTES, BadRequest, request_of
from exporter.web.routes import ALLOWED_METHODS, Request, Response, dispatch, route_table
from exporter.web.server import Server, start_server

FIXTURES = Path(__file__).parent.parent / "fixtures" / "3.2.0"
ANSWERS = {**EMPTY_ANSWERS, "show info": (FIXTURES / "show-info.txt").read_text(),
           "show stat": (FIXTURES / "show-stat.csv").read_text(),
           "show table": (FIXTURES / "show-table.txt").read_text(),
           "show table fe_main": (FIXTURES / "show-table-fe_main.txt").read_text(),
           "show resolvers": (FIXTURES / "show-resolvers.txt").read_text()}
UNKNOWN = "Unknown command, but maybe one of the following ones is a better match:\n"
# The exporter-toolkit's headers, each on every response (http_server_config.headers).
EXTRA = {"Strict-Transport-Security": "max-age=31536000; includeSubDomains", "X-Content-Type-Options": "nosniff",
         "X-Frame-Options": "deny", "X-XSS-Protection": "1; mode=block", "Content-Security-Policy": "default-src 'none'"}
STATUSES = {200, 400, 404, 405, 408, 431, 501, 503, 505}  # 501: a transfer coding h11 does not know
# The protocol layer's refusals, each counted in Server.counts; a route's own 400 (a query promex
# refuses, a probe without a target) says what was wrong instead of the status's phrase.
PROTOCOL_BODY = b"%s\n"
CONNECTIONS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                              HealthCheck.function_scoped_fixture])
FUNCTIONS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                            HealthCheck.function_scoped_fixture])


class Errors(logging.Handler):
    """ERROR records of the server's logger and asyncio's: an exception that reached the loop."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class Served:
    server: Server
    errors: Errors

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def rejections(self) -> int:
        return sum(self.server.counts.values())


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    web_file = tmp_path_factory.mktemp("web") / "web.yml"
    web_file.write_text("http_server_config:\n  headers:\n" + "".join(f"    {k}: \"{v}\"\n" for k, v in EXTRA.items()))
    config = build_config({
        "web": {"listen_address": "127.0.0.1:0", "read_header_timeout": "2s", "idle_timeout": "2s"},
        "targets": [{"name": "edge1", "address": "/nonexistent/1.sock"}, {"name": "edge2", "address": "/nonexistent/2.sock"}],
        "stick_tables": [{"name": "fe_main"}]})
    store = new_store(config, SYSTEM_CLOCK)
    assert Poller(config, store, connect=answering(lambda command: ANSWERS.get(command, UNKNOWN))).poll_once()
    errors = Errors()
    loggers = [logging.getLogger("exporter.web.server"), logging.getLogger("asyncio")]
    for logger in loggers:
        logger.addHandler(errors)
    server = start_server(config, store, lambda: True, load_web_config(str(web_file)))
    try:
        yield Served(server, errors)
    finally:
        server.shutdown()
        server.server_close()
        for logger in loggers:
            logger.removeHandler(errors)


# ----------------------------------------------------------------------- what a client sends

TOKEN = st.text(st.sampled_from("abcGETHOSTPUT-_.!~*1"), min_size=1, max_size=8)
NOISE = st.binary(max_size=40)
METHODS = st.one_of(st.sampled_from(["GET", "HEAD", "POST", "PUT", "OPTIONS", "get", "G ET", "", "CONNECT"]), TOKEN)
QUERY_PARTS = st.sampled_from(["scope=server", "scope=", "scope", "scope=*", "scope=sticktables", "scope=bogus",
                               "metrics=haproxy_up,-haproxy_server_up", "metrics", "no-maint", "extra-counters",
                               "desc-labels", "target=edge1", "target=edge2", "target=nope", "target=127.0.0.1:9999",
                               "target=", "scope=ser%76er", "%zz", "a=b=c", "#frag", "+", "%00", "%C3%A9", "é"])
QUERIES = st.lists(st.one_of(QUERY_PARTS, TOKEN), max_size=4).map("&".join)
PATHS = st.sampled_from(["/metrics", "/probe", "/", "/healthz", "/-/healthy", "/nope", "/metrics/", "*", "//",
                         "http://x/probe", "https://x", "metrics", "/%2e%2e/", ""])
VERSIONS = st.sampled_from(["HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/1.1x", "HTTP/0.9", "", "http/1.1"])
HEADER_NAMES = st.one_of(st.sampled_from(["Host", "Accept-Encoding", "Content-Length", "Transfer-Encoding",
                                          "Connection", "Authorization", "Expect", "X-Fuzz", "Bad Name", "", "Host "]),
                         TOKEN)
HEADER_VALUES = st.one_of(st.sampled_from([b"gzip", b"gzip;q=0", b"*", b"identity;q=1, gzip;q=0.5", b"chunked",
                                           b"close", b"keep-alive", b"5", b"-1", b"0", b"100-continue", b"x" * 20000,
                                           b"Basic Zm9vOmJhcg==", b"\xff\xfe", b"a\x00b"]), NOISE)
EOLS = st.sampled_from([b"\r\n", b"\r\n", b"\n", b"\r", b""])


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    """One request-shaped message: line, headers, blank line, maybe a body, with flaws drawn in."""
    eol = draw(EOLS)
    query = draw(QUERIES)
    target = draw(PATHS) + ("?" + query if query or draw(st.booleans()) else "")
    line = f"{draw(METHODS)} {target} {draw(VERSIONS)}".encode("utf-8")
    headers = [(b"Host", b"127.0.0.1")] if draw(st.booleans()) else []
    headers += draw(st.lists(st.tuples(HEADER_NAMES.map(lambda n: n.encode()), HEADER_VALUES), max_size=4))
    head = line + eol + b"".join(name + b": " + value + eol for name, value in headers) + eol
    return head + draw(st.one_of(st.just(b""), NOISE))


@st.composite
def streams(draw: st.DrawFn) -> bytes:
    """What one connection sends before it closes its side: messages pipelined, cut, or noise."""
    data = b"".join(draw(st.lists(messages(), min_size=1, max_size=3)))
    how = draw(st.sampled_from(["whole", "whole", "cut", "insert", "noise"]))
    if how == "cut":
        return data[:draw(st.integers(0, len(data)))]
    if how == "insert":
        at = draw(st.integers(0, len(data)))
        return data[:at] + draw(NOISE) + data[at:]
    if how == "noise":
        return draw(st.binary(max_size=300))
    return data


# ----------------------------------------------------------------------- what the server answers

_STATUS_LINE = re.compile(rb"HTTP/1\.1 ([0-9]{3}) [A-Za-z -]+")


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def named(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]


def replies(raw: bytes) -> list[Reply]:
    """Every response in ``raw``, read strictly: a status line, headers, Content-Length bytes of body
    (none after a HEAD's, seen as the next response starting at once), nothing else left over."""
    found: list[Reply] = []
    while raw:
        head, sep, rest = raw.partition(b"\r\n\r\n")
        assert sep, f"an unfinished response head: {raw[:200]!r}"
        status_line, *lines = head.split(b"\r\n")
        m = _STATUS_LINE.fullmatch(status_line)
        assert m, f"not a status line: {status_line[:100]!r}"
        headers = []
        for line in lines:
            name, colon, value = line.partition(b":")
            assert colon and re.fullmatch(rb"[A-Za-z0-9-]+", name), f"not a header: {line[:100]!r}"
            assert re.fullmatch(rb" [\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?", value), f"bad value: {line[:100]!r}"
            headers.append((name.decode(), value[1:].decode()))
        reply = Reply(int(m.group(1)), headers, b"")
        lengths = reply.named("Content-Length")
        assert len(lengths) == 1 and lengths[0].isdigit(), headers
        length = int(lengths[0])
        if rest.startswith(b"HTTP/1.1 ") or not rest:  # the answer to a HEAD
            raw = rest
        else:
            assert len(rest) >= length, f"a body cut short: {len(rest)} of {length} bytes"
            reply.body, raw = rest[:length], rest[length:]
        found.append(reply)
    return found


def exchange(served: Served, data: bytes) -> tuple[list[Reply], int]:
    """Send ``data``, close our side, read until the server closes: (its replies, new rejections)."""
    before = served.rejections()
    with connect(served.port) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:  # refused and closed while we were still sending: what it wrote is read below
            pass
        answer = read_all(sock, wait=15)  # only a connection the server never ends reaches this
    assert answer.closed, f"the server neither answered nor closed: {answer.raw[:200]!r}"
    return replies(answer.raw), served.rejections() - before


def is_rejection(reply: Reply) -> bool:
    phrase = {400: b"Bad Request", 408: b"Request Timeout", 431: b"Request Header Fields Too Large",
              501: b"Not Implemented", 505: b"HTTP Version Not Supported"}.get(reply.status)
    return phrase is not None and reply.body == PROTOCOL_BODY % phrase


def check_replies(got: list[Reply], rejected: int, served: Served) -> None:
    assert served.errors.records == [], [r.getMessage() for r in served.errors.records]
    for reply in got:
        assert reply.status in STATUSES, reply
        assert len(reply.named("Date")) == len(reply.named("Server")) == len(reply.named("Content-Type")) == 1
        assert not reply.named("Transfer-Encoding")
        for name, value in EXTRA.items():
            assert reply.named(name) == [value], (name, reply.headers)
    if any(is_rejection(reply) for reply in got):
        assert rejected >= 1, "a rejection that was not counted"
    closes = [n for n, reply in enumerate(got) if reply.named("Connection") == ["close"]]
    assert not closes or closes[0] == len(got) - 1, "an answer after the connection was to close"


@CONNECTIONS
@given(streams())
def test_any_bytes_get_clear_answers_or_a_counted_rejection_and_the_connection_ends(served: Served,
                                                                                    data: bytes) -> None:
    got, rejected = exchange(served, data)
    check_replies(got, rejected, served)


@CONNECTIONS
@given(st.lists(st.tuples(st.sampled_from(["GET", "HEAD"]), st.sampled_from(
    ["/metrics", "/probe?target=edge1", "/probe?target=edge2&scope=server", "/probe?target=edge1&scope=bogus",
     "/healthz", "/", "/nope", "/probe?target=x"]), st.sampled_from(["gzip", "identity", "gzip;q=0", ""])),
    min_size=1, max_size=4))
def test_well_formed_pipelined_requests_each_get_one_answer_in_order(served: Served,
                                                                     requests: list[tuple[str, str, str]]) -> None:
    data = b"".join(f"{method} {target} HTTP/1.1\r\nHost: x\r\nAccept-Encoding: {coding}\r\n\r\n".encode()
                    for method, target, coding in requests)
    got, rejected = exchange(served, data)
    check_replies(got, rejected, served)
    expected = [expected_status(target) for _, target, _ in requests]
    if 400 in expected:  # the connection closes after a 400: what was pipelined behind it is not read
        expected = expected[:expected.index(400) + 1]
    assert [r.status for r in got] == expected
    assert rejected == 0
    for (method, _, _), reply in zip(requests, got):
        assert reply.body == b"" if method == "HEAD" else int(reply.named("Content-Length")[0]) == len(reply.body)


def test_thousands_of_pipelined_requests_in_one_write_are_each_answered(served: Served) -> None:
    """Found by the memory test below: each pipelined request was answered from inside the send of
    the previous answer, a call chain as deep as the requests already read (asyncio reads 256 KiB
    at a time: ~7,000 of these), so RecursionError reached the event loop and the client got a
    reset instead of its answers."""
    count = 5000
    got, rejected = exchange(served, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * count)
    check_replies(got, rejected, served)
    assert [r.status for r in got] == [200] * count and rejected == 0


def expected_status(target: str) -> int:
    """What each route answers, from the docs (README: /probe, promex's scope errors)."""
    path, _, query = target.partition("?")
    if path not in ("/metrics", "/probe", "/healthz", "/"):
        return 404
    if path == "/probe":
        if "target=edge" not in query:
            return 404
        return 400 if "scope=bogus" in query else 200
    return 200


def test_the_reply_reader_is_strict() -> None:
    """The checks above can fail: two lengths, a body cut short, text after the last reply."""
    good = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    assert [r.status for r in replies(good + good)] == [200, 200]
    for bad in (good.replace(b"\r\n\r\n", b"\r\nContent-Length: 2\r\n\r\n"), good[:-1], good + b"junk",
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: \x01\r\n\r\nok"):
        with pytest.raises(AssertionError):
            replies(bad)


# ----------------------------------------------------------------------- memory

# What a client's bytes can make the server hold: h11 keeps at most MAX_HEAD_BYTES of an
# incomplete head, plus the one read (asyncio's 256 KiB) that crossed it, and reading stays
# paused while an answer is sent and until the requests already read are answered.  32 clients
# at once, each sending 1 MiB, are therefore ~9 MiB at the very worst: the bound asserted is
# twice that.  The pipelining client never reads its answers: the server must stop reading it,
# not buffer its 1 MiB.
HOSTILE_CLIENTS = 32
CLIENT_BYTES = 1 << 20
MEMORY_BOUND = 2 * HOSTILE_CLIENTS * (256 * 1024 + MAX_HEAD_BYTES)
HOSTILE = {
    "no newline": b"G" * CLIENT_BYTES,
    "endless headers": b"GET /metrics HTTP/1.1\r\n" + b"X-A: b\r\n" * (CLIENT_BYTES // 8),
    "one huge header line": b"GET /metrics HTTP/1.1\r\nX-A: " + b"a" * CLIENT_BYTES,
    "pipelining, never reading": b"GET /probe?target=edge1 HTTP/1.1\r\nHost: x\r\n\r\n" * (CLIENT_BYTES // 50),
    "endless body": b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n" + b"b" * CLIENT_BYTES,
}


def hostile_client(port: int, data: bytes, reads: bool) -> None:
    with socket.socket() as sock:
        if not reads:  # a small window: the server's answers fill it at once and its writes wait
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(15 if reads else 1)
        sock.connect(("127.0.0.1", port))
        try:
            sock.sendall(data)  # the one that never reads gives up once the server stops taking bytes
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            return  # refused at the head limit (the server closed on us), or stalled for 1 s
        if not reads:
            time.sleep(1)  # all sent: hold the connection, unread, while the others run
        while reads:  # read (and drop) whatever comes back, until the server closes
            try:
                if not sock.recv(1 << 16):
                    return
            except OSError:
                return


@pytest.mark.parametrize("shape", sorted(HOSTILE))
def test_hostile_clients_cost_bounded_memory(served: Served, shape: str) -> None:
    reads = not shape.endswith("never reading")
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        clients = [threading.Thread(target=hostile_client, args=(served.port, HOSTILE[shape], reads))
                   for _ in range(HOSTILE_CLIENTS)]
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join(60)
        peak = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()
    assert not any(thread.is_alive() for thread in clients), "a client was never answered or closed"
    assert served.errors.records == []
    print(f"{shape}: {peak / 2**20:.2f} MiB traced at the peak")  # for the report (pytest -s)
    assert peak < MEMORY_BOUND, f"{shape}: {peak / 2**20:.1f} MiB traced at the peak"


# ----------------------------------------------------------------------- function by function

@FUNCTIONS
@given(st.one_of(streams(), st.binary(max_size=500)))
def test_request_of_gives_a_request_or_bad_request_for_whatever_h11_lets_through(data: bytes) -> None:
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
    conn.receive_data(data)
    conn.receive_data(b"")
    try:
        event = conn.next_event()
    except h11.RemoteProtocolError:
        return  # the protocol layer answers h11's own refusals (error_status_hint)
    if not isinstance(event, h11.Request):
        return
    try:
        request = request_of(event)
    except BadRequest as exc:
        assert exc.status in (400, 431, 505)
        return
    assert request.path.startswith("/") and "?" not in request.path
    assert all(name == name.lower() for name in request.headers)


REQUESTS = st.builds(
    Request, method=st.one_of(st.sampled_from(["GET", "HEAD", "POST"]), st.text(max_size=8)),
    path=st.one_of(PATHS, st.text(max_size=20)), query=st.one_of(QUERIES, st.text(max_size=40)),
    headers=st.dictionaries(st.sampled_from(["accept-encoding", "authorization", "host", "x"]), st.text(max_size=30)))


@FUNCTIONS
@given(REQUESTS, st.booleans())
def test_dispatch_answers_any_request_with_a_response_h11_can_send(served: Served, request: Request,
                                                                   authorized: bool) -> None:
    config = served.server.config
    table = route_table(config, served.server.store, lambda: True)
    response = dispatch(request, table, authorized)
    assert isinstance(response, Response) and response.status in STATUSES | {401}
    assert response.status != 401 or not authorized
    assert response.status != 405 or request.method not in ALLOWED_METHODS
    # h11 sends header text as ASCII: what it cannot encode would be an exception per request
    h11.Response(status_code=response.status, headers=response.headers)
    assert all(isinstance(chunk, (bytes, memoryview)) for chunk in response.body)


@FUNCTIONS
@given(st.text(max_size=80))
def test_accept_encoding_of_any_text_is_a_yes_or_no(header: str) -> None:
    assert isinstance(wants_gzip(header), bool)
    # The first element naming a coding gives its weight (RFC 9110 §12.5.3 leaves repeats open):
    # gzip refused first stays refused whatever follows.
    assert wants_gzip("gzip;q=0, " + header) is False


PIECES = st.builds(Piece, name=st.one_of(st.sampled_from(["haproxy_up", "haproxy_server_up", "haproxy_backend_x",
                                                        "haproxy_sticktable_size", "haproxy_resolver_sent"]),
                                       st.text(max_size=20)),
                  scope=st.sampled_from([*promex_query.SCOPES, "exporter", "other"]),
                  maint=st.booleans(), extra=st.booleans(), text=st.just(b""))


@FUNCTIONS
@given(st.one_of(QUERIES, st.text(max_size=60)), st.lists(PIECES, max_size=5))
def test_any_query_is_a_selection_or_a_query_error(query: str, pieces: list[Piece]) -> None:
    try:
        selection = promex_query.parse(query)
    except promex_query.QueryError as exc:
        assert str(exc)
        return
    if selection is None:
        assert not any(key in promex_query.PROMEX_KEYS for key, _ in promex_query.parameters(query))
        return
    for piece in pieces:
        assert isinstance(selection.keeps(piece), bool)
