"""The HTTP server under abuse: the real CLI in front of a generated HAProxy, and hostile clients.

Reproduces the figures of issue 11 ("Production-grade serving") on this machine, each scenario
against a fresh ``python -m exporter`` reading a B x S HAProxy (bench/genconfig.py, 1000 x 10 by
default, 44.5 MB of plain text per scrape):

* burst     N clients connect at the same instant and ask for gzip /metrics: how many are answered
* halfopen  N connections send half a request line and hold it: scrapes meanwhile, and how soon
            after they all close at once scrapes are back to normal
* idle      N idle connections: resident memory against the idle exporter's
* drip      N connections send one header byte every few seconds: when they are cut
* tls       N TCP connections to the TLS port that never handshake: a TLS scrape meanwhile
* slow      one client reads the plain body at a fixed rate (256 KiB/s): does it get all of it
* fdlimit   the exporter at a 1,024 descriptor limit with 1,020 idle clients: do polls go on,
            and how much CPU does it use
* wrongpw   basic auth (bcrypt cost 10): distinct wrong passwords with a 15 kB header, each on a
            connection closed without waiting, for 40 s; resident memory meanwhile, then a
            SIGHUP and scrapes with the right passwords from other addresses (127.0.0.2: used
            before the flood; 127.0.0.3: never checked) while the flood goes on (issue 20)
* stalled   N clients ask for the plain (then, in a new exporter, the gzip) page and never read:
            resident memory per stalled reader, and after they leave (no polls meanwhile, so no
            snapshot is pinned)
* tlsstalled  the same over TLS: clients that complete the handshake, ask and never read

Only loopback; every loop is bounded; every child is stopped in a ``finally``.  Figures go to
stdout and to bench/results/abuse-<time>.json.

    .venv/bin/python -m bench.abuse                       # everything (~5 minutes, slow: ~3)
    .venv/bin/python -m bench.abuse --scenarios burst,halfopen --size 1000x10
    .venv/bin/python -m bench.abuse --root /path/to/other/checkout   # the same, another version
    .venv/bin/python -m bench.abuse --scenarios wrongpw --size 10x2   # the issue's small exporter
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import resource
import selectors
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

import bcrypt

from bench import client
from bench.genconfig import haproxy_config
from bench.procs import RESULTS, ROOT, Child, start_haproxy, wait_until
from testkit.procs import free_port
from testkit.tlscerts import make_certs

# no poll while stalled readers are held: each would pin the snapshot of its time
HOLD_ARGS = ["--poll.interval=1h", "--poll.max-age=2h", "--web.write-stall-timeout=5m"]
HALF_LINE = b"GET /metr"


# -- the exporter ---------------------------------------------------------------------------

class Exporter:
    """``python -m exporter`` from ``root`` on a free port, until ``stop``."""

    def __init__(self, root: Path, sock: str, workdir: Path, extra: list[str] | None = None,
                 preexec: Callable[[], None] | None = None, tls: ssl.SSLContext | None = None,
                 auth: tuple[str, str] | None = None) -> None:
        self.tls = tls
        self.auth = auth
        self._args = (root, sock, workdir, extra or [], preexec)
        self._run(*self._args)

    def _run(self, root: Path, sock: str, workdir: Path, extra: list[str],
             preexec: Callable[[], None] | None) -> None:
        self.port = free_port()
        argv = [sys.executable, "-m", "exporter", f"--haproxy.address={sock}",
                f"--web.listen-address=127.0.0.1:{self.port}", "--poll.interval=2s",
                "--haproxy.timeout=60s", "--log.level=info", *extra]
        self.log = workdir / f"exporter-{self.port}.log"
        self.child = Child("exporter", argv, self.log, cwd=root, preexec=preexec)
        wait_until(lambda: self.child.alive() and self.status() == 200, 120, "the exporter's first poll")

    def restart(self) -> None:
        """A new process, the same arguments: memory measured from a fresh start."""
        self.stop()
        self._run(*self._args)

    def status(self) -> int:
        if self.tls is not None:
            return client.tls_scrape(self.port, self.tls, True, 30)[0]
        if self.auth is not None:
            return basic_scrape(self.port, *self.auth, "127.0.0.1", 30)[0]
        return client.status_of(client.scrape(self.port, True, keep=True, timeout=30).raw or b"")

    def sample(self) -> dict[str, Any]:
        return {"rss_mib": round(self.child.status("VmRSS") / 1024, 1), "threads": self.child.status("Threads"),
                "fds": self.child.fds()}

    def stop(self) -> None:
        self.child.stop()


def basic_scrape(port: int, user: str, password: str, source: str, timeout: float) -> tuple[int, float]:
    """A gzip scrape with basic auth from ``source`` (a loopback address): status (0: no answer) and seconds."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    request = (f"GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {token}\r\nAccept-Encoding: gzip\r\n"
               "Connection: close\r\n\r\n").encode()
    started, head = time.perf_counter(), b""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(source, 0)) as sock:
            sock.sendall(request)
            while chunk := sock.recv(1 << 20):
                head = head or chunk[:64]
    except OSError:
        pass
    seconds = time.perf_counter() - started
    return client.status_of(head), seconds


