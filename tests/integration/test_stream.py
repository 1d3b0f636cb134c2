"""A command whose answer does not end, on real HAProxys: ``show events <ring> -w -n`` through
RuntimeClient.stream, the way a log source will read HAProxy's log ring.

The oracle is HAProxy itself: what its frontend counted (``req_tot`` of ``show stat``, read on
the socket by the test) against the log lines the stream gave, each naming the request the test
sent.  Nothing in the exporter registers ``show events`` yet, so the tests allow it themselves.
"""

from __future__ import annotations

import csv
import io
import threading
import time
import urllib.request

import pytest

from exporter.config import TargetConfig
from exporter.runtime.address import parse_address
from exporter.runtime.client import Allowlist, CommandRefused, RuntimeClient, Stream
from exporter.runtime.errors import ParseError
from exporter.sources.logs.events import Sink, parse_sinks
from testkit.procs import wait_for
from testkit.runtime import raw_command

CFG = """
global
    stats socket {admin} mode 600 level admin
    stats socket {user} mode 600 level user
    stats socket {dir}/operator.sock mode 600 level operator
    stats timeout 2s
ring logs
    format rfc3164
    maxlen 2048
    size 1048576
defaults
    mode http
    log ring@logs local0
    option httplog
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe_logged
    bind 127.0.0.1:{p0}
    http-request return status 200
"""

EVENTS = Allowlist([r"show events logs -w -n", r"show events nosuchring -w -n"])


def client(path: str) -> RuntimeClient:
    return RuntimeClient(parse_address(path), EVENTS, TargetConfig())


class Collector:
    """Reads a stream in a thread of its own, as a log source will."""

    def __init__(self, stream: Stream) -> None:
        self.stream = stream
        self.lines: list[str] = []
        self.batches = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        for batch in self.stream.batches():
            self.batches += 1
            self.lines.extend(batch)


def get(port: int, path: str) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
        return resp.status


def req_tot(admin: str, proxy: str) -> int:
    rows = csv.DictReader(io.StringIO(raw_command(admin, "show stat").lstrip("# ")))
    return next(int(row["req_tot"]) for row in rows if row["pxname"] == proxy and row["svname"] == "FRONTEND")


@pytest.fixture
def haproxy(haproxy_factory):
    return haproxy_factory(CFG, nports=1)


def test_the_stream_gives_every_log_line_the_frontend_counted(haproxy) -> None:
    before = req_tot(haproxy.admin, "fe_logged")
    collector = Collector(client(f"{haproxy.dir}/operator.sock").stream("show events logs -w -n"))
    time.sleep(0.2)  # -n: only what is logged from now on
    paths = [f"/request-{n}" for n in range(50)]
    for path in paths:
        assert get(haproxy.ports[0], path) == 200
    counted = req_tot(haproxy.admin, "fe_logged") - before
    wait_for(lambda: len(collector.lines) >= counted, 10, f"{len(collector.lines)} of {counted} lines streamed")
    collector.stream.close()
    collector.thread.join(5)
    assert not collector.thread.is_alive()
    assert counted == len(paths) == len(collector.lines)
    # Each line is one request the test sent (in the order HAProxy logged them, which is the order
    # they ended, not always the order they were sent).
    assert all(line.startswith("<134>") and " fe_logged " in line for line in collector.lines)
    assert sorted(line.rsplit('"GET ', 1)[1].split(" ", 1)[0] for line in collector.lines) == sorted(paths)
    assert collector.stream.end == "closed"


def test_an_idle_stream_outlives_the_stats_timeout_and_closes_at_once(haproxy, haproxy_bin) -> None:
    collector = Collector(client(f"{haproxy.dir}/operator.sock").stream("show events logs -w -n"))
    time.sleep(3)  # past "stats timeout 2s"
    if haproxy_bin.name == "2.6" and not collector.thread.is_alive():
        # Debian's 2.6.12 may end an idle stream at its stats timeout with one blank line (seen on
        # one machine, not on another): an end with nothing read, which the log source's reader
        # answers with a new stream at once (exporter/sources/logs/reader.py, LIVED)
        assert collector.stream.end == "ended" and collector.lines == []
        return
    assert collector.thread.is_alive() and collector.stream.end is None
    assert get(haproxy.ports[0], "/late") == 200
    wait_for(lambda: len(collector.lines) == 1, 10, "the line logged after the idle time")
    started = time.monotonic()
    collector.stream.close()
    collector.thread.join(5)
    assert not collector.thread.is_alive() and time.monotonic() - started < 1
    assert collector.stream.end == "closed"


