"""Test support: a real HAProxy per test on a temp-dir socket and loopback ports.

What the benchmarks use too (ports, processes, waits, the raw Runtime API reader, which is
deliberately independent of ``exporter.runtime``) lives in testkit/ and is imported from there
under the names the tests have always used.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

from testkit.configs import admin_http_head
from testkit.procs import free_ports as free_ports
from testkit.procs import haproxy_binary as haproxy_binary
from testkit.procs import require as require
from testkit.procs import stop_process as stop_process
from testkit.procs import wait_for as wait_for
from testkit.runtime import answers
from testkit.runtime import raw_command as raw_command
from testkit.servers import SlowBackend as SlowBackend

# The start of most test configs: an admin socket and HTTP defaults.  Add proxies after it.
ADMIN_HTTP_HEAD = admin_http_head("{admin}")


# Runs the real CLI as another user.  Everything is imported while still root and only then are
# privileges dropped, so the test does not depend on the checkout and the virtualenv being
# readable by that user (a clone under a mode-700 temp dir is not); what the CLI opens after
# the drop (config file, stats socket) is checked with that user's rights.
_AS_USER = """
import os, sys
import exporter.cli, exporter.poll.poller, exporter.poll.snapshot, exporter.web.server, exporter.sources.sticktables.source
import prometheus_client, prometheus_client.process_collector
uid = int(sys.argv.pop(1))
os.setgroups([]); os.setgid(uid); os.setuid(uid)
sys.exit(exporter.cli.main(sys.argv[1:]))
"""


# What an HAProxy without stick tables, resolvers, certificates, OCSP responses or updates, peers, maps or ACLs
# answers to the optional sources' commands: the unit tests' fake sockets add these, so a new source
# adds its line here, once.
EMPTY_ANSWERS = {"show table": "", "show resolvers": "", "show ssl cert": "# filename\n",
                 "show ssl ocsp-response": "# Certificate IDs\n",
                 "show ssl ocsp-updates": "OCSP Certid | Path | Next Update | Last Update | Successes | Failures"
                                          " | Last Update Status | Last Update Status (str)\n", "show peers": "",
                 "show map": "# id (file) description\n", "show acl": "# id (file) description\n"}


def run_cli_as(uid: int, args: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    """``python -m exporter ARGS`` as ``uid`` (the test must run as root)."""
    return subprocess.run([sys.executable, "-c", _AS_USER, str(uid), *args],
                          capture_output=True, text=True, timeout=30, **kwargs)


def promtool_check_metrics(text: str) -> list[str]:
    """What ``promtool check metrics`` (Prometheus's own linter) says is wrong with a page; skips
    locally without promtool.  Counters without _total (promex's gauges) are not problems here."""
    promtool = require(shutil.which("promtool"), "promtool (Debian package prometheus)")
    result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    return [line for line in (result.stdout + result.stderr).splitlines()
            if line and "counter metrics should have" not in line and "non-histogram" not in line]


def unit_directives(text: str) -> dict[str, list[str]]:
    """A systemd unit's key → values, in order (systemd allows repeated keys, configparser does not)."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")) and "=" in line:
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def stat_rows(text: str) -> list[dict[str, str]]:
    """``show stat`` as dicts keyed by header name (csv.DictReader; independent of the exporter)."""
    header, _, body = text.partition("\n")
    names = header[2:].rstrip(",").split(",")
    reader = csv.reader(io.StringIO(body))
    return [dict(zip(names, row)) for row in reader if row]


class HAProxy:
    """One HAProxy process from a config template; ``{admin}``, ``{user}``, ``{p0}``.. are filled in."""

    def __init__(self, workdir: Path, template: str, nports: int = 6, binary: str | None = None) -> None:
        self.binary = binary or require(haproxy_binary(), "haproxy")
        self.dir = workdir
        self.admin = str(workdir / "admin.sock")
        self.user = str(workdir / "user.sock")
        self.master = str(workdir / "master.sock")  # the master CLI, when started with start_master()
        self.ports = free_ports(nports)
        self.values = {"admin": self.admin, "user": self.user, "dir": str(workdir),
                       **{f"p{i}": p for i, p in enumerate(self.ports)}}
        self.cfg = workdir / "haproxy.cfg"
        self.cfg.write_text(template.format(**self.values))
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / "haproxy.log"

    def start(self, extra_args: tuple[str, ...] = ()) -> "HAProxy":
        check = subprocess.run([self.binary, "-c", "-q", "-f", str(self.cfg)], capture_output=True, text=True)
        assert check.returncode == 0, f"bad test config: {check.stderr}"
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([self.binary, "-db", "-f", str(self.cfg), *extra_args],
                                         stdout=log, stderr=log, cwd=self.dir)
        wait_for(lambda: self._answers(), 10, f"haproxy did not open {self.admin}: {self.log.read_text()}")
        return self

    def start_master(self) -> "HAProxy":
        """Master-worker mode with a master CLI (``-W -S``), ready to take a reload (SIGUSR2)."""
        self.start(("-W", "-S", self.master))
        # The master handles USR2 only once its loop runs, which it logs; a signal sent earlier is lost.
        wait_for(lambda: "Loading success" in self.log.read_text(), 10, "the master did not finish loading")
        wait_for(lambda: bool(self._worker_pids()), 10, "the master CLI does not answer")  # it opens just after
        return self

    def workers(self) -> tuple[list[str], list[str]]:
        """(current, old) worker pids as the master lists them (the test's own reading of show proc)."""
        text = raw_command(self.master, "show proc")
        section, current, old = "", [], []
        for line in text.split("\n")[2:]:
            if line.startswith("#"):
                section = line
            elif line.strip():
                (current if section == "# workers" else old if section == "# old workers" else []).append(line.split()[0])
        return current, old

    def reload(self) -> str:
        """SIGUSR2 to the master; returns the new current worker's pid once the master lists it."""
        assert self.proc is not None
        before = self._worker_pids()
        os.kill(self.proc.pid, signal.SIGUSR2)
        wait_for(lambda: bool(self._worker_pids() - before) and self._answers(), 15,
                 f"no new worker after SIGUSR2: {self.log.read_text()}")
        return (self._worker_pids() - before).pop()

    def _worker_pids(self) -> set[str]:
        try:
            current, old = self.workers()
        except OSError:
            return set()  # the master CLI is briefly away while the master re-executes itself
        return set(current) | set(old)

    def _answers(self) -> bool:
        return answers(self.admin)

    def cmd(self, command: str, sock: str | None = None) -> str:
        return raw_command(sock or self.admin, command)

    def stat(self) -> list[dict[str, str]]:
        return stat_rows(self.cmd("show stat"))

    def status_of(self, proxy: str, server: str) -> str:
        for row in self.stat():
            if row["pxname"] == proxy and row["svname"] == server:
                return row["status"]
        raise KeyError((proxy, server))

    def get(self, port_index: int, path: str = "/") -> int:
        url = f"http://127.0.0.1:{self.ports[port_index]}{path}"
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return resp.status
        except urllib.error.HTTPError as exc:
            return exc.code

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGUSR1)  # soft stop
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(3)
        self.proc = None


def download(port: int, path: str = "/") -> threading.Thread:
    """Fetch a URL to the end in a thread (the client of a long download)."""
    def run() -> None:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=60) as resp:
            while resp.read(65536):
                pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def resolver_counters(text: str) -> dict[tuple[str, str, str], int]:
    """``show resolvers`` read here, independently of the exporter: {(section, nameserver, promex
    name): value}; ``snd_error`` is the one counter whose promex name differs (``send_error``)."""
    found: dict[tuple[str, str, str], int] = {}
    section = nameserver = ""
    for line in text.split("\n"):
        if line.startswith("Resolvers section "):
            section = line.split(" ", 2)[2]
        elif line.startswith(" nameserver "):
            nameserver = line[len(" nameserver "):-1]
        elif (m := re.fullmatch(r"  (\w+):\s+(\d+)", line)):
            found[(section, nameserver, {"snd_error": "send_error"}.get(m.group(1), m.group(1)))] = int(m.group(2))
    return found


def peer_links(text: str) -> dict[tuple[str, str], dict[str, str]]:
    """``show peers`` read here, independently of the exporter: {(section, remote peer): the
    ``key=value`` words of the peer's first two lines, plus ``role`` (local/remote) and ``session``
    (active/inactive)}.  Only remote peers: the local one is the process itself."""
    found: dict[tuple[str, str], dict[str, str]] = {}
    section, current, lines_left = "", None, 0
    for line in text.split("\n"):
        if (head := re.match(r"0x[0-9a-f]+: \[.*?\] id=(\S+) ", line)):
            section, current = head.group(1), None
        elif (peer := re.match(r"  0x[0-9a-f]+: id=(\S+?)\((local|remote),(active|inactive)\) (.*)", line)):
            name, role, session, rest = peer.groups()
            current = {"role": role, "session": session, **dict(re.findall(r"(\w+)=(\S+)", rest))}
            lines_left = 1
            if role == "remote":
                found[(section, name)] = current
        elif current is not None and lines_left:
            current.update(re.findall(r"(\w+)=(\S+)", line))  # reconnect=... new_conn=... coll=...
            lines_left -= 1
    return found


def haproxy_seconds(text: str) -> int:
    """HAProxy's ``human_time`` (``4s``, ``1m2s``, ``2h5m``, ``3d1h``) in seconds, for the tests."""
    units = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([dhms])", text))


class FakeClient:
    """A target's client that answers from ``fetch`` (a command → its text) instead of a socket,
    each answer counted against the poll's budget once given, as the real client counts it."""

    def __init__(self, fetch: Callable[[str], object]) -> None:
        self.fetch = fetch

    def run(self, command: str, budget=None):
        text = self.fetch(command)
        if budget is not None:
            budget.take(len(text), command)
        return text


def answering(fetch: Callable[[str], object]) -> Callable[[object], FakeClient]:
    """A ``Poller(connect=...)`` whose every target answers from ``fetch``."""
    return lambda target: FakeClient(fetch)


def answering_each(fetch_for: Callable[[object], Callable[[str], object]]) -> Callable[[object], FakeClient]:
    """A ``Poller(connect=...)`` whose each target answers from ``fetch_for(target)``."""
    return lambda target: FakeClient(fetch_for(target))


class FakeClock:
    """An ``exporter.clock.Clock`` that moves only when the test moves it (``clock.now += 5``) or
    something sleeps on it (each pause kept in ``slept``, and the time moved by it): schedules,
    ages and retries then come out the same on every run, and nothing waits.  The wall clock
    reads ``now`` too, unless ``wall`` is given (``SYSTEM_CLOCK.wall``: freezegun's, where a
    test moves the wall apart from the monotonic clock).
    """

    def __init__(self, now: float = 1000.0, wall: Callable[[], float] | None = None) -> None:
        self.now = now
        self._wall = wall
        self.slept: list[float] = []

    def wall(self) -> float:
        return self.now if self._wall is None else self._wall()

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class Finished:
    """What ``run_in_place`` returns: a poll that has already ended."""

    def is_alive(self) -> bool:
        return False

    def join(self, timeout: float | None = None) -> None:
        return None


def run_in_place(work: Callable[[], object], name: str) -> Finished:
    """A ``Poller(start=...)`` that runs each poll in the scheduler's own thread: with a fake clock,
    the schedule is then exact and the same on every run."""
    work()
    return Finished()


def timed_request(port: int, path: str) -> tuple[int, float]:
    """One HTTP request on a new connection: the status and the time the client saw, from connect
    to the end of the response (the log tests' oracle for HAProxy's timers)."""
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return int(answer.split(b" ", 2)[1]), time.perf_counter() - started


def stat_counters(hap: HAProxy) -> dict[tuple[str, str], dict[str, int]]:
    """(proxy, svname) → the numeric cells of HAProxy's own show stat row."""
    return {(row["pxname"], row["svname"]): {k: int(v) for k, v in row.items() if v.isdigit()} for row in hap.stat()}


def settled_counters(hap: HAProxy, timeout: float = 10) -> dict[tuple[str, str], dict[str, int]]:
    """stat_counters once no session is open any more: HAProxy counts a response (hrsp_*) when its
    stream ends, which may come a moment after the client has read the response."""
    found: dict[tuple[str, str], dict[str, int]] = {}

    def settled() -> bool:
        found.clear()
        found.update(stat_counters(hap))
        return all(cells.get("scur", 0) == 0 for cells in found.values())

    wait_for(settled, timeout, "sessions still open in HAProxy's show stat")
    return found


def stat_delta(before: dict[Any, dict[str, int]], after: dict[Any, dict[str, int]], row: tuple[str, str],
               *columns: str) -> int:
    """How much the columns of one row grew between two stat_counters."""
    return sum(after[row].get(c, 0) - before[row].get(c, 0) for c in columns)


def start_logged(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    """A process whose output goes to ``log`` (read back when a test fails)."""
    with open(log, "ab") as out:
        return subprocess.Popen(args, stdout=out, stderr=out)


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False
