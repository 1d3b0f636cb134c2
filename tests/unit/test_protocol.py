"""The connection's pure parts (exporter/web/protocol.py) case by case, and a connection served by
a host that is not the server: what ``Host`` declares is all a connection needs.

Requests are parsed by h11 from their bytes, as on a socket; the head size's oracle is the
length of those bytes.  The served connection talks to a real client over loopback TCP.
"""

from __future__ import annotations

import asyncio
import socket
import time
from email.utils import parsedate_to_datetime

import h11
import pytest

from exporter.config import Config, build_config
from exporter.web.auth import PasswordChecks
from exporter.web.protocol import MAX_HEAD_BYTES, BadRequest, Connection, http_date, request_of
from exporter.web.routes import Request, Response, text


def parsed(raw: bytes) -> h11.Request:
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
    conn.receive_data(raw)
    event = conn.next_event()
    assert isinstance(event, h11.Request), event
    return event


def refused(raw: bytes) -> int:
    with pytest.raises(BadRequest) as info:
        request_of(parsed(raw))
    return info.value.status


# -- request_of ------------------------------------------------------------------------------

@pytest.mark.parametrize("raw,path,query", [
    (b"GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n", "/metrics", ""),
    (b"GET /metrics?scope=server&x HTTP/1.1\r\nHost: a\r\n\r\n", "/metrics", "scope=server&x"),
    (b"HEAD / HTTP/1.0\r\n\r\n", "/", ""),  # HTTP/1.0 needs no Host
    (b"GET http://a:9101/probe?target=x HTTP/1.1\r\nHost: a\r\n\r\n", "/probe", "target=x"),  # absolute form
    (b"GET HTTPS://a HTTP/1.1\r\nHost: a\r\n\r\n", "/", ""),
])
def test_a_request_is_its_method_path_and_query(raw: bytes, path: str, query: str) -> None:
    request = request_of(parsed(raw))
    assert (request.method, request.path, request.query) == (raw.split(b" ")[0].decode(), path, query)


def test_header_names_are_lower_case_and_a_repeated_header_is_one_list() -> None:
    request = request_of(parsed(b"GET / HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\nX-A: 1\r\n"
                                b"accept-encoding: br;q=0.5\r\n\r\n"))
    assert request.headers == {"host": "a", "accept-encoding": "gzip, br;q=0.5", "x-a": "1"}


def test_header_values_are_read_as_latin_1() -> None:
    assert request_of(parsed(b"GET / HTTP/1.1\r\nHost: a\r\nX: caf\xe9\r\n\r\n")).headers["x"] == "caf\xe9"


@pytest.mark.parametrize("raw,status", [
    (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
    (b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", 400),  # not a path
    (b"GET ftp://a/x HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc", 400),  # a GET with a body
    (b"HEAD / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
])
def test_what_h11_lets_through_and_the_exporter_refuses(raw: bytes, status: int) -> None:
    assert refused(raw) == status


def test_other_methods_and_empty_bodies_pass_on_to_the_routes() -> None:
    assert request_of(parsed(b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n")).method == "GET"
    # a body on another method is the routes' 405, and the connection's close after it
    assert request_of(parsed(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc")).method == "POST"


def test_a_complete_head_longer_than_the_bound_is_431() -> None:
    """h11 bounds only an incomplete head; one that arrives whole is measured as sent (request
    line and header lines with their CRLFs, not the blank line after them)."""
    def head(size: int) -> bytes:
        start = b"GET / HTTP/1.1\r\nHost: a\r\nX: "
        raw = start + b"v" * (size - len(start) - 2) + b"\r\n\r\n"
        assert len(raw) - 2 == size
        return raw

    assert request_of(parsed(head(MAX_HEAD_BYTES))).path == "/"
    assert refused(head(MAX_HEAD_BYTES + 1)) == 431


# -- http_date -------------------------------------------------------------------------------

def test_http_date_is_imf_fixdate() -> None:
    assert http_date(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT"  # RFC 9110 §5.6.7's example
    assert http_date(784111777.999) == "Sun, 06 Nov 1994 08:49:37 GMT"  # whole seconds, not rounded
    assert http_date(0) == "Thu, 01 Jan 1970 00:00:00 GMT"


def test_http_date_without_an_argument_is_now() -> None:
    before = int(time.time())
    date = http_date()
    after = time.time()
    assert before <= parsedate_to_datetime(date).timestamp() <= after


# -- a connection and its host ---------------------------------------------------------------

class TinyHost:
    """A host that is not exporter/web/server.py's Server: what protocol.Host declares, no more."""

    def __init__(self, loop: asyncio.AbstractEventLoop, config: Config) -> None:
        self.loop = loop
        self.config = config
        self.web = None
        self.passwords = PasswordChecks(loop)
        self.notes: list[str] = []
        self.asked: list[str] = []
        self.gone: list[Connection] = []

    def note(self, kind: str, detail: str, peer: str) -> None:
        self.notes.append(kind)

    def respond(self, request: Request, authorized: bool) -> Response:
        self.asked.append(request.path)
        return text(200, f"answer to {request.path}\n")

    def detached(self, conn: Connection) -> None:
        self.gone.append(conn)


def exchange(sent: bytes) -> tuple[TinyHost, Connection, bytes]:
    """One connection to a TinyHost over loopback: send ``sent``, read until the server closes."""
    async def run() -> tuple[TinyHost, Connection, bytes]:
        loop = asyncio.get_running_loop()
        host = TinyHost(loop, build_config({}))
        with socket.create_server(("127.0.0.1", 0)) as listener, \
                socket.create_connection(listener.getsockname()[:2], timeout=10) as client:
            accepted, _ = listener.accept()
            accepted.setblocking(False)
            conn = Connection(host, None)
            await loop.connect_accepted_socket(lambda: conn, accepted)
            client.setblocking(False)
            await loop.sock_sendall(client, sent)
            received = b""
            for _ in range(1000):  # bounded: the server closes after the last answer
                chunk = await asyncio.wait_for(loop.sock_recv(client, 65536), 10)
                if not chunk:
                    break
                received += chunk
            await asyncio.sleep(0)  # connection_lost runs on the loop's next turn
        host.passwords.close()
        return host, conn, received

    return asyncio.run(run())


def responses(raw: bytes) -> list[tuple[int, bytes]]:
    """Status and body of each response in ``raw``, read by h11 as a client would."""
    client = h11.Connection(h11.CLIENT)
    got: list[tuple[int, bytes]] = []
    for _ in range(10):
        client.send(h11.Request(method="GET", target="/", headers=[("Host", "a")]))
        client.send(h11.EndOfMessage())
        client.receive_data(raw)
        raw = b""
        status, body = 0, b""
        while True:
            event = client.next_event()
            if isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                got.append((status, body))
                break
            else:
                return got
        if client.our_state is not h11.DONE or client.their_state is not h11.DONE:
            return got
        client.start_next_cycle()
    return got


def test_a_connection_needs_nothing_of_its_host_but_what_host_declares() -> None:
    host, conn, raw = exchange(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
                               b"GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert responses(raw) == [(200, b"answer to /a\n"), (200, b"answer to /b\n")]
    assert host.asked == ["/a", "/b"] and host.notes == []
    assert host.gone == [conn]  # its slot given back once


def test_a_bad_request_is_noted_with_the_host_and_answered_400() -> None:
    host, conn, raw = exchange(b"GET /a HTTP/1.1\r\nHost: x\r\nbad header\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 400 Bad Request\r\n") and b"Connection: close\r\n" in raw
    assert host.asked == [] and host.notes == ["bad_request"]
    assert host.gone == [conn]
