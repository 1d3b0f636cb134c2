"""What a client can hold, and for how long: the limits of docs/reliability.md ("Serving limits").

The server is the exporter's own, in this process, with the limits set small in its config; the
scrapes that must still be answered read a poll of a real HAProxy.  Every wait is bounded.
"""

from __future__ import annotations

import socket
import ssl
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterator

import pytest
from exposition import samples, value
from httpraw import connect, exchange, get, read_all
from support import ADMIN_HTTP_HEAD, wait_for

from exporter.cli import new_store
from exporter.clock import SYSTEM_CLOCK
from exporter.config import build_config
from exporter.exposition.page import Page, Part, Piece
from exporter.poll.poller import Poller
from exporter.poll.snapshot import Snapshot, Store
from exporter.web.config import load_web_config
from exporter.web.server import Server, start_server
from testkit.tlscerts import Certs, make_certs

# The exporter's own side is under test here; HAProxy only gives it a page to serve.
pytestmark = pytest.mark.one_haproxy

CFG = ADMIN_HTTP_HEAD + """
frontend fe_web
    bind 127.0.0.1:{p0}
    http-request return status 200 content-type text/plain string ok
"""
BIG = 8 * 1024 * 1024  # a synthetic body large enough that a throttled reader needs seconds


def big_body() -> Page:
    """A synthetic page of BIG bytes made of family pieces of every size, from one line (joined
    with their neighbours before writing) to megabytes (many writev batches, cut mid-piece by a
    full socket), each line telling where it is: a byte out of place shows."""
    pieces, size, n = [], 0, 0
    while size < BIG:
        lines = 1 if n % 3 == 0 else 40 * (n % 17) + 1 if n % 5 else 30_000
        text = b"".join(b'synthetic_%d{line="%d"} %d\n' % (n, i, n * i) for i in range(lines))
        pieces.append(Piece(f"synthetic_{n}", text, "global"))
        size, n = size + len(text), n + 1
    page = Page.of_pieces(pieces)
    page.taken_at, page.taken_mono = time.time(), time.monotonic()
    return page


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def served(haproxy_factory, certs: Certs, tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start the server with ``web.*`` overrides; ``big=True`` serves a synthetic 8 MiB part
    instead of the real poll (for the send policy, where HAProxy's few kilobytes are too small),
    ``tls=True`` serves it over TLS (the certificates of ``certs``)."""
    servers: list[Server] = []
    hap = None

    def start(big: bool = False, tls: bool = False, **web: object) -> Server:
        nonlocal hap
        if hap is None:
            hap = haproxy_factory(CFG, nports=1)
        config = build_config({"haproxy": {"address": hap.admin},
                               "web": {"listen_address": "127.0.0.1:0", **web}})
        store = Store(config.poll.max_age) if big else new_store(config, SYSTEM_CLOCK)
        if big:
            store.publish(Snapshot(big_body(), Part.of(b"up 1\n"), Part.of(b"up 0\n")))
        else:
            assert Poller(config, store).poll_once()
        web_config = None
        if tls:
            path = tmp_path / "web.yml"
            path.write_text(certs.web_config())
            web_config = load_web_config(str(path))
        servers.append(start_server(config, store, lambda: True, web_config))
        return servers[-1]

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def scrape_ok(port: int) -> None:
    answer = exchange(port, get(), wait=10)
    assert answer.status == 200, answer.raw[:200]
    assert value(samples(answer.body.decode()), "haproxy_up") == 1


def throttled_socket(port: int, rcvbuf: int = 16384, tls: Certs | None = None, segment: int = 0) -> socket.socket:
    """A client whose small receive buffer makes the server wait on it (set before connecting);
    with ``tls``, over TLS (handshake done) trusting its CA; a small ``segment`` size also keeps
    the server's send buffer small (tens of kilobytes instead of megabytes on loopback)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    if segment:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, segment)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    if tls is not None:
        return ssl.create_default_context(cafile=str(tls.ca)).wrap_socket(sock, server_hostname="127.0.0.1")
    return sock


def read_slowly(sock: socket.socket, pause: float, limit_seconds: float) -> tuple[bytes, bool]:
    """Read 16 KiB, sleep ``pause``, until the server closes; gives up after ``limit_seconds``."""
    chunks, deadline = [], time.monotonic() + limit_seconds
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(16384)
        except ConnectionResetError:
            return b"".join(chunks), True
        if not chunk:
            return b"".join(chunks), True
        chunks.append(chunk)
        time.sleep(pause)
    return b"".join(chunks), False


def test_idle_and_half_open_connections_do_not_stop_a_scrape(served) -> None:
    server = served(read_header_timeout="60s")
    port = server.server_address[1]
    idle = [connect(port) for _ in range(400)]
    half = [connect(port) for _ in range(400)]
    try:
        for sock in half:
            sock.sendall(b"GET /metr")  # half a request line
        wait_for(lambda: len(server.connections) >= 800, 20, "the server did not take every connection")
        scrape_ok(port)  # with 800 connections held, one thread per connection would be 800 threads
        assert len(server.connections) >= 800  # still held: nothing was dropped to make room
    finally:
        for sock in idle + half:
            sock.close()
    wait_for(lambda: len(server.connections) == 0, 20, "closed connections still held")
    scrape_ok(port)


def test_simultaneous_connects_are_all_answered(served) -> None:
    """300 connects at once fit the listen backlog (socketserver's 5 made most of them wait)."""
    server = served()
    port = server.server_address[1]
    socks = [connect(port, timeout=10) for _ in range(300)]
    try:
        for sock in socks:
            sock.sendall(get("/healthz"))
        answers = [read_all(sock, 10) for sock in socks]
    finally:
        for sock in socks:
            sock.close()
    assert [a.status for a in answers] == [200] * 300


def test_a_header_drip_is_cut_at_the_deadline(served) -> None:
    server = served(read_header_timeout="1s")
    request = get()
    with connect(server.server_address[1]) as sock:
        sock.setblocking(False)
        answer, sent = b"", 0
        for byte in request:  # one byte every 0.1 s: the whole head would take ~5 s
            try:
                sock.send(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += 1
            time.sleep(0.1)
            try:
                answer += sock.recv(4096)
            except BlockingIOError:
                continue
            if answer:
                break
        sock.setblocking(True)
        rest = read_all(sock, 5)
    assert (answer + rest.raw).startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert rest.closed
    assert sent < len(request)  # cut while still dripping, although every byte came within 0.1 s
    assert server.counts["header_timeout"] == 1


def test_idle_keep_alive_connections_are_closed_after_the_idle_timeout(served) -> None:
    server = served(idle_timeout="0.5s")
    with connect(server.server_address[1]) as sock:
        sock.sendall(get("/healthz", close=False))
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 OK")
        answer = read_all(sock, 10)
    assert answer.closed and answer.raw == b""  # closed quietly, nothing more sent


@pytest.fixture(params=["direct", "transport"])
def send_path(request, monkeypatch) -> str:
    """Both ways a body goes out: written on the connection's own descriptor, or (without a spare
    descriptor) through asyncio's transport in slices."""
    if request.param == "transport":
        from exporter.web.send import Sender
        monkeypatch.setattr(Sender, "_start_direct", lambda self: False)
    return request.param


def test_a_slow_reader_that_keeps_reading_gets_the_whole_body(served, send_path: str) -> None:
    """The stall timeout (0.5 s) is far shorter than the transfer (seconds): progress counts, not
    the total time, so the reader is never cut off."""
    server = served(big=True, write_stall_timeout="0.5s", write_timeout="60s")
    with throttled_socket(server.server_address[1]) as sock:
        sock.sendall(get())
        started = time.monotonic()
        raw, closed = read_slowly(sock, 0.01, 60)
        took = time.monotonic() - started
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
    assert length > BIG and len(body) == length and closed
    assert body == big_body().text + b"up 1\n"  # every piece, whole and in order, over many partial writes
    assert took > 4 * 0.5, "the reader was not slow enough to show anything"
    assert "write_stalled" not in server.counts


def test_a_tls_reader_gets_every_byte_over_partial_writes(served, send_path: str, certs: Certs) -> None:
    """Over TLS the page goes out a record at a time, encrypted as the kernel makes room: records
    spanning pieces of every size, writes cut mid-record by a small receive buffer.  The client's
    TLS layer checks every record; the bytes are compared whole."""
    server = served(big=True, tls=True)
    with throttled_socket(server.server_address[1], tls=certs, segment=1200) as sock:
        sock.sendall(get())
        raw, closed = read_slowly(sock, 0, 30)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and closed
    assert body == big_body().text + b"up 1\n"


def test_a_reader_that_stops_reading_is_cut_after_the_stall_timeout(served, send_path: str) -> None:
    server = served(big=True, write_stall_timeout="0.5s")
    with throttled_socket(server.server_address[1]) as sock:
        sock.sendall(get())
        assert sock.recv(100).startswith(b"HTTP/1.1 200 OK")  # then it reads nothing more
        wait_for(lambda: server.counts.get("write_stalled") == 1, 10, "a stalled send was not cut")
        wait_for(lambda: len(server.connections) == 0, 10, "the stalled connection is still held")
    scrape_ok(served().server_address[1])  # the server (a second one: same HAProxy) serves on


def test_write_timeout_bounds_the_whole_response(served, send_path: str) -> None:
    server = served(big=True, write_stall_timeout="0.5s", write_timeout="1s")
    with throttled_socket(server.server_address[1]) as sock:
        sock.sendall(get())
        raw, closed = read_slowly(sock, 0.01, 30)
    assert closed
    assert len(raw) < BIG  # cut before the end
    assert server.counts.get("write_timeout") == 1 and "write_stalled" not in server.counts


def test_connections_beyond_the_cap_get_503_at_once(served) -> None:
    server = served(max_connections=4)
    port = server.server_address[1]
    held = [connect(port) for _ in range(4)]
    try:
        wait_for(lambda: len(server.connections) == 4, 10, "the server did not take 4 connections")
        refused = exchange(port, get(), wait=10)
        assert refused.status == 503 and refused.closed
        assert refused.headers["retry-after"] == "1"
        assert server.cap_episode.count == 1
        held.pop().close()
        wait_for(lambda: len(server.connections) == 3, 10, "a closed connection still counts")
        scrape_ok(port)
    finally:
        for sock in held:
            sock.close()


def test_new_limits_apply_without_a_restart(served) -> None:
    """cli.py sets ``server.config`` after a SIGHUP: the next connections get the new limits."""
    server = served()
    port = server.server_address[1]
    held = connect(port)
    try:
        wait_for(lambda: len(server.connections) == 1, 10, "connection not taken")
        server.config = replace(server.config, web=replace(server.config.web, max_connections=1, listen_backlog=64))
        assert exchange(port, get(), wait=10).status == 503
    finally:
        held.close()
    wait_for(lambda: len(server.connections) == 0, 10, "closed connection still counted")
    scrape_ok(port)
