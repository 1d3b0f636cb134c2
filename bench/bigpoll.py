"""/healthz while the exporter reads one big answer: how long a client waits, and what the poll holds.

A scripted stats socket (a child process of its own, so it never competes with the measuring
client for an interpreter lock) answers one command with a big, well-formed answer of ``--mb``
megabytes and every other command with a small real capture; the real CLI (``python -m
exporter`` from ``--root``) polls it, while this script asks ``/healthz`` every few milliseconds
on a kept-alive connection.  Per kind of answer it reports the poll's duration, the /healthz
wait (median, p99, max) during the polls, and the exporter's peak resident memory (VmHWM).

A wait well above a millisecond is the poll thread holding the interpreter lock in one long C
call (a decode, a split, a join or a regex over the whole answer): /healthz needs the lock too.

Kinds (the big answer's command): ``table`` (``show table st_big``, the table configured with
the default cap of 1000 entries), ``stat``, ``info``, ``errors`` (the source enabled), ``map``,
``peers``, ``resolvers``, ``certs`` (the ``show ssl cert`` listing), ``flood`` (every command
answered with ``--mb`` of lines HAProxy never writes).  Loopback and UNIX sockets only; every
wait is bounded and every child is stopped in a ``finally``.

    .venv/bin/python -m bench.bigpoll                                  # table and stat, 200 MB
    .venv/bin/python -m bench.bigpoll --kinds table,stat,info,errors --mb 100 --polls 2
    .venv/bin/python -m bench.bigpoll --root /path/to/other/checkout   # the same, another version
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

from bench.procs import RESULTS, ROOT, Child, wait_until, write_results
from testkit.procs import free_port

FIX = ROOT / "tests" / "fixtures" / "2.6.12"
KINDS = ("table", "stat", "info", "errors", "map", "peers", "resolvers", "certs", "flood")
UNKNOWN = b"Unknown command, but maybe one of the following ones is a better match:\n  help\n\n"


# -- the big answers ---------------------------------------------------------------------------

def _repeat(size: int, head: str, record: Callable[[int], str]) -> bytes:
    """``head`` then records numbered from 0 until ``size`` bytes, and the closing blank line."""
    parts, total, n = [head], len(head), 0
    while total < size:
        text = record(n)
        parts.append(text)
        total += len(text)
        n += 1
    return ("".join(parts) + "\n").encode()


def _stat_rows(size: int) -> bytes:
    text = (FIX / "show-stat.csv").read_text()
    header, _, body = text.partition("\n")
    type_at = header[2:].split(",").index("type")
    server = next(line for line in body.split("\n") if line and line.split(",")[type_at] == "2")
    rest = server.split(",", 2)[2]
    return _repeat(size, header + "\n", lambda n: f"be_{n // 25},s{n % 25},{rest}\n")


def _table(size: int) -> bytes:
    return _repeat(size, "# table: st_big, type: ip, size:4194304, used:4000000\n", lambda n: (
        f"0x55bc{n:08x}: key=10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255} use=0 exp={3_000_000 + n % 600_000} "
        f"shard=0 gpc0={n % 997} gpt0=0 conn_cnt={n} http_req_rate(10000)={(n * 7919) % 5000}\n"))


def _errors(size: int) -> bytes:
    return _repeat(size, "Total events captured on [02/Dec/2026:14:12:40.166] : 9\n \n", lambda n: (
        f"[02/Dec/2026:14:12:40.165] frontend fe_{n} (#{n + 2}): invalid request\n"
        f"  backend <NONE> (#-1), server <NONE> (#-1), event #{n}, src 127.0.0.1:59302\n"
        "  buffer starts at 0 (including 0 out), 16330 free,\n"
        "  len 28, wraps at 16336, error at position 5\n"
        "  00000  GET /x\\x01 HTTP/1.1\\r\\n\n \n"))


def big_answer(kind: str, size: int) -> tuple[str, bytes]:
    """The command and its big answer of about ``size`` bytes."""
    if kind == "table":
        return "show table st_big", _table(size)
    if kind == "stat":
        return "show stat", _stat_rows(size)
    if kind == "info":
        head = (FIX / "show-info.txt").read_text().rstrip("\n") + "\n"
        return "show info", _repeat(size, head, lambda n: f"Extra_field_{n}: {n}\n")
    if kind == "errors":
        return "show errors", _errors(size)
    if kind == "map":
        return "show map", _repeat(size, "# id (file) description\n", lambda n: (
            f"{n} (/etc/haproxy/m{n}.map) pattern loaded from file '/etc/haproxy/m{n}.map' used by map at file "
            f"'/etc/haproxy/haproxy.cfg' line {n}. curr_ver=0 next_ver=0 entry_cnt={n}\n"))
    if kind == "peers":  # whole sections (a local peer, every block to its flags= and table: lines)
        shared = ("        shared tables:\n          0x55da8c775940 local_id=1 remote_id=0 flags=0x0\n"
                  "              table:0x55da8c642770 id=st_src update=2 localupdate=2 refcnt=1\n")
        return "show peers", _repeat(size, "", lambda n: (
            ("\n" if n else "") +  # the blank line HAProxy writes before each section but the first
            f"0x55da8c6350e0: [02/Dec/2026:14:09:11] id=p{n} disabled=0 flags=0x6811 resync_timeout=2s\n"
            f"  0x55da8c638280: id=hap{n}(remote,active) addr=127.0.0.1:54271 last_status=ESTA last_hdshk=2s\n"
            "        reconnect=2s heartbeat=1s confirm=0 tx_hbt=0 rx_hbt=0 no_hbt=0 new_conn=2 proto_err=0\n"
            "        flags=0x20000200 appctx:0x7f86cc039f30 st0=7 st1=0 task_calls=7 state=EST\n" + shared +
            "  0x55da8c638290: id=me(local) addr=127.0.0.1:54270 last_status=NONE last_hdshk=<NEVER>\n"
            "        reconnect=<NEVER> heartbeat=<NEVER> confirm=0 tx_hbt=0 rx_hbt=0 no_hbt=0 new_conn=0 proto_err=0\n"
            "        flags=0x0\n" + shared))
    if kind == "resolvers":
        return "show resolvers", _repeat(size, "", lambda n: (
            f"Resolvers section dns{n}\n nameserver ns1:\n  sent:        {n}\n  snd_error:   0\n  valid:       0\n"))
    if kind == "certs":
        return "show ssl cert", _repeat(size, "# filename\n", lambda n: f"/etc/haproxy/certs/site{n}.pem\n")
    raise ValueError(kind)


def small_answers() -> dict[str, bytes]:
    """A real 2.6.12's answers to every command of a default poll, and the stick-table ones."""
    def fixture(name: str) -> bytes:
        return (FIX / name).read_bytes().rstrip(b"\n") + b"\n\n"

    return {
        "show info": fixture("show-info.txt"), "show stat": fixture("show-stat.csv"),
        "show table": b"# table: st_big, type: ip, size:4194304, used:4000000\n\n",
        "show table st_big": b"# table: st_big, type: ip, size:4194304, used:0\n\n",
        "show errors": fixture("show-errors.txt"), "show map": fixture("show-map.txt"),
        "show acl": fixture("show-acl.txt"), "show peers": fixture("show-peers.txt"),
        "show resolvers": fixture("show-resolvers.txt"), "show ssl cert": b"# filename\n\n",
        "show ssl ocsp-response": b"# Certificate IDs\n\n", "show ssl ocsp-updates": UNKNOWN,
        "show cli level": b"admin\n\n", "show proc": UNKNOWN,
    }


