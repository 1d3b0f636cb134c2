"""At the open file limit: serving backs off, the poll of HAProxy keeps its descriptors.

With 1,024 descriptors (systemd's default soft limit) and ~1,020 idle clients, the thread-per-
connection server spun at 100% CPU and the poll failed with ``internal_error``: the exporter's
own exhaustion was reported as HAProxy's failure.  Both tests run a process whose limit is
lowered with ``resource.setrlimit`` and measure its CPU from /proc while the clients wait.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from exposition import samples, value
from httpraw import connect, exchange, get, read_all
from support import ADMIN_HTTP_HEAD, free_ports, stop_process, wait_for

# The exporter's own side is under test here; HAProxy only gives it a page to serve.
pytestmark = pytest.mark.one_haproxy

CFG = ADMIN_HTTP_HEAD + """
frontend fe_web
    bind 127.0.0.1:{p0}
    http-request return status 200 content-type text/plain string ok
"""
REPO = Path(__file__).resolve().parents[2]
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def limit_fds(soft: int, hard: int):  # noqa: ANN201 - a preexec_fn
    return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def metric(port: int, name: str, **labels: str) -> float | None:
    answer = exchange(port, get(), wait=10)
    assert answer.status == 200, answer.raw[:200]
    return value(samples(answer.body.decode()), name, **labels)


def test_idle_clients_at_the_fd_limit_leave_the_poll_its_descriptors(haproxy_factory, tmp_path: Path) -> None:
    hap = haproxy_factory(CFG, nports=1)
    port = free_ports(1)[0]
    log = tmp_path / "exporter.log"
    with open(log, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "exporter", "--haproxy.address", hap.admin,
                                 "--web.listen-address", f"127.0.0.1:{port}", "--poll.interval", "0.2s",
                                 "--web.read-header-timeout", "120s"],
                                stdout=subprocess.DEVNULL, stderr=err, cwd=REPO,
                                preexec_fn=limit_fds(1024, 1024))
    clients = []
    try:
        wait_for(lambda: _serves(port), 15, "exporter did not serve /metrics")
        before = metric(port, "haproxy_exporter_polls_total", result="success") or 0
        for _ in range(1020):  # more than the descriptors it has: the rest wait in the backlog
            clients.append(connect(port, timeout=10))
        wait_for(lambda: "open files near the limit" in log.read_text(), 15, "the reserve was never reached")
        cpu_start, wall_start = cpu_seconds(proc.pid), time.monotonic()
        time.sleep(3)  # 15 poll intervals with every serving descriptor taken
        cpu = cpu_seconds(proc.pid) - cpu_start
        wall = time.monotonic() - wall_start
        assert not any(_closed(sock) for sock in clients[-50:])  # waiting in the backlog, not refused
        for sock in clients[:100]:  # free some room so a scrape can get in
            sock.close()
        after = metric(port, "haproxy_exporter_polls_total", result="success")
        assert value_of(after) >= before + 5, (before, after)  # polls went on meanwhile
        assert metric(port, "haproxy_up") == 1
        text = exchange(port, get(), wait=10).body.decode()
        assert 'reason="internal_error"' not in text
        assert value(samples(text), "haproxy_exporter_polls_total", result="failure") in (None, 0)
        assert cpu < 0.3 * wall, f"{cpu:.2f}s CPU in {wall:.2f}s: spinning at the limit"
        assert log.read_text().count("open files near the limit") == 1  # one line per episode
    finally:
        for sock in clients:
            sock.close()
        stop_process(proc)


def _closed(sock) -> bool:  # noqa: ANN001
    """Closed by the server (EOF or reset) as opposed to open and silent; does not wait."""
    sock.setblocking(False)
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True
    finally:
        sock.setblocking(True)


def value_of(x: float | None) -> float:
    assert x is not None
    return x


def _serves(port: int) -> bool:
    try:
        return exchange(port, get(), wait=2).status == 200
    except OSError:
        return False


# A server whose whole descriptor table is taken by something else: accept() fails with EMFILE.
EMFILE_SCRIPT = textwrap.dedent("""
    import logging, os, resource, sys, time
    from exporter.config import build_config
    from exporter.exposition.page import Part
    from exporter.poll.snapshot import Snapshot, Store
    from exporter.web.server import start_server
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(message)s")
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
    store = Store(30.0)
    store.publish(Snapshot(None, Part.of(b"up 1\\n"), Part.of(b"up 0\\n")))
    server = start_server(build_config({"web": {"listen_address": sys.argv[1]}}), store, lambda: True)
    held = []
    while True:
        try:
            held.append(os.open("/dev/null", os.O_RDONLY))
        except OSError:
            break
    print("full", flush=True)
    sys.stdin.readline()
    for fd in held:
        os.close(fd)
    print("released", flush=True)
    sys.stdin.readline()
    server.shutdown()
""")


def test_emfile_on_accept_backs_off_and_recovers(tmp_path: Path) -> None:
    port = free_ports(1)[0]
    log = tmp_path / "server.log"
    with open(log, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-c", EMFILE_SCRIPT, f"127.0.0.1:{port}"], cwd=REPO,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True)
    clients = []
    try:
        assert proc.stdout.readline().strip() == "full", log.read_text()
        for _ in range(5):
            sock = connect(port, timeout=10)
            sock.sendall(get())
            clients.append(sock)
        wait_for(lambda: "cannot accept connections" in log.read_text(), 10, "EMFILE was not seen")
        cpu_start, wall_start = cpu_seconds(proc.pid), time.monotonic()
        time.sleep(2)
        cpu, wall = cpu_seconds(proc.pid) - cpu_start, time.monotonic() - wall_start
        assert cpu < 0.3 * wall, f"{cpu:.2f}s CPU in {wall:.2f}s: spinning on EMFILE"
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "released"
        answers = [read_all(sock, 10) for sock in clients]  # the waiting clients are served now
        assert [a.status for a in answers] == [200] * 5
        text = log.read_text()
        assert text.count("cannot accept connections") == 1, text  # once per episode, not per accept
        assert "accepting connections again" in text
    finally:
        for sock in clients:
            sock.close()
        if proc.poll() is None:
            proc.stdin.write("\n")
            proc.stdin.flush()
        stop_process(proc)


def test_the_cli_raises_the_soft_fd_limit_to_the_hard_one(haproxy_factory) -> None:
    """As Go's runtime does: systemd's soft 1024 would otherwise cap connections far below the
    unit's LimitNOFILE= hard limit."""
    hap = haproxy_factory(CFG, nports=1)
    port = free_ports(1)[0]
    proc = subprocess.Popen([sys.executable, "-m", "exporter", "--haproxy.address", hap.admin,
                             "--web.listen-address", f"127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO,
                            preexec_fn=limit_fds(1024, 4096))
    try:
        wait_for(lambda: _serves(port), 15, "exporter did not serve /metrics")
        line = next(row for row in Path(f"/proc/{proc.pid}/limits").read_text().splitlines()
                    if row.startswith("Max open files"))
        assert line.split()[3:5] == ["4096", "4096"], line
    finally:
        stop_process(proc)
