"""Strict HTTP/1.1 on the exporter's own server, in front of a poll of a real HAProxy.

Each malformed or smuggling-shaped request gets a plain-text 4xx/5xx and the connection is
closed, so nothing after it on the same connection is ever read as a request.
"""

from __future__ import annotations

import gzip
import re
from typing import Callable, Iterator

import pytest
from exposition import samples, value
from httpraw import connect, exchange, get
from support import ADMIN_HTTP_HEAD, wait_for

from exporter.cli import new_store
from exporter.clock import SYSTEM_CLOCK
from exporter.config import build_config
from exporter.poll.poller import Poller
from exporter.web.server import Server, start_server

# The exporter's own side is under test here; HAProxy only gives it a page to serve.
pytestmark = pytest.mark.one_haproxy

CFG = ADMIN_HTTP_HEAD + """
frontend fe_web
    bind 127.0.0.1:{p0}
    http-request return status 200 content-type text/plain string ok
"""


@pytest.fixture
def served(haproxy_factory) -> Iterator[Callable[..., Server]]:
    """Start the server with ``web.*`` overrides over a store filled by one real poll."""
    hap = haproxy_factory(CFG, nports=1)
    servers: list[Server] = []

    def start(poll: bool = True, **web: object) -> Server:
        config = build_config({"haproxy": {"address": hap.admin},
                               "web": {"listen_address": "127.0.0.1:0", **web}})
        store = new_store(config, SYSTEM_CLOCK)
        if poll:
            assert Poller(config, store).poll_once()
        servers.append(start_server(config, store, lambda: True))
        return servers[-1]

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def port(served) -> int:
    return served().server_address[1]


BAD = [
    ("garbage request line", b"\x16\x03\x01\x02\x00garbage\r\n\r\n", 400),
    ("HTTP/0.9 request", b"GET /metrics\r\n", 400),
    ("HTTP/0.9 request with blank line", b"GET /metrics\r\n\r\n", 400),
    ("unknown HTTP version", b"GET /metrics HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    ("two different Content-Lengths",
     b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400),
    ("Transfer-Encoding on GET", b"GET /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("GET whose body is a second request",
     b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 34\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("space before the colon", b"GET /metrics HTTP/1.1\r\nHost : x\r\n\r\n", 400),
    ("missing Host", b"GET /metrics HTTP/1.1\r\n\r\n", 400),
    ("two Host headers", b"GET /metrics HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    ("target not a path", b"GET metrics HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("head too large", b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n", 431),
    ("POST with a body", b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", 405),
]


@pytest.mark.parametrize("name,data,status", BAD, ids=[b[0] for b in BAD])
def test_malformed_requests_get_a_plain_error_and_the_connection_closed(port: int, name: str, data: bytes,
                                                                        status: int) -> None:
    answer = exchange(port, data)
    assert answer.raw.startswith(f"HTTP/1.1 {status} ".encode()), answer.raw[:200]
    assert answer.headers["content-type"].startswith("text/plain")
    assert answer.headers["connection"] == "close"
    assert answer.closed
    assert answer.responses() == 1  # nothing smuggled behind it was answered
    assert b"haproxy_up" not in answer.raw


def test_bad_requests_are_counted_and_the_server_keeps_serving(served) -> None:
    server = served()
    port = server.server_address[1]
    for _name, data, _status in BAD:
        exchange(port, data)
    assert server.counts["bad_request"] == len(BAD) - 1  # the POST is a valid request (405), not a bad one
    answer = exchange(port, get())
    assert answer.status == 200 and value(samples(answer.body.decode()), "haproxy_up") == 1


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE"])
def test_methods_other_than_get_and_head_get_405_with_allow(port: int, method: str) -> None:
    answer = exchange(port, get("/metrics", method=method))
    assert answer.status == 405
    assert answer.headers["allow"] == "GET, HEAD"


def test_unknown_paths_get_404_whatever_the_method(port: int) -> None:
    assert exchange(port, get("/nope")).status == 404
    assert exchange(port, get("/nope", method="POST")).status == 404
    assert exchange(port, get("/metrics/")).status == 404


def test_head_has_the_length_of_get_and_no_body(port: int) -> None:
    full = exchange(port, get())
    head = exchange(port, get(method="HEAD"))
    assert head.status == 200 and head.body == b""
    assert int(head.headers["content-length"]) == int(full.headers["content-length"]) == len(full.body)


def test_pipelined_requests_are_answered_in_order(port: int) -> None:
    answer = exchange(port, get("/healthz", close=False) + get("/nope", close=False) + get("/"))
    assert re.findall(rb"HTTP/1\.1 (\d{3}) ", answer.raw) == [b"200", b"404", b"200"]
    assert answer.closed


def test_keep_alive_serves_several_requests_on_one_connection(port: int) -> None:
    with connect(port) as sock:
        for _ in range(3):
            sock.sendall(get("/healthz", close=False))
            assert sock.recv(65536).startswith(b"HTTP/1.1 200 OK\r\n")


def test_http10_gets_an_answer_and_a_close(port: int) -> None:
    answer = exchange(port, b"GET /metrics HTTP/1.0\r\n\r\n")
    assert answer.status == 200 and answer.closed and b"haproxy_up 1" in answer.body


def test_absolute_form_target(port: int) -> None:
    assert exchange(port, get("http://127.0.0.1/metrics?x=1")).status == 200


@pytest.mark.parametrize("accept,gz", [
    ("gzip", True), ("gzip;q=0", False), ("notgzip", False), ("*", True), ("*;q=0", False),
    ("identity;q=1, gzip;q=0.5", False), ("deflate, GZIP;q=0.9", True), (None, False),
])
def test_accept_encoding_with_q_values(port: int, accept: str | None, gz: bool) -> None:
    answer = exchange(port, get(headers={"Accept-Encoding": accept} if accept is not None else {}))
    assert answer.status == 200
    assert answer.headers["vary"] == "Accept, Accept-Encoding"  # the page depends on Accept too (OpenMetrics)
    assert (answer.headers.get("content-encoding") == "gzip") is gz
    text = gzip.decompress(answer.body) if gz else answer.body
    assert value(samples(text.decode()), "haproxy_up") == 1


def test_before_the_first_poll_metrics_is_503_with_retry_after(served) -> None:
    port = served(poll=False).server_address[1]
    answer = exchange(port, get())
    assert answer.status == 503 and answer.headers["retry-after"] == "1"
    assert exchange(port, get("/healthz")).status == 200


def test_a_client_gone_mid_head_gives_its_slot_back(served) -> None:
    server = served()
    port = server.server_address[1]
    with connect(port) as sock:
        sock.sendall(b"GET /metr")
        wait_for(lambda: len(server.connections) == 1, 5, "connection not seen")
    wait_for(lambda: len(server.connections) == 0, 5, "the closed connection still holds a slot")
    assert exchange(port, get()).status == 200
