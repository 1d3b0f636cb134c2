"""Real protocol errors on every HAProxy version: malformed requests to two frontends and a backend
server answering garbage.  The exported counter equals ``show errors``'s total and each proxy's
last error time equals its entry's, both read by the test around the poll; the captured bytes
(a made-up credential here) never reach the exposition; level operator is needed and enough."""

from __future__ import annotations

import re
import socket
import threading
import time
from datetime import datetime
from typing import Iterator

import pytest
from exposition import samples, value
from httpraw import exchange
from support import wait_for

from exporter.config import build_config
from exporter.poll.poller import Poller
from exporter.poll.snapshot import Store

CFG = """
global
    stats socket {admin} mode 600 level admin
    stats socket {user} mode 600 level user
    stats socket {dir}/operator.sock mode 600 level operator
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe_web
    bind 127.0.0.1:{p0}
    default_backend be_bad
frontend fe_other
    bind 127.0.0.1:{p1}
    default_backend be_bad
backend be_bad
    server garbage 127.0.0.1:{p2}
"""
SECRET = b"hunter2-not-a-real-password"


@pytest.fixture
def garbage_server() -> Iterator[int]:
    """A loopback server that answers every connection with an invalid HTTP response."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.settimeout(0.05)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    conn.recv(65536)
                    conn.sendall(b"HTTP/1.1 2x0 OK\r\nX-Session: " + SECRET + b"\r\n\r\n")
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield sock.getsockname()[1]
    stop.set()
    thread.join(5)
    sock.close()


def entries(text: str) -> dict[tuple[str, str], datetime]:
    """(side, proxy) → the entry's local time, read here independently of the parser."""
    return {(side, proxy): datetime.strptime(when, "%d/%b/%Y:%H:%M:%S.%f")
            for when, side, proxy in re.findall(r"^\[(.*?)\] (frontend|backend) (\S+) \(#", text, re.M)}


def total(text: str) -> tuple[int, datetime]:
    m = re.match(r"Total events captured on \[(.*?)\] : (\d+)", text)
    assert m is not None, text[:100]
    return int(m.group(2)), datetime.strptime(m.group(1), "%d/%b/%Y:%H:%M:%S.%f")


def poll(address: str, enabled: bool = True) -> str:
    store = Store(30)
    Poller(build_config({"haproxy": {"address": address}, "errors": {"enabled": enabled}}), store).poll_once()
    return b"".join(p.text for p in store.parts()).decode()


@pytest.fixture
def erring(haproxy_factory, garbage_server):
    hap = haproxy_factory(CFG.replace("{p2}", str(garbage_server)), nports=2)
    exchange(hap.ports[0], b"GET /login?password=" + SECRET + b" HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", 2)
    exchange(hap.ports[0], b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 2)  # -> be_bad
    exchange(hap.ports[1], b"GE\x01T / HTTP/1.1\r\n\r\n", 2)
    wait_for(lambda: total(hap.cmd("show errors"))[0] >= 3, 10, "HAProxy captured fewer than 3 errors")
    return hap


def test_counter_and_last_times_equal_show_errors(erring) -> None:
    hap = erring
    before = hap.cmd("show errors")
    sent = time.time()
    page = poll(hap.admin)
    after = hap.cmd("show errors")
    assert before.split("\n", 1)[1] == after.split("\n", 1)[1], "an error was captured during the poll"
    got = samples(page)
    assert value(got, "haproxy_exporter_source_success", source="errors") == 1
    count, now = total(after)
    assert count == 3
    assert value(got, "haproxy_process_captured_errors_total") == count
    found = entries(after)
    assert set(found) == {("frontend", "fe_web"), ("frontend", "fe_other"), ("backend", "be_bad")}
    for (side, proxy), when in found.items():
        exported = value(got, f"haproxy_{side}_last_captured_error_timestamp_seconds", proxy=proxy)
        age = (now - when).total_seconds()  # on HAProxy's clock, whatever its zone
        assert exported == pytest.approx(sent - age, abs=0.5), (side, proxy)
    assert SECRET.decode() not in page and SECRET.decode() in after  # dumped by HAProxy, not exported


def test_off_by_default_sends_nothing(erring) -> None:
    got = samples(poll(erring.admin, enabled=False))
    assert value(got, "haproxy_up") == 1
    assert not [k for k in got if "captured" in k[0]]
    assert value(got, "haproxy_exporter_command_success", command="show errors") is None


def test_operator_is_enough_and_user_is_refused(erring) -> None:
    got = samples(poll(str(erring.dir / "operator.sock")))
    assert value(got, "haproxy_process_captured_errors_total") == 3
    assert erring.cmd("show errors", erring.user).startswith("Permission denied")
    got = samples(poll(erring.user))
    assert value(got, "haproxy_up") == 1  # only these series are lost
    assert value(got, "haproxy_exporter_source_success", source="errors") == 0
    assert value(got, "haproxy_exporter_command_errors_total", command="show errors", reason="permission_denied") == 1
