"""A real master-worker HAProxy (``-W -S``) of every version, read through its master CLI.

A reload while a client holds a long download: the old worker appears (under ``worker=<pid>``),
its traffic is counted, and it disappears when its last connection ends.  A reload with a broken
config shows in ``haproxy_master_failed_reloads``.  The master going away gives ``haproxy_up 0``
and one clear log line.  The oracle is what the master itself answers, read by the test.
"""

from __future__ import annotations

import logging
import signal
import socket
from typing import Iterator

import pytest
from exposition import samples, value
from support import FakeClock, SlowBackend, answering, download, raw_command, stat_rows, wait_for

from exporter.config import build_config
from exporter.poll.poller import Poller
from exporter.poll.process import make_client
from exporter.poll.snapshot import Store

CFG = """
global
    stats socket {admin} mode 600 level admin
defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    option contstats
frontend fe_dl
    bind 127.0.0.1:{p0}
    default_backend be_dl
backend be_dl
    server dl1 127.0.0.1:{p1}
"""


@pytest.fixture
def backend() -> Iterator[SlowBackend]:
    slow = SlowBackend(chunk=20_000, chunks=60, delay=0.05)  # 1.2 MB over about 3 s
    yield slow
    slow.close()


def start(haproxy_factory, haproxy_bin, backend: SlowBackend):
    hap = haproxy_factory(CFG.replace("{p1}", str(backend.port)), nports=1, start=False, binary=haproxy_bin.path)
    return hap.start_master()


def master_says(hap, text: str) -> bool:
    """The master lists ``text`` in show proc (its CLI is briefly away while it re-executes)."""
    try:
        return text in raw_command(hap.master, "show proc")
    except OSError:
        return False


class Exporter:
    """The exporter's poll of the master socket, read back as a dict of samples."""

    def __init__(self, address: str) -> None:
        self.store = Store(30)
        self.poller = Poller(build_config({"haproxy": {"address": address}}), self.store)

    def poll(self) -> dict:
        self.poller.poll_once()
        return samples(b"".join(p.text for p in self.store.parts()).decode())


def workers_in(got: dict) -> set[str]:
    return {dict(labels)["worker"] for name, labels in got if "worker" in dict(labels)
            and not name.startswith(("haproxy_master", "haproxy_exporter"))}


def test_an_old_worker_is_read_while_it_drains_then_forgotten(haproxy_factory, haproxy_bin, backend) -> None:
    hap = start(haproxy_factory, haproxy_bin, backend)
    exp = Exporter(hap.master)
    got = exp.poll()
    assert value(got, "haproxy_up") == 1
    assert value(got, "haproxy_master_current_workers") == 1 and value(got, "haproxy_master_old_workers") == 0
    assert workers_in(got) == set()

    client = download(hap.ports[0])
    wait_for(lambda: backend.sent, 5, "the download did not start")
    [old] = hap.workers()[0]
    new = hap.reload()
    assert hap.workers() == ([new], [old]), "the old worker must still be serving the download"

    before = stat_rows(raw_command(hap.master, f"@!{old} show stat"))
    got = exp.poll()
    after = stat_rows(raw_command(hap.master, f"@!{old} show stat"))
    assert value(got, "haproxy_up") == 1
    assert value(got, "haproxy_master_old_workers") == 1
    assert value(got, "haproxy_master_worker_info", worker=old, role="old", version=haproxy_bin.version) == 1
    assert workers_in(got) == {old}
    # The old worker's own counters, between two readings the test takes around the poll.
    for row_before, row_after in zip(before, after):
        if row_before["svname"] == "FRONTEND":
            got_sessions = value(got, "haproxy_frontend_sessions_total", proxy="fe_dl", worker=old)
            assert int(row_before["stot"]) <= got_sessions <= int(row_after["stot"])
            assert value(got, "haproxy_frontend_current_sessions", proxy="fe_dl", worker=old) == 1
    # The current worker keeps today's labels: no worker label, and its state sets alone.
    assert value(got, "haproxy_frontend_status", proxy="fe_dl", state="UP") == 1
    assert value(got, "haproxy_frontend_status", proxy="fe_dl", state="UP", worker=old) is None
    assert value(got, "haproxy_process_pid") == int(new)

    client.join(30)
    assert not client.is_alive(), "the download did not finish"
    wait_for(lambda: hap.workers()[1] == [], 10, "the old worker did not leave after its last connection")
    got = exp.poll()
    assert value(got, "haproxy_master_old_workers") == 0
    assert workers_in(got) == set()
    assert value(got, "haproxy_up") == 1


