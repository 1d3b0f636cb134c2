"""HAProxy goes away and comes back: stop, restart, ``-sf`` reload, master-worker ``USR2`` reload,
socket file deleted, socket the exporter may not open.

The exporter keeps polling; ``haproxy_up`` and ``haproxy_exporter_command_errors_total`` say what
happened; the last good snapshot is not served past ``poll.max_age``; the next poll after HAProxy
is back recovers; a reload's counter reset shows as a new pid and process start time, equal to
what HAProxy itself reports on its socket.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
from exposition import samples, value
from support import ADMIN_HTTP_HEAD, FakeClock, HAProxy, raw_command, run_cli_as, stat_rows, wait_for

from exporter.config import build_config
from exporter.poll.poller import Poller
from exporter.poll.snapshot import Store

CFG = ADMIN_HTTP_HEAD + """
frontend fe_web
    bind 127.0.0.1:{p0}
    http-request return status 200 content-type text/plain string ok
"""
MAX_AGE = 10.0
REPO = Path(__file__).resolve().parents[2]


class Exporter:
    """A Poller on the HAProxy's admin socket with a wall clock the test moves."""

    def __init__(self, address: str) -> None:
        self.clock = FakeClock(1_700_000_000.0)
        config = build_config({"haproxy": {"address": address, "timeout": "2s"},
                               "poll": {"interval": "1s", "max_age": f"{MAX_AGE:g}s"}})
        self.store = Store(config.poll.max_age, self.clock)
        self.poller = Poller(config, self.store, clock=self.clock)

    def poll(self, advance: float = 1.0) -> dict:
        self.clock.now += advance
        self.poller.poll_once()
        return self.scrape()

    def scrape(self, at: float | None = None) -> dict:
        now = self.clock.now if at is None else at
        return samples(b"".join(p.text for p in self.store.parts(now)).decode())


def info(hap: HAProxy) -> dict[str, str]:
    text = raw_command(hap.admin, "show info")
    return dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)


def requests_total(hap: HAProxy) -> int:
    row = next(r for r in stat_rows(raw_command(hap.admin, "show stat")) if r["svname"] == "FRONTEND")
    return int(row["req_tot"])


def errors(got: dict, reason: str, command: str = "show info") -> float | None:
    return value(got, "haproxy_exporter_command_errors_total", command=command, reason=reason)


def assert_matches_haproxy(got: dict, hap: HAProxy) -> None:
    """The process identity the exporter shows is HAProxy's own, read directly from its socket."""
    truth = info(hap)
    assert value(got, "haproxy_up") == 1
    assert value(got, "haproxy_process_start_time_seconds") == float(truth["Start_time_sec"])
    assert value(got, "haproxy_process_pid") == float(truth["Pid"])


def traffic(hap: HAProxy, n: int) -> None:
    for _ in range(n):
        assert hap.get(0) == 200


def reload_sf(hap: HAProxy) -> None:
    """A second HAProxy on the same config takes over with ``-sf <old pid>``; the old one leaves."""
    old = hap.proc
    assert old is not None
    with open(hap.log, "ab") as log:
        new = subprocess.Popen([hap.binary, "-db", "-f", str(hap.cfg), "-sf", str(old.pid)],
                               stdout=log, stderr=log, cwd=hap.dir)
    hap.proc = new  # the fixture stops the new one
    old.wait(10)
    wait_for(lambda: info(hap).get("Pid") == str(new.pid), 10, "the new HAProxy did not take the socket")


def test_stop_then_restart(haproxy_factory) -> None:
    hap = haproxy_factory(CFG, nports=1)
    exp = Exporter(hap.admin)
    traffic(hap, 5)
    got = exp.poll()
    assert_matches_haproxy(got, hap)
    before_requests = value(got, "haproxy_frontend_http_requests_total", proxy="fe_web")
    assert before_requests is not None and before_requests >= 5
    good_at = exp.clock.now

    hap.stop()
    got = exp.poll()  # the exporter keeps running and says why
    reason = "refused" if os.path.exists(hap.admin) else "no_socket"
    assert value(got, "haproxy_up") == 0
    assert errors(got, reason) == 1
    assert value(got, "haproxy_frontend_http_requests_total", proxy="fe_web") == before_requests  # last good
    stale = exp.scrape(at=good_at + MAX_AGE + 0.001)
    assert value(stale, "haproxy_exporter_snapshot_stale") == 1
    assert not [k for k in stale if k[0].startswith("haproxy_frontend_")], "stale data served past max_age"

    hap.start()
    got = exp.poll(advance=MAX_AGE)  # the next poll after HAProxy is back recovers
    assert_matches_haproxy(got, hap)
    assert value(got, "haproxy_exporter_snapshot_stale") == 0
    # The counter reset is visible: a new start time, and the counter is HAProxy's new, lower value.
    assert value(got, "haproxy_frontend_http_requests_total", proxy="fe_web") <= requests_total(hap)
    assert value(got, "haproxy_frontend_http_requests_total", proxy="fe_web") < before_requests
    assert errors(got, reason) == 1


