"""What a reader that asks for /metrics and then stops reading costs the exporter, over TLS and plain HTTP.

The real CLI runs in its own process, reading a real HAProxy with a multi-megabyte page; its
resident memory (/proc/<pid>/status) is read with the readers held and after they left.  The
readers are real clients (Python's ssl: a complete handshake, then a request) whose small
receive buffer and segment size make the kernels hold only tens of kilobytes of the answer, so
the rest of every response is the exporter's to keep (and the test costs no megabytes of kernel
buffers per reader).  docs/reliability.md ("Memory of a response") states the bound.
"""

from __future__ import annotations

import os
import re
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

from support import ADMIN_HTTP_HEAD, HAProxy, free_ports, haproxy_binary, require, stop_process, wait_for

from testkit.tlscerts import make_certs

REPO = Path(__file__).resolve().parents[2]
# 100 backends x 10 servers: a 4.5 MB page (gzip: ~240 kB), far more than the kernels hold per reader
CFG = ADMIN_HTTP_HEAD + "".join(
    f"backend be_{b}\n" + "".join(f"    server s{s} 127.0.0.1:{{p0}}\n" for s in range(10)) for b in range(100))
READERS = 120
LIMIT_KIB = 128  # per stalled reader, over TLS; the TLS layer used to keep ~500 KiB of ciphertext each
OVER_PLAIN_KIB = 96  # what TLS may add to a plain reader of the same page (OpenSSL's state, one record)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def settled_rss_kib(pid: int) -> int:
    """Resident memory once it stops moving: two readings 0.3 s apart within 256 KiB (20 s at most)."""
    last, deadline = rss_kib(pid), time.monotonic() + 20
    while time.monotonic() < deadline:
        time.sleep(0.3)
        now = rss_kib(pid)
        if abs(now - last) < 256:
            return now
        last = now
    raise AssertionError(f"resident memory of {pid} still moving after 20 s")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def request(use_gzip: bool) -> bytes:
    return b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + (b"Accept-Encoding: gzip\r\n" if use_gzip else b"") + b"\r\n"


def stalled_reader(port: int, context: ssl.SSLContext | None, use_gzip: bool) -> socket.socket:
    """Connect (over TLS: the whole handshake), ask for the page, and read nothing."""
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 1200)
    raw.settimeout(10)
    raw.connect(("127.0.0.1", port))
    sock = context.wrap_socket(raw, server_hostname="127.0.0.1") if context is not None else raw
    sock.sendall(request(use_gzip))
    return sock


def read_response(sock: socket.socket) -> tuple[bytes, int]:
    """(head, body bytes received) of one response with a Content-Length, read to its end."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed before the head ended: {data[:200]!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    match = re.search(rb"\r\ncontent-length: *(\d+)", head, re.IGNORECASE)
    assert head.startswith(b"HTTP/1.1 200 ") and match, head
    got, length = len(body), int(match.group(1))
    while got < length:
        chunk = sock.recv(1 << 20)
        assert chunk, f"closed after {got} of {length} bytes"
        got += len(chunk)
    return head, got


def start_exporter(hap: HAProxy, port: int, log: Path, web_config: Path | None) -> subprocess.Popen[bytes]:
    """One poll at start and no more (a later poll would leave each reader pinning the snapshot
    of its time), and no stall timeout within the test."""
    argv = [sys.executable, "-m", "exporter", "--haproxy.address", hap.admin,
            "--web.listen-address", f"127.0.0.1:{port}", "--poll.interval", "1h", "--poll.max-age", "2h",
            "--web.write-stall-timeout", "5m"]
    if web_config is not None:
        argv += ["--web.config.file", str(web_config)]
    with open(log, "ab") as err:
        return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, cwd=REPO)


def measure(pid: int, port: int, context: ssl.SSLContext | None, use_gzip: bool) -> tuple[float, float]:
    """KiB per stalled reader: (with the readers held, after they left), above the resident memory
    after three complete scrapes of the same page."""
    def scrape() -> None:
        with stalled_reader(port, context, use_gzip) as sock:
            read_response(sock)

    for _ in range(3):
        scrape()
    base = settled_rss_kib(pid)
    readers = []
    try:
        for _ in range(READERS):
            readers.append(stalled_reader(port, context, use_gzip))
        held = settled_rss_kib(pid)
        fds = open_fds(pid)
        # every reader was left in the middle of its answer: one that reads again gets all of it
        read_response(readers.pop())
    finally:
        for sock in readers:
            sock.close()
    wait_for(lambda: open_fds(pid) <= fds - READERS + 10, 20, "the readers' connections are still open")
    after = settled_rss_kib(pid)
    return (held - base) / READERS, (after - base) / READERS


def stalled_readers_cost(hap: HAProxy, log: Path, context: ssl.SSLContext | None, web: Path | None,
                         use_gzip: bool) -> tuple[float, float]:
    port = free_ports(1)[0]
    proc = start_exporter(hap, port, log, web)
    try:
        def serves() -> bool:
            try:
                with stalled_reader(port, context, use_gzip) as sock:
                    return read_response(sock)[1] > 0
            except (OSError, AssertionError):
                return False
        wait_for(serves, 30, f"the exporter did not serve /metrics: {log.read_text() if log.exists() else ''}")
        return measure(proc.pid, port, context, use_gzip)
    finally:
        stop_process(proc)


def test_a_stalled_tls_reader_costs_about_what_a_plain_one_does(tmp_path: Path) -> None:
    (tmp_path / "h").mkdir()  # short: the admin socket's path must fit 107 bytes
    hap = HAProxy(tmp_path / "h", CFG, nports=1, binary=require(haproxy_binary(), "haproxy"))
    certs = make_certs(tmp_path / "certs")
    web = tmp_path / "web.yml"
    web.write_text(certs.web_config())
    client_tls = ssl.create_default_context(cafile=str(certs.ca))
    figures: dict[tuple[str, str], tuple[float, float]] = {}
    hap.start()
    try:
        for scheme, context in (("https", client_tls), ("http", None)):
            for page in ("plain", "gzip"):  # each in a new process: a second wave reuses what the first freed
                figures[(scheme, page)] = stalled_readers_cost(hap, tmp_path / f"{scheme}-{page}.log",
                                                               context, web if context else None, page == "gzip")
    finally:
        hap.stop()
    said = ", ".join(f"{scheme} {page}: {held:.1f} KiB held, {left:.1f} KiB kept after"
                     for (scheme, page), (held, left) in figures.items())
    print(f"per stalled reader ({READERS} readers): {said}")
    for page in ("plain", "gzip"):
        tls_held, tls_left = figures[("https", page)]
        plain_held, _ = figures[("http", page)]
        assert tls_held <= LIMIT_KIB, said
        assert tls_held - plain_held <= OVER_PLAIN_KIB, said
        assert tls_left <= LIMIT_KIB, said  # given back or kept for the next readers, never more