def test_a_failed_reload_is_counted_and_the_serving_worker_still_read(haproxy_factory, haproxy_bin, backend) -> None:
    hap = start(haproxy_factory, haproxy_bin, backend)
    exp = Exporter(hap.master)
    assert value(exp.poll(), "haproxy_master_failed_reloads") == 0
    [serving] = hap.workers()[0]
    hap.cfg.write_text(hap.cfg.read_text() + "\nthis is not a keyword\n")
    hap.proc.send_signal(signal.SIGUSR2)
    wait_for(lambda: master_says(hap, "[failed: 1]"), 15, "the broken reload was not counted")
    got = exp.poll()
    assert value(got, "haproxy_master_failed_reloads") == 1
    assert value(got, "haproxy_up") == 1
    assert value(got, "haproxy_master_current_workers") == 1
    assert value(got, "haproxy_process_pid") == int(serving)  # still the worker that serves
    assert value(got, "haproxy_frontend_status", proxy="fe_dl", state="UP") == 1
    assert hap.get(0) in (200, 503)  # and HAProxy still answers on its frontend


def test_the_master_going_away_is_haproxy_down_with_one_clear_line(haproxy_factory, haproxy_bin, backend,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    hap = start(haproxy_factory, haproxy_bin, backend)
    exp = Exporter(hap.master)
    assert value(exp.poll(), "haproxy_up") == 1
    hap.stop()
    with caplog.at_level(logging.WARNING, logger="exporter.poll"):
        got = exp.poll()
        exp.poll()
    assert value(got, "haproxy_up") == 0
    reasons = {dict(labels)["reason"] for name, labels in got if name == "haproxy_exporter_command_errors_total"
               and dict(labels)["command"] == "show proc"}
    assert reasons & {"refused", "no_socket"}, reasons
    lines = [r.getMessage() for r in caplog.records if "show proc failed" in r.getMessage()]
    assert len(lines) == 1 and "HAProxy is running" in lines[0], lines


def first_line_of(address: str, command: str) -> str:
    """The first line of the master's answer (2.8 sometimes keeps the connection open after it)."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(5)
        sock.connect(address)
        sock.sendall(command.encode() + b"\n")
        data = b""
        while b"\n" not in data and (chunk := sock.recv(65536)):
            data += chunk
    return data.decode().split("\n", 1)[0]


def test_a_worker_that_leaves_mid_poll_costs_its_retries_once(haproxy_factory, haproxy_bin, backend) -> None:
    """The current worker's required commands are answered, then the master reloads and the worker
    (no connection to drain) exits: the master answers its remaining commands with "Can't find the
    target PID".  The first of them may be retried (0.1, 0.3, 0.9 s), the others are sent once each.
    (2.6 closes after that line; 2.8 at times keeps the connection open until haproxy.timeout,
    which ends the worker's turn as unreachable: a shorter prefix of the pauses.)"""
    hap = start(haproxy_factory, haproxy_bin, backend)
    [leaving] = hap.workers()[0]
    config = build_config({"haproxy": {"address": hap.master, "timeout": "1s"}})
    real = make_client(config.poll_targets()[0]).run
    sent: list[str] = []

    def gone() -> bool:
        try:
            return leaving not in sum(hap.workers(), [])
        except OSError:
            return False  # the master CLI is away while the master re-executes itself

    def fetch(command: str) -> str:
        sent.append(command)
        answer = real(command)
        if command == f"@!{leaving} show stat":  # read: now it leaves, before its optional commands
            hap.reload()
            wait_for(gone, 15, "the worker did not leave after the reload")
        return answer

    clock = FakeClock()
    store = Store(30, clock)
    poller = Poller(config, store, connect=answering(fetch), clock=clock)
    pauses = clock.slept
    assert poller.poll_once()  # the required sources were read before it left
    assert first_line_of(hap.master, f"@!{leaving} show info").startswith("Can't find the target PID")  # gone
    after = sent[sent.index(f"@!{leaving} show stat") + 1:]
    assert after and all(c.startswith(f"@!{leaving} ") for c in after), after
    assert pauses == [0.1, 0.3, 0.9][:len(pauses)], pauses  # once for the worker, not per command
    assert after.count(after[0]) == len(pauses) + 1 and len(set(after)) == len(after) - len(pauses), after