def test_reload_with_sf(haproxy_factory) -> None:
    hap = haproxy_factory(CFG, nports=1)
    exp = Exporter(hap.admin)
    traffic(hap, 5)
    first = exp.poll()
    assert_matches_haproxy(first, hap)
    reload_sf(hap)
    got = exp.poll()
    assert_matches_haproxy(got, hap)
    assert value(got, "haproxy_process_pid") != value(first, "haproxy_process_pid")
    assert value(got, "haproxy_process_start_time_seconds") >= value(first, "haproxy_process_start_time_seconds")
    assert value(got, "haproxy_frontend_http_requests_total", proxy="fe_web") < \
        value(first, "haproxy_frontend_http_requests_total", proxy="fe_web")
    assert not [k for k in got if k[0] == "haproxy_exporter_command_errors_total"]


def test_master_worker_reload_with_usr2(haproxy_factory) -> None:
    hap = haproxy_factory(CFG, nports=1, start=False)
    hap.start(("-W",))
    exp = Exporter(hap.admin)
    traffic(hap, 5)
    first = exp.poll()
    assert_matches_haproxy(first, hap)
    old_worker = info(hap)["Pid"]
    assert old_worker != str(hap.proc.pid), "with -W the socket is served by a worker, not the master"

    # The master handles USR2 only once its loop runs, which it logs; a signal sent earlier is lost.
    wait_for(lambda: "Loading success" in hap.log.read_text(), 10, "the master did not finish loading")
    os.kill(hap.proc.pid, signal.SIGUSR2)
    wait_for(lambda: hap._answers() and info(hap)["Pid"] != old_worker, 10,
             f"no new worker after USR2: {hap.log.read_text()}")
    got = exp.poll()
    assert_matches_haproxy(got, hap)
    assert value(got, "haproxy_process_pid") != value(first, "haproxy_process_pid")
    assert value(got, "haproxy_frontend_http_requests_total", proxy="fe_web") < \
        value(first, "haproxy_frontend_http_requests_total", proxy="fe_web")


def test_socket_file_deleted_then_recreated_by_reload(haproxy_factory) -> None:
    hap = haproxy_factory(CFG, nports=1)
    exp = Exporter(hap.admin)
    assert_matches_haproxy(exp.poll(), hap)
    os.unlink(hap.admin)  # e.g. a tmpfiles cleanup; HAProxy itself still runs
    got = exp.poll()
    assert value(got, "haproxy_up") == 0
    assert errors(got, "no_socket") == 1
    assert hap.get(0) == 200, "HAProxy must still be serving while its socket is gone"
    reload_sf(hap)  # a reload binds the socket again
    got = exp.poll()
    assert_matches_haproxy(got, hap)
    assert errors(got, "no_socket") == 1


def _as_nobody(args: list[str]) -> subprocess.CompletedProcess[str]:
    return run_cli_as(65534, args, cwd=REPO)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run the exporter as another user")
def test_socket_without_permission_for_the_exporter_user(haproxy_factory) -> None:
    """The real CLI as user nobody against a root-owned mode-600 socket: EACCES, counted and explained."""
    hap = haproxy_factory(CFG, nports=1)
    for d in (hap.dir, hap.dir.parent):
        os.chmod(d, 0o755)  # only the socket's own mode stands in the way
    assert oct(os.stat(hap.admin).st_mode & 0o777) == "0o600"
    args = ["--once", "--haproxy.address", hap.admin]

    denied = _as_nobody(args)
    assert denied.returncode == 1, denied.stderr
    got = samples(denied.stdout)
    assert value(got, "haproxy_up") == 0
    assert errors(got, "permission") == 1
    assert not [k for k in got if k[0].startswith("haproxy_frontend_")]
    warnings = [line for line in denied.stderr.splitlines() if "level=WARNING" in line]
    assert len(warnings) == 1 and "mode 660 group" in warnings[0], denied.stderr
    assert "Traceback" not in denied.stderr

    os.chmod(hap.admin, 0o666)  # the operator fixes the mode: the next poll works
    allowed = _as_nobody(args)
    assert allowed.returncode == 0, allowed.stderr
    assert_matches_haproxy(samples(allowed.stdout), hap)
