"""A minimal HTTP/1.1 client for timing /metrics, the same for all three exporters.

It sends one request with ``Connection: close`` and reads into a preallocated buffer until the
server closes, so the time is request to last byte and the client does no parsing while the
clock runs (urllib would decode chunks and headers in Python, adding its own cost to the
peers' and our figures alike).  Reads are 64 KiB, as common HTTP clients read: on this loopback
a 44.5 MB body arrived in ~19 ms with 64 KiB reads and ~29 ms with 4 MiB reads (the data stays
in cache), from the same minimal server.
"""

from __future__ import annotations

import gzip
import multiprocessing
import multiprocessing.synchronize
import socket
import ssl
import time
from dataclasses import dataclass

READ_SIZE = 64 << 10


@dataclass
class Scrape:
    seconds: float
    wire_bytes: int  # everything received: status line, headers and body as sent
    raw: bytes | None = None  # kept only when asked for (decoding, sample counting)


def scrape(port: int, use_gzip: bool, keep: bool = False, path: str = "/metrics",
           buffer: bytearray | None = None, timeout: float = 300.0, accept_type: str = "") -> Scrape:
    """One scrape; ``accept_type``: an ``Accept`` header's value (none when empty)."""
    accept = "Accept-Encoding: gzip\r\n" if use_gzip else ""
    if accept_type:
        accept += f"Accept: {accept_type}\r\n"
    request = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{accept}"
               "Connection: close\r\n\r\n").encode()
    buf = buffer if buffer is not None else bytearray(64 << 20)
    view = memoryview(buf)
    size = 0
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        while True:
            if size == len(buf):  # grow (only the untimed first scrape of a large body)
                view.release()
                buf.extend(bytes(len(buf)))
                view = memoryview(buf)
            got = sock.recv_into(view[size:], min(READ_SIZE, len(buf) - size))
            if not got:
                break
            size += got
    seconds = time.perf_counter() - started
    raw = bytes(view[:size]) if keep else None
    view.release()
    return Scrape(seconds, size, raw)


def status_of(raw: bytes) -> int:
    """The status code of a response's first bytes; 0 when they are not an HTTP response."""
    return int(raw.split(b" ", 2)[1]) if raw.startswith(b"HTTP/") else 0


def tls_scrape(port: int, context: ssl.SSLContext, use_gzip: bool, timeout: float = 60.0) -> tuple[int, float, int]:
    """One TLS scrape, handshake to last byte: (status, seconds, bytes received)."""
    accept = b"Accept-Encoding: gzip\r\n" if use_gzip else b""
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
            sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + accept + b"Connection: close\r\n\r\n")
            head = sock.recv(65536)
            size = len(head)
            while chunk := sock.recv(1 << 20):
                size += len(chunk)
    seconds = time.perf_counter() - started
    return status_of(head), seconds, size


def concurrent(port: int, use_gzip: bool, count: int, rounds: int, size_hint: int = 64 << 20,
               spacing: float = 0.0, timeout: float = 600.0) -> list[list[float]]:
    """``rounds`` times, ``count`` scrapes started together; each one's own time, per round.

    Rounds start ``spacing`` seconds after the previous one ended (as bench/scale.py spaces its
    sequential scrapes, so rounds sample every phase of our poll cycle).

    Each of the ``count`` clients is its own process (forked once, reused for every round and
    released together by a barrier), as separate Prometheus servers would be: client threads in
    one interpreter would share its lock, and that lock's hand-overs would be counted against the
    exporter being measured (at 44.5 MB, 3 client threads took ~77 ms where 3 processes took ~62 ms
    against the same minimal server).
    """
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(count)
    results = ctx.Queue()
    workers = [ctx.Process(target=_scrape_rounds, args=(i, port, use_gzip, rounds, size_hint, barrier,
                                                        results, spacing, timeout), daemon=True)
               for i in range(count)]
    for w in workers:
        w.start()
    times = [[0.0] * count for _ in range(rounds)]
    try:
        for _ in range(count * rounds):
            worker, round_, seconds, error = results.get(timeout=timeout)
            if error:
                raise RuntimeError(f"concurrent scrape {worker} failed: {error}")
            times[round_][worker] = seconds
    finally:
        for w in workers:
            w.join(timeout=5)
            if w.is_alive():
                w.kill()
                w.join(timeout=5)
    return times


def _scrape_rounds(worker: int, port: int, use_gzip: bool, rounds: int, size_hint: int,
                   barrier: "multiprocessing.synchronize.Barrier", results: "multiprocessing.Queue",
                   spacing: float, timeout: float) -> None:
    buffer = bytearray(size_hint)
    try:
        scrape(port, use_gzip, buffer=buffer, timeout=timeout)  # warm: the buffer's pages, the connection path
        for round_ in range(rounds):
            barrier.wait(timeout=timeout)  # all done with the previous round
            time.sleep(spacing)
            barrier.wait(timeout=timeout)
            results.put((worker, round_, scrape(port, use_gzip, buffer=buffer, timeout=timeout).seconds, ""))
    except BaseException as exc:  # reported by the parent, which waits for every answer
        results.put((worker, 0, 0.0, f"{type(exc).__name__}: {exc}"))
        barrier.abort()


def decode(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Status, headers (lower-case names) and the decoded body (dechunked, gunzipped)."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = _dechunk(body)
    if headers.get("content-encoding", "").lower() == "gzip":
        body = gzip.decompress(body)
    return status, headers, body


def _dechunk(data: bytes) -> bytes:
    out: list[bytes] = []
    pos = 0
    while True:
        end = data.index(b"\r\n", pos)
        size = int(data[pos:end].split(b";")[0], 16)
        if size == 0:
            return b"".join(out)
        out.append(data[end + 2:end + 2 + size])
        pos = end + 2 + size + 2


def count_samples(body: bytes) -> int:
    """Sample lines: every non-empty line that is not a comment."""
    return sum(1 for line in body.split(b"\n") if line and not line.startswith(b"#"))
