"""What a client costs the exporter, measured on the real CLI (docs/reliability.md, "Memory budget").

The CLI runs in its own process against a real HAProxy of 150 backends x 10 servers (a page of
about 6.7 MB: more than the 4 MB a loopback socket buffers at most, so a reader that stops
leaves part of it with the exporter); its resident memory (``/proc/<pid>/status`` VmRSS) is read
before and after connections of one kind have been accepted, and the growth per connection is
held to a generous bound.  The measured figures are in docs/reliability.md.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest
from support import ADMIN_HTTP_HEAD, HAProxy, free_ports, wait_for

from testkit.tlscerts import Certs, make_certs

CFG = ADMIN_HTTP_HEAD + "".join(
    f"backend be_{b}\n" + "".join(f"    server s{s} 127.0.0.1:9 disabled\n" for s in range(10)) for b in range(150))


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise KeyError("VmRSS")


def settled_rss(pid: int) -> int:
    """Resident memory once it has stopped moving for half a second (bounded: 10 s)."""
    last, stable_since, deadline = rss_kib(pid), time.monotonic(), time.monotonic() + 10
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = rss_kib(pid)
        if abs(now - last) > 64:
            last, stable_since = now, time.monotonic()
        elif time.monotonic() - stable_since > 0.5:
            break
    return last


class Cli:
    def __init__(self, proc: subprocess.Popen[bytes], port: int, context: ssl.SSLContext | None) -> None:
        self.proc, self.port, self.context = proc, port, context

    def scrape(self) -> bytes:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        if self.context is not None:
            sock = self.context.wrap_socket(sock, server_hostname="127.0.0.1")
        with sock:
            sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            chunks = []
            while chunk := sock.recv(1 << 20):
                chunks.append(chunk)
        return b"".join(chunks)


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Callable[[bool], Cli]]:
    """The CLI in front of one HAProxy (the machine's; what a client costs does not depend on its
    version, so these run once, not once per binary)."""
    hap = HAProxy(Path(tempfile.mkdtemp(prefix="hrxc")), CFG, nports=1).start()
    started: list[subprocess.Popen[bytes]] = []

    def start(tls: bool) -> Cli:
        port = free_ports(1)[0]
        args = [sys.executable, "-m", "exporter", f"--haproxy.address={hap.admin}", "--poll.interval=60s",
                "--poll.max-age=120s", f"--web.listen-address=127.0.0.1:{port}", "--web.tls-handshake-timeout=60s"]
        context = None
        if tls:
            certs: Certs = make_certs(tmp_path / "certs")
            web = tmp_path / "web.yml"
            web.write_text(certs.web_config())
            args.append(f"--web.config.file={web}")
            context = ssl.create_default_context(cafile=str(certs.ca))
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append(proc)
        cli = Cli(proc, port, context)

        def serving() -> bool:
            try:
                return b"haproxy_up 1" in cli.scrape()
            except OSError:
                return False

        wait_for(serving, 20, "the exporter's first poll")
        for _ in range(3):  # the page's first sends allocate what every later one reuses
            assert len(cli.scrape()) > 5_000_000
        return cli

    try:
        yield start
    finally:
        for proc in started:
            proc.terminate()
            proc.wait(10)
        hap.stop()


def per_connection(cli: Cli, open_one: Callable[[], socket.socket], count: int = 200) -> float:
    """KiB of resident memory each of ``count`` connections of one kind adds to the exporter."""
    before = settled_rss(cli.proc.pid)
    socks = [open_one() for _ in range(count)]
    try:
        time.sleep(0.5)
        after = settled_rss(cli.proc.pid)
        assert cli.proc.poll() is None
    finally:
        for sock in socks:
            sock.close()
    return (after - before) / count


def test_an_idle_plain_connection_costs_a_few_kib(cli) -> None:
    exporter = cli(False)
    cost = per_connection(exporter, lambda: socket.create_connection(("127.0.0.1", exporter.port), timeout=10))
    assert cost < 64, f"{cost:.1f} KiB per idle connection"


def test_a_connection_that_never_starts_its_tls_handshake_costs_a_few_kib(cli) -> None:
    exporter = cli(True)
    cost = per_connection(exporter, lambda: socket.create_connection(("127.0.0.1", exporter.port), timeout=10))
    assert cost < 128, f"{cost:.1f} KiB per connection waiting for its TLS handshake"


def test_a_plain_reader_that_stops_reading_costs_tens_of_kib_not_the_page(cli) -> None:
    """Each asks for the 6.7 MB page with a 4 KiB receive window and reads nothing: what the
    kernel does not take (it buffers up to 4 MB a socket) stays in the exporter's prepared bytes,
    shared, never copied per client.  50 of them: the kernel holds 200 MB meanwhile."""
    exporter = cli(False)

    def stalled() -> socket.socket:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(10)
        sock.connect(("127.0.0.1", exporter.port))
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        return sock

    cost = per_connection(exporter, stalled, 50)
    assert cost < 256, f"{cost:.1f} KiB per stalled plain reader"