def test_a_stream_ends_when_haproxy_stops(haproxy) -> None:
    collector = Collector(client(haproxy.admin).stream("show events logs -w -n"))
    time.sleep(0.2)
    haproxy.stop()
    collector.thread.join(10)
    assert not collector.thread.is_alive()
    assert collector.stream.end in ("ended", "io")
    # What HAProxy logs of its own stop goes into the ring too ("Proxy fe_logged stopped (...)"):
    # a log source meets lines that are no request's
    assert all("stopped" in line or "Stopping" in line for line in collector.lines), collector.lines


@pytest.mark.parametrize("socket_name, command", [
    ("user.sock", "show events logs -w -n"),  # below operator level
    ("operator.sock", "show events nosuchring -w -n"),  # the ring's name is wrong
])
def test_a_refused_stream_ends_by_itself_with_haproxys_one_line(haproxy, socket_name: str, command: str) -> None:
    collector = Collector(client(f"{haproxy.dir}/{socket_name}").stream(command))
    collector.thread.join(10)
    assert not collector.thread.is_alive() and collector.stream.end == "ended"
    # HAProxy's refusal, not a log line (which starts with the ring's <priority>): why a source
    # checks the level and the ring with commands that end before it opens a stream
    assert len(collector.lines) == 1 and not collector.lines[0].startswith("<")
    said = raw_command(f"{haproxy.dir}/{socket_name}", command.replace(" -w -n", " -n"))
    assert said.strip() == collector.lines[0]


def test_only_allowed_commands_are_streamed(haproxy) -> None:
    with pytest.raises(CommandRefused):
        client(haproxy.admin).stream("show events logs -w")  # not the declared form
    with pytest.raises(CommandRefused):
        client(haproxy.admin).stream("show events logs -w -n; shutdown frontend fe_logged")


def test_through_a_master_cli_the_stream_ends_at_once_and_the_workers_socket_streams(haproxy_factory) -> None:
    """What decides how a log source reads a master-worker HAProxy: routed through the master CLI,
    ``@!<pid> show events <ring> -w -n`` answers at once with nothing and ends, while the worker's
    own stats socket streams (reference sheet §6.2)."""
    haproxy = haproxy_factory(CFG, nports=1, start=False).start_master()
    (pid,), _ = haproxy.workers()
    routed = RuntimeClient(parse_address(haproxy.master), Allowlist([r"show events logs -w -n"]), TargetConfig())
    through_master = Collector(routed.stream(f"@!{pid} show events logs -w -n"))
    through_master.thread.join(10)
    assert not through_master.thread.is_alive() and through_master.stream.end == "ended"
    assert through_master.lines == []  # nothing streamed
    direct = Collector(client(f"{haproxy.dir}/operator.sock").stream("show events logs -w -n"))
    time.sleep(0.2)
    assert get(haproxy.ports[0], "/through-the-worker") == 200
    wait_for(lambda: len(direct.lines) == 1, 10, "the worker's socket streams")
    direct.stream.close()
    direct.thread.join(5)
    assert '"GET /through-the-worker HTTP/1.1"' in direct.lines[0]


def test_show_events_lists_the_ring_with_its_dropped_count_at_every_level(haproxy) -> None:
    """The listing a log source reads each poll for the ring's ``dropped`` (exporter/sources/logs/events.py):
    the ring of the config, a buffer, nothing dropped yet; a ``level user`` socket lists it too
    (only dumping or streaming a ring needs operator)."""
    for socket_path in (f"{haproxy.dir}/operator.sock", haproxy.user):
        sinks = parse_sinks(raw_command(socket_path, "show events"))
        assert sinks["logs"] == Sink("logs", "buffer", 0, "logs")  # no description configured: its name
        assert sinks["stdout"].type == sinks["stderr"].type == "fd"
    with pytest.raises(ParseError) as refused:
        parse_sinks(raw_command(haproxy.user, "show events logs"))  # a dump is not a listing
    assert refused.value.reason == "permission_denied"