# -- the scripted socket (a child process: `python -m bench.bigpoll serve`) --------------------

def serve(path: str, kind: str, size: int, seconds: float) -> None:
    """Answer on ``path`` until ``seconds`` have passed (bounded), one thread per connection."""
    answers = small_answers()
    if kind == "flood":
        filler = _repeat(size, "", lambda n: f"this is no HAProxy answer, line {n}\n")
        answers = {command: filler for command in answers}
    else:
        command, answer = big_answer(kind, size)
        answers[command] = answer
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(64)
    listener.settimeout(0.2)
    Path(path + ".ready").write_text("ready")
    deadline = time.monotonic() + seconds

    def respond(conn: socket.socket) -> None:
        with conn:
            try:
                conn.settimeout(60)
                line = b""
                while b"\n" not in line and len(line) < 4096:
                    got = conn.recv(4096)
                    if not got:
                        return
                    line += got
                conn.sendall(answers.get(line.split(b"\n")[0].decode(), UNKNOWN))
            except OSError:
                pass

    while time.monotonic() < deadline:
        try:
            conn, _ = listener.accept()
        except (socket.timeout, OSError):
            continue
        threading.Thread(target=respond, args=(conn,), daemon=True).start()


# -- the measurement ---------------------------------------------------------------------------

def healthz_waits(port: int, seconds: float) -> list[float]:
    """``/healthz`` on one kept-alive connection, every 2 ms for ``seconds``: each answer's wait."""
    request = f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    waits: list[float] = []
    end = time.monotonic() + seconds
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        while time.monotonic() < end:
            started = time.perf_counter()
            sock.sendall(request)
            got = b""
            while b"\r\n\r\n" not in got or not _complete(got):
                chunk = sock.recv(65536)
                if not chunk:
                    raise RuntimeError("the exporter closed the /healthz connection")
                got += chunk
            waits.append(time.perf_counter() - started)
            time.sleep(0.002)
    finally:
        sock.close()
    return waits


