"""The real CLI in a subprocess: SIGHUP reloads (or refuses) the config, SIGTERM/SIGINT stop it even
while a poll is blocked, and an HAProxy outage shows on /metrics and heals by itself.

No timed assertions: every wait is a bounded wait on a condition (support.wait_for) or on the
process (a generous timeout that only a hang would reach).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest
from exposition import samples, value
from support import ADMIN_HTTP_HEAD, free_ports, raw_command, wait_for

from testkit.fakesocket import FakeSocket, Hang

# The exporter's own side is under test here; HAProxy only gives it a page to serve.
pytestmark = pytest.mark.one_haproxy

REPO = Path(__file__).resolve().parents[2]
CFG = ADMIN_HTTP_HEAD + """
frontend fe_web
    bind 127.0.0.1:{p0}
    http-request return status 200 content-type text/plain string ok
"""


class Exporter:
    """``python -m exporter`` with stderr in a file; always killed at the end of the test."""

    def __init__(self, workdir: Path, *args: str) -> None:
        self.port = free_ports(1)[0]
        self.stderr_path = workdir / "exporter.stderr"
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "exporter", "--web.listen-address", f"127.0.0.1:{self.port}", *args],
                stdout=subprocess.DEVNULL, stderr=err, cwd=REPO)

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def scrape(self) -> dict | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as resp:
                return samples(resp.read().decode())
        except (urllib.error.URLError, ConnectionError):
            return None

    def wait_metrics(self, predicate, message: str) -> dict:
        found: list[dict] = []

        def check() -> bool:
            got = self.scrape()
            if got is not None and predicate(got):
                found.append(got)
                return True
            return False

        wait_for(check, 20, f"{message}; exporter stderr:\n{self.stderr}")
        return found[0]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


@pytest.fixture
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="hrxs") as d:
        yield Path(d)


@pytest.fixture
def exporters() -> Iterator[list[Exporter]]:
    started: list[Exporter] = []
    yield started
    for exp in started:
        exp.stop()


def pid_of(hap) -> float:
    return float(raw_command(hap.admin, "show info").split("Pid: ", 1)[1].split("\n", 1)[0])


def successes(got: dict) -> float:
    return value(got, "haproxy_exporter_polls_total", result="success") or 0


def test_sighup_applies_a_valid_config_and_refuses_an_invalid_one(haproxy_factory, workdir, exporters) -> None:
    a, b = haproxy_factory(CFG, nports=1), haproxy_factory(CFG, nports=1)
    config = workdir / "exporter.yml"
    config.write_text(f"haproxy:\n  address: {a.admin}\npoll:\n  interval: 100ms\n")
    exp = Exporter(workdir, "--config.file", str(config))
    exporters.append(exp)
    exp.wait_metrics(lambda m: value(m, "haproxy_process_pid") == pid_of(a), "never polled HAProxy A")

    config.write_text(f"haproxy:\n  address: {b.admin}\npoll:\n  interval: 100ms\n")
    exp.proc.send_signal(signal.SIGHUP)
    exp.wait_metrics(lambda m: value(m, "haproxy_process_pid") == pid_of(b), "SIGHUP did not switch to HAProxy B")
    assert "changed: haproxy.address" in exp.stderr

    bad_web = workdir / "web.yml"
    bad_web.write_text("basic_auth_users:\n  bob: hunter2\n")
    for broken in ("poll: [\n",  # bad YAML
                   f"haproxy:\n  address: {a.admin}\n  adress: typo\n",  # unknown key (address alone is fine)
                   f"haproxy:\n  address: {a.admin}\nweb:\n  config_file: {bad_web}\n"):  # bad web config file
        refused_before = exp.stderr.count("config reload refused")
        config.write_text(broken)
        exp.proc.send_signal(signal.SIGHUP)
        wait_for(lambda n=refused_before + 1: exp.stderr.count("config reload refused") == n, 20,
                 f"no refusal logged for {broken!r}:\n{exp.stderr}")
        # The old config keeps running: still HAProxy B, still polling successfully.
        before = successes(exp.scrape() or {})
        got = exp.wait_metrics(lambda m, n=before: successes(m) > n, "polling stopped after a refused reload")
        assert value(got, "haproxy_process_pid") == pid_of(b)
        assert value(got, "haproxy_up") == 1
    assert exp.proc.poll() is None
    assert "Traceback" not in exp.stderr

    exp.proc.send_signal(signal.SIGTERM)
    assert exp.proc.wait(10) == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stop_signal_while_a_poll_hangs(workdir, exporters, sig) -> None:
    """The poll is blocked in a read with a 60 s timeout; the process still exits promptly and cleanly."""
    with FakeSocket(workdir / "hang.sock", {"show info": Hang()}) as fake:
        exp = Exporter(workdir, "--haproxy.address", fake.path, "--haproxy.timeout", "60s",
                       "--poll.interval", "1s", "--poll.max-age", "120s")
        exporters.append(exp)
        # The poller starts after the HTTP server and the signal handlers: once asked, all are up.
        wait_for(lambda: "show info" in fake.commands, 20, f"the exporter never asked:\n{exp.stderr}")
        exp.proc.send_signal(sig)
        # Generous bound: only a stop that waits for the 60 s read would reach it.
        assert exp.proc.wait(30) == 0, exp.stderr
    assert f"received {sig.name}, stopping" in exp.stderr
    assert "Traceback" not in exp.stderr


def test_outage_on_metrics_stale_data_withdrawn_then_recovery(haproxy_factory, workdir, exporters) -> None:
    hap = haproxy_factory(CFG, nports=1)
    exp = Exporter(workdir, "--haproxy.address", hap.admin, "--poll.interval", "100ms", "--poll.max-age", "1s")
    exporters.append(exp)
    first = exp.wait_metrics(lambda m: value(m, "haproxy_up") == 1, "never up")
    assert value(first, "haproxy_process_pid") == pid_of(hap)

    hap.stop()
    down = exp.wait_metrics(lambda m: value(m, "haproxy_up") == 0, "haproxy_up never went to 0")
    assert [k for k in down if k[0] == "haproxy_exporter_command_errors_total"
            and dict(k[1])["reason"] in ("refused", "no_socket")], down
    exp.wait_metrics(lambda m: value(m, "haproxy_exporter_snapshot_stale") == 1
                     and not [k for k in m if k[0].startswith("haproxy_frontend_")],
                     "stale HAProxy series still served past poll.max_age")

    hap.start()
    back = exp.wait_metrics(lambda m: value(m, "haproxy_up") == 1, "did not recover")
    assert value(back, "haproxy_process_pid") == pid_of(hap) != value(first, "haproxy_process_pid")
    assert value(back, "haproxy_exporter_snapshot_stale") == 0
    assert exp.proc.poll() is None


def test_a_sighup_storm_while_scraping_neither_deadlocks_nor_kills(haproxy_factory, workdir, exporters) -> None:
    """Hundreds of SIGHUPs as fast as they can be sent while a client scrapes in a loop: the
    process answers throughout, reloads (one pending SIGHUP at a time) and still stops on SIGTERM."""
    import os
    import threading

    hap = haproxy_factory(CFG, nports=1)
    config = workdir / "exporter.yml"
    config.write_text(f"haproxy:\n  address: {hap.admin}\npoll:\n  interval: 100ms\n")
    exp = Exporter(workdir, "--config.file", str(config))
    exporters.append(exp)
    exp.wait_metrics(lambda got: value(got, "haproxy_up") == 1, "the exporter did not come up")
    failures: list[str] = []
    stop = threading.Event()

    def scrape_loop() -> None:
        while not stop.is_set():
            if exp.scrape() is None:
                failures.append("a scrape failed")

    scraper = threading.Thread(target=scrape_loop, daemon=True)
    scraper.start()
    try:
        for _ in range(500):
            os.kill(exp.proc.pid, signal.SIGHUP)
    finally:
        stop.set()
        scraper.join(30)
    assert exp.proc.poll() is None, f"the process died:\n{exp.stderr}"
    got = exp.wait_metrics(lambda got: value(got, "haproxy_up") == 1, "no answer after the storm")
    assert value(got, "haproxy_exporter_config_last_reload_successful") == 1
    assert failures == []
    assert exp.stderr.count("config reloaded") >= 1
    exp.proc.send_signal(signal.SIGTERM)
    assert exp.proc.wait(30) == 0, exp.stderr  # generous: only a deadlock would reach it
    assert "Traceback" not in exp.stderr and "RecursionError" not in exp.stderr
