"""The ring's reader in a process of its own (exporter/sources/logs/process.py, child.py), with the
real CLI in a subprocess and a real HAProxy:

* the reader's process killed with SIGKILL is started again, the failure is counted
  (``reason="reader_died"``), and the counts go on from where they were: no counter goes down, and
  the histograms count every line of both readers;
* the exporter killed with SIGKILL leaves no reader running (the kernel's parent-death signal, or
  the end of its stdin);
* a SIGTERM'd exporter leaves no reader running either, also when the SIGTERM goes to its whole
  process group (a service manager's stop), without counting the reader as died.

No timed assertions: each wait is a bounded wait on a condition (support.wait_for).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest
from exposition import samples, value
from support import ADMIN_HTTP_HEAD, HAProxy, free_ports, timed_request, wait_for

from testkit.servers import DelayedOrigin

# The exporter's own side is under test here (its processes); one HAProxy gives it a ring.
pytestmark = pytest.mark.one_haproxy

REPO = Path(__file__).resolve().parents[2]
CHILD = b"exporter.sources.logs.child"
CFG = ADMIN_HTTP_HEAD + """
ring httplog
    format raw
    maxlen 2048
    size 1048576
defaults
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe_http
    mode http
    option httplog
    log ring@httplog local0
    bind 127.0.0.1:{p0}
    default_backend be_fast
backend be_fast
    mode http
    server f1 127.0.0.1:{origin}
"""


class Exporter:
    """``python -m exporter`` reading the ring, stderr in a file; killed at the end of the test."""

    def __init__(self, workdir: Path, address: str) -> None:
        self.port = free_ports(1)[0]
        config = workdir / "exporter.yml"
        config.write_text(f"haproxy:\n  address: {address}\npoll:\n  interval: 200ms\n"
                          "logs:\n  ring: httplog\n  format: httplog\n")
        self.stderr_path = workdir / "exporter.stderr"
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "exporter", "--web.listen-address", f"127.0.0.1:{self.port}",
                 "--config.file", str(config)], stdout=subprocess.DEVNULL, stderr=err, cwd=REPO,
                start_new_session=True)  # a group of its own: a service manager's SIGTERM goes to all of it

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def scrape(self) -> dict[Any, float] | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as resp:
                return samples(resp.read().decode())
        except (urllib.error.URLError, ConnectionError):
            return None

    def until(self, message: str, predicate: Any) -> dict[Any, float]:
        found: list[dict[Any, float]] = []

        def check() -> bool:
            got = self.scrape()
            if got is not None and predicate(got):
                found.append(got)
                return True
            return False

        wait_for(check, 30, f"{message}; exporter stderr:\n{self.stderr}", step=0.1)
        return found[0]

    def readers(self) -> list[int]:
        """The exporter's child processes that are log readers."""
        return [pid for pid in children(self.proc.pid) if CHILD in cmdline(pid)]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


def children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                found += [int(c) for c in Path(f"/proc/{pid}/task/{tid}/children").read_text().split()]
            except FileNotFoundError:
                pass
    except FileNotFoundError:
        pass
    return found


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return b""


def running(pid: int, what: bytes = CHILD) -> bool:
    """Whether ``pid`` is still a live process running ``what`` (not gone, not a zombie, not reused)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X") and what in cmdline(pid)


@pytest.fixture
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="hrxp") as d:
        yield Path(d)


@pytest.fixture
def logged(haproxy_factory, origin: DelayedOrigin) -> HAProxy:
    hap: HAProxy = haproxy_factory(CFG.replace("{origin}", str(origin.port)), nports=1)
    return hap


@pytest.fixture
def exporter(logged: HAProxy, workdir: Path) -> Iterator[Exporter]:
    made = Exporter(workdir, logged.admin)
    yield made
    made.stop()


def lines_read(got: dict[Any, float]) -> float:
    return value(got, "haproxy_exporter_log_lines_read_total") or 0


def counters(got: dict[Any, float]) -> dict[Any, float]:
    """Every sample that may only go up: counters, and the histograms' buckets, counts and sums."""
    return {key: v for key, v in got.items()
            if key[0].endswith(("_total", "_bucket", "_count", "_sum")) and "_log_" in key[0]}


def test_a_killed_reader_is_started_again_and_the_counts_go_on(logged: HAProxy, exporter: Exporter) -> None:
    exporter.until("the log stream never opened", lambda got: value(got, "haproxy_exporter_log_stream_up") == 1)
    for _ in range(5):
        timed_request(logged.ports[0], "/")
    before = exporter.until("not every log line was read", lambda got: lines_read(got) >= 5)
    assert value(before, "haproxy_backend_log_total_time_seconds_count", proxy="be_fast") == 5
    [first] = exporter.readers()

    os.kill(first, signal.SIGKILL)
    after = exporter.until("the reader was not started again",
                           lambda got: (value(got, "haproxy_exporter_log_stream_failures_total", reason="reader_died")
                                        or 0) >= 1
                           and value(got, "haproxy_exporter_log_stream_up") == 1 and exporter.readers() != [first])
    [second] = exporter.readers()
    assert second != first and not running(first)
    for _ in range(3):
        timed_request(logged.ports[0], "/")
    after = exporter.until("the new reader's lines were not counted", lambda got: lines_read(got) >= 8)
    assert lines_read(after) == 8
    assert value(after, "haproxy_backend_log_total_time_seconds_count", proxy="be_fast") == 8
    assert value(after, "haproxy_exporter_log_stream_connects_total") == 2
    went_down = {key: (v, after.get(key)) for key, v in counters(before).items() if after.get(key, -1) < v}
    assert not went_down
    assert exporter.stderr.count("reader_died") == 1  # said once
    assert exporter.proc.poll() is None


@pytest.mark.parametrize("sig, group", [(signal.SIGKILL, False), (signal.SIGTERM, False), (signal.SIGTERM, True)],
                         ids=["SIGKILL", "SIGTERM", "SIGTERM-to-the-group"])
def test_the_reader_goes_away_with_the_exporter(logged: HAProxy, exporter: Exporter, sig: int, group: bool) -> None:
    """SIGTERM to the whole group is systemd's stop (KillMode=control-group): the reader leaves its
    end to the exporter, which does not take it for a reader that died."""
    exporter.until("the log stream never opened", lambda got: value(got, "haproxy_exporter_log_stream_up") == 1)
    [reader] = exporter.readers()
    assert running(reader)
    if group:
        os.killpg(exporter.proc.pid, sig)
    else:
        exporter.proc.send_signal(sig)
    code = exporter.proc.wait(20)
    assert code == (-signal.SIGKILL if sig == signal.SIGKILL else 0)
    wait_for(lambda: not running(reader), 20, f"the log reader {reader} outlived the exporter ({sig!r})")
    if sig == signal.SIGTERM:
        assert "reader_died" not in exporter.stderr


def nice(pid: int) -> int:
    """The process's nice value (/proc/<pid>/stat, field 19)."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def test_the_reader_yields_the_cores_to_the_exporter(logged: HAProxy, exporter: Exporter) -> None:
    """The ring waits for its reader, a scrape for nothing but a core: the reader runs at a lower
    priority than the exporter whose lines it reads, under the batch policy (no preempting)."""
    exporter.until("the log stream never opened", lambda got: value(got, "haproxy_exporter_log_stream_up") == 1)
    [reader] = exporter.readers()
    assert nice(reader) == min(19, nice(exporter.proc.pid) + 10)
    assert os.sched_getscheduler(reader) == os.SCHED_BATCH
    assert os.sched_getscheduler(exporter.proc.pid) == os.SCHED_OTHER