def _complete(raw: bytes) -> bool:
    head, _, body = raw.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return True


def metric(port: int, name: str) -> float | None:
    raw = b""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        while chunk := sock.recv(1 << 20):
            raw += chunk
    for line in raw.decode(errors="replace").split("\n"):
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


def run_kind(kind: str, args: argparse.Namespace, workdir: Path) -> dict:
    sock = str(workdir / f"{kind}.sock")
    size = int(args.mb * 1e6)
    budget = args.polls * 60 + 120
    server = Child("socket", [sys.executable, "-m", "bench.bigpoll", "serve", sock, kind, str(size), str(budget)],
                   workdir / f"socket-{kind}.log", cwd=ROOT)
    exporter = None
    try:
        wait_until(lambda: Path(sock + ".ready").exists(), 120, "the scripted socket")
        config = workdir / f"{kind}.yaml"
        config.write_text(
            f"haproxy: {{address: {sock}, mode: worker, timeout: 60s, max_response_bytes: {args.cap}}}\n"
            f"poll: {{interval: {args.interval}s, max_age: 600s}}\n"
            "stick_tables: [{name: st_big}]\n"
            f"errors: {{enabled: {'true' if kind in ('errors', 'flood') else 'false'}}}\n")
        port = free_port()
        exporter = Child("exporter", [sys.executable, "-m", "exporter", f"--config.file={config}",
                                      f"--web.listen-address=127.0.0.1:{port}", "--log.level=warning"],
                         workdir / f"exporter-{kind}.log", cwd=args.root)
        wait_until(lambda: metric(port, "haproxy_exporter_polls_total") is not None, 300, "the first poll")
        idle_rss = exporter.status("VmRSS")
        waits = healthz_waits(port, args.polls * args.interval)
        polls = metric(port, "haproxy_exporter_polls_total") or 0
        result = {
            "kind": kind, "mb": args.mb, "polls_seen": polls,
            "poll_seconds": metric(port, "haproxy_exporter_poll_duration_seconds"),
            "healthz": len(waits), "healthz_p50_ms": 1000 * statistics.median(waits),
            "healthz_p99_ms": 1000 * statistics.quantiles(waits, n=100)[98],
            "healthz_max_ms": 1000 * max(waits),
            "rss_first_poll_mib": idle_rss / 1024, "peak_rss_mib": exporter.status("VmHWM") / 1024,
        }
        print(f"{kind:10} {args.mb:6.0f} MB  poll {result['poll_seconds'] or 0:6.2f}s  /healthz x{len(waits):5} "
              f"p50 {result['healthz_p50_ms']:6.1f}  p99 {result['healthz_p99_ms']:7.1f}  "
              f"max {result['healthz_max_ms']:7.1f} ms  peak RSS {result['peak_rss_mib']:7.1f} MiB", flush=True)
        return result
    finally:
        if exporter is not None:
            exporter.stop()
        server.stop()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        serve(argv[1], argv[2], int(argv[3]), float(argv[4]))
        return 0
    parser = argparse.ArgumentParser(prog="python -m bench.bigpoll", description=__doc__.split("\n\n")[0])
    parser.add_argument("--kinds", default="table,stat", help=f"comma-separated, of {', '.join(KINDS)}")
    parser.add_argument("--mb", type=float, default=200.0, help="size of the big answer (default 200)")
    parser.add_argument("--polls", type=int, default=3, help="polls to measure over (default 3)")
    parser.add_argument("--interval", type=float, default=8.0, help="poll.interval in seconds (default 8)")
    parser.add_argument("--cap", type=int, default=256 << 20, help="haproxy.max_response_bytes")
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose exporter runs")
    parser.add_argument("--outdir", default=str(RESULTS))
    args = parser.parse_args(argv)
    kinds = args.kinds.split(",")
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        parser.error(f"unknown kinds {unknown}; known: {', '.join(KINDS)}")
    results = []
    with tempfile.TemporaryDirectory(prefix="bigpoll") as tmp:
        for kind in kinds:
            results.append(run_kind(kind, args, Path(tmp)))
    write_results({"root": str(args.root), "cpus": os.cpu_count(), "runs": results}, args.outdir, "bigpoll")
    return 0


if __name__ == "__main__":
    sys.exit(main())