# -- clients ----------------------------------------------------------------------------------

def open_connections(port: int, count: int, first: bytes = b"", budget: float = 60.0) -> list[socket.socket]:
    """Up to ``count`` connections, within ``budget`` seconds in all (a server with a tiny backlog
    makes connects wait for SYN retries); failed connects are left out."""
    socks: list[socket.socket] = []
    deadline = time.monotonic() + budget
    while len(socks) < count and time.monotonic() < deadline:
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=max(0.1, min(10.0, deadline - time.monotonic())))
            if first:
                sock.sendall(first)
        except OSError:
            continue
        socks.append(sock)
    return socks


def wait_accepted(exp: Exporter, count: int, limit: float = 30.0) -> float | None:
    """Seconds until the exporter holds ``count`` more descriptors than ``base``, or None."""
    try:
        return wait_until(lambda: exp.child.fds() >= count, limit, "accepted", step=0.02)
    except TimeoutError:
        return None


def close_all(socks: list[socket.socket]) -> None:
    for sock in socks:
        sock.close()
    socks.clear()


def scrapes(port: int, count: int, use_gzip: bool, buf: bytearray) -> list[float]:
    return [client.scrape(port, use_gzip, buffer=buf, timeout=60).seconds for _ in range(count)]


def closed_by_server(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(65536) == b"" or closed_by_server(sock)
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        sock.setblocking(True)


def burst(port: int, count: int, limit: float) -> dict:
    """``count`` non-blocking connects issued back to back, then every client sends a gzip
    scrape and reads to the end; answered = a complete response within ``limit`` seconds."""
    request = b"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n"
    sel = selectors.DefaultSelector()
    state: dict[socket.socket, dict] = {}
    started = time.monotonic()
    for _ in range(count):
        sock = socket.socket()
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", port))
        state[sock] = {"sent": False, "got": 0, "head": b"", "done": None}
        sel.register(sock, selectors.EVENT_WRITE, sock)
    try:
        while time.monotonic() - started < limit and any(s["done"] is None for s in state.values()):
            for key, _mask in sel.select(timeout=0.5):
                sock = key.data
                st = state[sock]
                if not st["sent"]:
                    try:
                        sock.send(request)
                    except OSError:
                        st["done"] = -1.0
                        sel.unregister(sock)
                        continue
                    st["sent"] = True
                    sel.modify(sock, selectors.EVENT_READ)
                    continue
                try:
                    chunk = sock.recv(1 << 20)
                except OSError:
                    chunk = b""
                if len(st["head"]) < 12:
                    st["head"] += chunk[:12]
                st["got"] += len(chunk)
                if not chunk:
                    st["done"] = time.monotonic() - started if st["head"].startswith(b"HTTP/1.1 200") else -1.0
                    sel.unregister(sock)
    finally:
        for sock in state:
            sock.close()
        sel.close()
    times = [s["done"] for s in state.values() if s["done"] is not None and s["done"] >= 0]
    return {"clients": count, "answered": len(times), "limit_s": limit,
            "last_answer_s": round(max(times), 2) if times else None,
            "median_answer_s": round(statistics.median(times), 2) if times else None}


# -- scenarios -------------------------------------------------------------------------------

def run_burst(exp: Exporter, args: argparse.Namespace) -> dict:
    return burst(exp.port, args.burst, 20.0)


def run_halfopen(exp: Exporter, args: argparse.Namespace) -> dict:
    buf = bytearray(64 << 20)
    base_plain = statistics.median(scrapes(exp.port, 5, False, buf))
    base_gzip = statistics.median(scrapes(exp.port, 5, True, buf))
    opened = time.monotonic()
    held = open_connections(exp.port, args.halfopen, HALF_LINE)
    accepted_s = wait_accepted(exp, len(held))
    open_s = time.monotonic() - opened
    during = exp.sample()
    plain = scrapes(exp.port, 3, False, buf)
    gz = scrapes(exp.port, 3, True, buf)
    still = sum(not closed_by_server(s) for s in held)
    held_count = list(held)
    closed_at = time.monotonic()
    close_all(held)
    after = []
    while time.monotonic() - closed_at < 3.0:
        seconds = client.scrape(exp.port, False, buffer=buf, timeout=60).seconds
        after.append((round(time.monotonic() - closed_at, 3), round(seconds, 4)))
    normal = next((t for t, s in after if s <= 2 * base_plain), None)
    return {"connections": len(held_count), "opened_and_accepted_in_s": round(open_s, 2),
            "accepted_after_last_connect_s": accepted_s, "still_held_after_scrapes": still,
            "exporter_while_held": during, "baseline_plain_ms": round(base_plain * 1000, 1),
            "baseline_gzip_ms": round(base_gzip * 1000, 1),
            "held_plain_ms": [round(x * 1000, 1) for x in plain], "held_gzip_ms": [round(x * 1000, 1) for x in gz],
            "after_close": after[:12], "back_to_normal_s": normal}


def run_idle(exp: Exporter, args: argparse.Namespace) -> dict:
    time.sleep(1)
    idle = exp.sample()
    held = open_connections(exp.port, args.idle)
    wait_accepted(exp, len(held))
    time.sleep(1)
    with_conns = exp.sample()
    count = len(held)
    close_all(held)
    return {"connections": count, "idle": idle, "with_connections": with_conns,
            "rss_ratio": round(with_conns["rss_mib"] / idle["rss_mib"], 3),
            "kib_per_connection": round((with_conns["rss_mib"] - idle["rss_mib"]) * 1024 / max(1, count), 1)}


def run_drip(exp: Exporter, args: argparse.Namespace) -> dict:
    request = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: " + b"d" * 200 + b"\r\n\r\n"
    held = open_connections(exp.port, args.drip)
    started = time.monotonic()
    cut_at: dict[int, float] = {}
    sent, peak_threads = 0, 0
    try:
        while len(cut_at) < len(held) and time.monotonic() - started < args.drip_for and sent < len(request):
            for i, sock in enumerate(held):
                if i in cut_at:
                    continue
                try:
                    sock.send(request[sent:sent + 1])
                except OSError:
                    cut_at[i] = time.monotonic() - started
            sent += 1
            peak_threads = max(peak_threads, exp.child.status("Threads"))
            step_end = time.monotonic() + args.drip_every
            while time.monotonic() < step_end:
                for i, sock in enumerate(held):
                    if i not in cut_at and closed_by_server(sock):
                        cut_at[i] = time.monotonic() - started
                time.sleep(0.1)
    finally:
        close_all(held)
    cuts = sorted(cut_at.values())
    return {"connections": args.drip, "byte_every_s": args.drip_every, "bytes_sent_each": sent,
            "cut": len(cuts), "first_cut_s": round(cuts[0], 1) if cuts else None,
            "last_cut_s": round(cuts[-1], 1) if cuts else None, "peak_threads": peak_threads}


def run_tls(exp: Exporter, args: argparse.Namespace) -> dict:
    assert exp.tls is not None
    base = statistics.median(client.tls_scrape(exp.port, exp.tls, True, 30)[1] for _ in range(3))
    started = time.monotonic()
    held = open_connections(exp.port, args.tls)
    count = len(held)
    wait_accepted(exp, count)
    during = exp.sample()
    status, seconds, _ = client.tls_scrape(exp.port, exp.tls, True, 30)
    cut: list[float] = []
    try:
        while len(cut) < len(held) and time.monotonic() - started < 30:
            time.sleep(0.25)
            for sock in held:
                if sock.fileno() >= 0 and closed_by_server(sock):
                    cut.append(time.monotonic() - started)
                    sock.close()
    finally:
        close_all(held)
    return {"connections": count, "exporter_while_held": during, "tls_scrape_status": status,
            "tls_gzip_scrape_ms": round(seconds * 1000, 1), "tls_gzip_baseline_ms": round(base * 1000, 1),
            "dropped": len(cut), "dropped_by_s": round(max(cut), 1) if cut else None}


def run_slow(exp: Exporter, args: argparse.Namespace) -> dict:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
    sock.settimeout(120)
    sock.connect(("127.0.0.1", exp.port))
    sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    started, got, head, error = time.monotonic(), 0, b"", ""
    limit = args.slow_limit
    try:
        while time.monotonic() - started < limit:
            chunk = sock.recv(16 << 10)
            if not chunk:
                break
            if len(head) < 4096:
                head += chunk[:4096]
            got += len(chunk)
            ahead = got / args.slow_rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
    except OSError as exc:
        error = f"{type(exc).__name__}: {exc}"
    finally:
        sock.close()
    took = time.monotonic() - started
    header, _, _ = head.partition(b"\r\n\r\n")
    length = next((int(line.split(b":")[1]) for line in header.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    body = got - len(header) - 4
    return {"rate_kib_s": args.slow_rate // 1024, "content_length": length, "body_received": body,
            "complete": body == length and length > 0, "seconds": round(took, 1), "error": error}


def run_fdlimit(exp: Exporter, args: argparse.Namespace) -> dict:
    def metrics() -> str:
        return client.decode(client.scrape(exp.port, True, keep=True, timeout=60).raw or b"")[2].decode()

    def counter(text: str, line_start: str) -> float:
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(line_start))

    cpu0, t0 = exp.child.cpu_seconds(), time.monotonic()
    time.sleep(args.fdlimit_hold)
    quiet = 100 * (exp.child.cpu_seconds() - cpu0) / (time.monotonic() - t0)
    before = metrics()
    held = open_connections(exp.port, args.fdlimit_clients)
    clients = len(held)
    time.sleep(1)
    cpu0, t0 = exp.child.cpu_seconds(), time.monotonic()
    time.sleep(args.fdlimit_hold)
    cpu, wall = exp.child.cpu_seconds() - cpu0, time.monotonic() - t0
    sample = exp.sample()
    waiting = sum(not closed_by_server(s) for s in held)
    for sock in held[:100]:
        sock.close()
    after = metrics()
    close_all(held)
    ok = 'haproxy_exporter_polls_total{result="success"}'
    bad = 'haproxy_exporter_polls_total{result="failure"}'
    log = exp.log.read_text()
    return {"fd_limit": 1024, "clients": clients, "hold_s": round(wall, 1),
            "cpu_percent": round(100 * cpu / wall, 1), "cpu_percent_without_clients": round(quiet, 1),
            "exporter": sample,
            "polls_ok_during": counter(after, ok) - counter(before, ok),
            "polls_failed_during": counter(after, bad) - counter(before, bad),
            "internal_errors": after.count('reason="internal_error"'),
            "haproxy_up": counter(after, "haproxy_up "), "clients_open_not_refused": waiting,
            "log_lines_about_fds": log.count("open files near the limit") + log.count("cannot accept connections")}


WRONGPW_USERS = {"prometheus": "prometheus-pass", "grafana": "grafana-pass"}


def make_auth(workdir: Path, cost: int) -> Path:
    web = workdir / "web-auth.yml"
    web.write_text("basic_auth_users:\n" + "".join(
        f"  {user}: '{bcrypt.hashpw(password.encode(), bcrypt.gensalt(cost)).decode()}'\n"
        for user, password in WRONGPW_USERS.items()))
    return web


def wrong_password_flood(port: int, stop: threading.Event, counter: list[int], first: int) -> None:
    """Distinct wrong passwords, a 15 kB header each, each connection closed without waiting."""
    pad = "p" * 15_000
    n = first
    while not stop.is_set():
        token = base64.b64encode(f"prometheus:guess{n}".encode()).decode()
        n += 1
        request = (f"GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {token}\r\nX-Pad: {pad}\r\n"
                   "Connection: close\r\n\r\n").encode()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.sendall(request)
        except OSError:
            continue
        counter[0] += 1


def run_wrongpw(exp: Exporter, args: argparse.Namespace) -> dict:
    prometheus = basic_scrape(exp.port, "prometheus", WRONGPW_USERS["prometheus"], "127.0.0.2", 30)  # remembered from now
    stop, counters = threading.Event(), [[0] for _ in range(args.wrongpw_clients)]
    flooders = [threading.Thread(target=wrong_password_flood, args=(exp.port, stop, c, i * 10**9), daemon=True)
                for i, c in enumerate(counters)]
    started = time.monotonic()
    start_rss = exp.sample()["rss_mib"]
    samples: list[tuple[float, float]] = []
    for thread in flooders:
        thread.start()
    capped = False
    try:
        while time.monotonic() - started < args.wrongpw_for:
            time.sleep(1)
            rss = exp.sample()["rss_mib"]
            samples.append((round(time.monotonic() - started, 1), rss))
            if rss > args.wrongpw_rss_cap:  # the unbounded queue: stop before the machine suffers
                capped = True
                break
        sent = sum(c[0] for c in counters)
        exp.child.proc.send_signal(signal.SIGHUP)
        time.sleep(1)
        after_prometheus = basic_scrape(exp.port, "prometheus", WRONGPW_USERS["prometheus"], "127.0.0.2", 60)
        after_grafana = basic_scrape(exp.port, "grafana", WRONGPW_USERS["grafana"], "127.0.0.3", 60)
    finally:
        stop.set()
        for thread in flooders:
            thread.join(10)
    log = exp.log.read_text()
    return {"cost": args.wrongpw_cost, "clients": args.wrongpw_clients, "flood_s": round(samples[-1][0], 1) if samples else 0,
            "stopped_at_rss_cap": capped, "wrong_passwords_sent": sent, "rss_start_mib": start_rss,
            "rss_peak_mib": max((r for _, r in samples), default=start_rss), "rss_samples": samples[::5],
            "prometheus_before": prometheus[0],
            "prometheus_after_sighup": {"status": after_prometheus[0], "seconds": round(after_prometheus[1], 2)},
            "grafana_after_sighup": {"status": after_grafana[0], "seconds": round(after_grafana[1], 2)},
            "auth_busy_log_lines": log.count("auth_busy from"),
            "rss_after_mib": exp.sample()["rss_mib"]}


def stalled_reader(port: int, tls: ssl.SSLContext | None, use_gzip: bool, rcvbuf: int) -> socket.socket:
    """A client that asks for /metrics (over TLS: after a complete handshake) and never reads."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(30)
    sock.connect(("127.0.0.1", port))
    if tls is not None:
        sock = tls.wrap_socket(sock, server_hostname="127.0.0.1")
    sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + (b"Accept-Encoding: gzip\r\n" if use_gzip else b"") + b"\r\n")
    return sock


def settled_rss_kib(exp: Exporter, limit: float = 30.0) -> int:
    """Resident memory once it stops moving (two readings 0.5 s apart within 256 KiB)."""
    last, deadline = exp.child.status("VmRSS"), time.monotonic() + limit
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = exp.child.status("VmRSS")
        if abs(now - last) < 256:
            return now
        last = now
    return last


def stalled_round(exp: Exporter, args: argparse.Namespace, use_gzip: bool) -> dict:
    for _ in range(3):  # the page's first sends (gzip's whole member too) before the baseline
        if exp.tls is not None:
            client.tls_scrape(exp.port, exp.tls, use_gzip, 60)
        else:
            client.scrape(exp.port, use_gzip, timeout=60)
    base = settled_rss_kib(exp)
    held = [stalled_reader(exp.port, exp.tls, use_gzip, args.stalled_rcvbuf) for _ in range(args.stalled)]
    try:
        during = settled_rss_kib(exp)
        sample = exp.sample()
    finally:
        close_all(held)
    wait_until(lambda: exp.child.fds() < sample["fds"] - args.stalled // 2, 30, "the readers' connections closed")
    after = settled_rss_kib(exp)
    return {"rss_mib_before": round(base / 1024, 1), "rss_mib_held": round(during / 1024, 1),
            "kib_per_reader": round((during - base) / args.stalled, 1),
            "rss_mib_after": round(after / 1024, 1), "exporter_while_held": sample}


def stalled(exp: Exporter, args: argparse.Namespace) -> dict:
    out: dict = {"readers": args.stalled, "rcvbuf": args.stalled_rcvbuf}
    for kind in ("plain", "gzip"):
        if kind != "plain":
            exp.restart()  # in the same process the gzip readers would reuse what the others freed
        out[kind] = stalled_round(exp, args, kind == "gzip")
    return out


def run_stalled(exp: Exporter, args: argparse.Namespace) -> dict:
    return stalled(exp, args)


def run_tlsstalled(exp: Exporter, args: argparse.Namespace) -> dict:
    assert exp.tls is not None
    return stalled(exp, args)


SCENARIOS: dict[str, Callable[[Exporter, argparse.Namespace], dict[str, Any]]] = {
    "burst": run_burst, "halfopen": run_halfopen, "idle": run_idle, "drip": run_drip, "tls": run_tls,
    "slow": run_slow, "fdlimit": run_fdlimit, "wrongpw": run_wrongpw, "stalled": run_stalled,
    "tlsstalled": run_tlsstalled,
}


# -- main ------------------------------------------------------------------------------------

def limit_fds() -> None:
    """The fdlimit scenario's exporter: 1,024 descriptors (set in the child before it runs)."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))


def raise_own_fd_limit(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(need, soft), hard), hard))


def make_tls(workdir: Path) -> tuple[Path, ssl.SSLContext]:
    """A web config serving TLS with a throwaway CA's certificate, and a client context trusting that CA."""
    certs = make_certs(workdir / "certs")
    web = workdir / "web.yml"
    web.write_text(certs.web_config())
    return web, ssl.create_default_context(cafile=str(certs.ca))


def summary(name: str, r: dict) -> str:
    if name == "burst":
        return f"burst: {r['answered']}/{r['clients']} simultaneous gzip scrapes answered within {r['limit_s']:g}s " \
               f"(median {r['median_answer_s']}s, last {r['last_answer_s']}s)"
    if name == "halfopen":
        return (f"halfopen: {r['connections']} half-open connections (opened and accepted in "
                f"{r['opened_and_accepted_in_s']}s, {r['still_held_after_scrapes']} still held "
                f"after the scrapes; exporter {r['exporter_while_held']}); scrapes meanwhile plain "
                f"{r['held_plain_ms']} ms, gzip {r['held_gzip_ms']} ms (idle: {r['baseline_plain_ms']} / "
                f"{r['baseline_gzip_ms']} ms); after they all closed: a plain scrape within 2x idle at "
                f"{r['back_to_normal_s']}s")
    if name == "idle":
        return (f"idle: {r['connections']} idle connections: RSS {r['idle']['rss_mib']} -> "
                f"{r['with_connections']['rss_mib']} MiB ({r['rss_ratio']}x, {r['kib_per_connection']} KiB each), "
                f"threads {r['idle']['threads']} -> {r['with_connections']['threads']}")
    if name == "drip":
        return (f"drip: {r['connections']} connections, one byte every {r['byte_every_s']:g}s: {r['cut']} cut "
                f"between {r['first_cut_s']}s and {r['last_cut_s']}s; peak threads {r['peak_threads']}")
    if name == "tls":
        return (f"tls: {r['connections']} connections that never handshake (exporter {r['exporter_while_held']}): "
                f"TLS gzip scrape meanwhile {r['tls_scrape_status']} in {r['tls_gzip_scrape_ms']} ms (alone "
                f"{r['tls_gzip_baseline_ms']} ms); {r['dropped']} dropped by {r['dropped_by_s']}s")
    if name == "slow":
        return (f"slow: a {r['rate_kib_s']} KiB/s reader got {r['body_received']:,} of {r['content_length']:,} "
                f"bytes in {r['seconds']}s ({'complete' if r['complete'] else 'CUT OFF'}) {r['error']}")
    if name == "wrongpw":
        return (f"wrongpw: {r['wrong_passwords_sent']:,} distinct wrong passwords (15 kB header, bcrypt cost {r['cost']}, "
                f"{r['clients']} clients) in {r['flood_s']}s{' (stopped at the RSS cap)' if r['stopped_at_rss_cap'] else ''}: "
                f"RSS {r['rss_start_mib']} -> peak {r['rss_peak_mib']} MiB; after a SIGHUP, still flooding: "
                f"remembered password {r['prometheus_after_sighup']['status']} in {r['prometheus_after_sighup']['seconds']}s, "
                f"never checked one {r['grafana_after_sighup']['status']} in {r['grafana_after_sighup']['seconds']}s; "
                f"{r['auth_busy_log_lines']} auth_busy log line(s); RSS after {r['rss_after_mib']} MiB")
    if name == "fdlimit":
        return (f"fdlimit: at {r['fd_limit']} fds with {r['clients']} idle clients for {r['hold_s']}s: CPU "
                f"{r['cpu_percent']}% (without clients {r['cpu_percent_without_clients']}%: the polls), "
                f"polls ok {r['polls_ok_during']:g}, failed {r['polls_failed_during']:g}, "
                f"internal_error {r['internal_errors']}, haproxy_up {r['haproxy_up']:g}, {r['clients_open_not_refused']} "
                f"clients waiting (not refused), {r['log_lines_about_fds']} log line(s); exporter {r['exporter']}")
    if name in ("stalled", "tlsstalled"):
        return f"{name}: {r['readers']} readers that never read, " + "; ".join(
            f"{kind} page: RSS {r[kind]['rss_mib_before']} -> {r[kind]['rss_mib_held']} MiB "
            f"({r[kind]['kib_per_reader']} KiB per reader), {r[kind]['rss_mib_after']} MiB after they left"
            for kind in ("plain", "gzip"))
    return f"{name}: {r}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.abuse", description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="1000x10")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--root", default=str(ROOT), help="checkout whose exporter is run (default: this one)")
    ap.add_argument("--burst", type=int, default=300)
    ap.add_argument("--halfopen", type=int, default=3000)
    ap.add_argument("--idle", type=int, default=3000)
    ap.add_argument("--drip", type=int, default=300)
    ap.add_argument("--drip-every", type=float, default=2.0, help="seconds between bytes")
    ap.add_argument("--drip-for", type=float, default=30.0, help="give up dripping after this long")
    ap.add_argument("--tls", type=int, default=1000)
    ap.add_argument("--slow-rate", type=int, default=256 * 1024, help="bytes per second")
    ap.add_argument("--slow-limit", type=float, default=600.0, help="give up reading after this long")
    ap.add_argument("--fdlimit-clients", type=int, default=1020)
    ap.add_argument("--fdlimit-hold", type=float, default=6.0)
    ap.add_argument("--wrongpw-for", type=float, default=40.0, help="seconds of wrong passwords")
    ap.add_argument("--wrongpw-clients", type=int, default=4, help="flooding threads")
    ap.add_argument("--wrongpw-cost", type=int, default=10, help="bcrypt cost of the users' hashes")
    ap.add_argument("--wrongpw-rss-cap", type=float, default=2048.0, help="MiB: stop flooding beyond it")
    ap.add_argument("--stalled", type=int, default=200, help="readers that never read (stalled, tlsstalled)")
    ap.add_argument("--stalled-rcvbuf", type=int, default=4096, help="their SO_RCVBUF")
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args(argv)
    chosen = [s for s in args.scenarios.split(",") if s]
    unknown = set(chosen) - set(SCENARIOS)
    if unknown:
        ap.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    raise_own_fd_limit(2 * max(args.halfopen, args.idle, args.tls, args.fdlimit_clients, args.stalled) + 256)
    root = Path(args.root).resolve()
    backends, servers = (int(x) for x in args.size.lower().split("x"))
    workdir = Path(tempfile.mkdtemp(prefix="hrxabuse"))
    sock = str(workdir / "admin.sock")
    commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "unknown"
    results: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "size": args.size,
                               "root": str(root), "commit": commit, "load_avg": os.getloadavg(), "scenarios": {}}
    hap = start_haproxy(workdir, haproxy_config(backends, servers, sock, free_port(), free_port()))
    try:
        wait_until(lambda: hap.alive() and os.path.exists(sock), 60, "HAProxy")
        for name in chosen:
            extra: list[str] = []
            tls: ssl.SSLContext | None = None
            auth: tuple[str, str] | None = None
            if name == "wrongpw":
                extra = [f"--web.config.file={make_auth(workdir, args.wrongpw_cost)}"]
                auth = ("prometheus", WRONGPW_USERS["prometheus"])
            if name.startswith("tls"):
                web, tls = make_tls(workdir)
                extra = [f"--web.config.file={web}"]
            if name.endswith("stalled"):
                extra += HOLD_ARGS
            print(f"[{name}] starting the exporter ...", flush=True)
            exp = Exporter(root, sock, workdir, extra, limit_fds if name == "fdlimit" else None, tls, auth)
            try:
                result = SCENARIOS[name](exp, args)
                result["exporter_alive"] = exp.child.alive()
                line = summary(name, result)
            except Exception as exc:  # a scenario the exporter cannot get through: say so, go on
                result = {"error": f"{type(exc).__name__}: {exc}"}
                line = f"{name}: FAILED: {result['error']}"
            finally:
                exp.stop()
            results["scenarios"][name] = result
            print(line, flush=True)
    finally:
        hap.stop()
        results["load_avg_end"] = os.getloadavg()
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"abuse-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
        path.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {path}")
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
