"""How fast HAProxy's log ring can be read through the Runtime API: pre-made ``httplog`` lines
fed into a ring, read by ``RuntimeClient.stream("show events <ring> -w -n")``.

No HTTP load is needed: HAProxy's ``log-forward`` section takes syslog frames on a loopback TCP
``bind`` (octet counting, RFC 6587) and writes each into the ring, as a proxy's ``log ring@``
would.  A reader thread counts the lines the stream gives; the main thread sends ``--lines``
frames at ``--rate`` lines per second (0: as fast as the socket takes them).  Reported: lines
sent, lines read (they must be equal), the ring's own ``dropped`` count (``show events``), the
wall time, and the reader thread's CPU per million lines (reading and splitting only: no line
is parsed yet).  The sender runs in this process too, so the figures are for the reader thread.

    .venv/bin/python -m bench.logstream --lines 600000
    .venv/bin/python -m bench.logstream --lines 6000000 --rate 100000     # a minute at 100k lines/s
"""

from __future__ import annotations

import argparse
import re
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.environment import machine, versions
from bench.procs import RESULTS, command_line, start_haproxy, wait_until, write_results
from exporter.config import TargetConfig
from exporter.runtime.address import parse_address
from exporter.runtime.client import Allowlist, RuntimeClient
from testkit.procs import free_port
from testkit.runtime import raw_command

CONFIG = """global
    stats socket {sock} mode 600 level operator
ring logs
    format rfc3164
    maxlen 2048
    size {ring_size}
log-forward feed
    bind 127.0.0.1:{port}
    log ring@logs local0
    timeout client 60s
"""

POOL = 100_000  # distinct frames made before the clock starts

# One request as `option httplog` writes it; the frames differ by client port and path.
LINE = ("<134>Dec  5 03:45:26 localhost haproxy[1234]: 127.0.0.1:{port} [05/Dec/2026:03:45:26.{ms:03d}] "
        "fe_main be_app/srv{server} 0/0/1/{tr}/{ta} 200 {size} - - ---- 12/12/3/1/0 0/0 \"GET /item/{n} HTTP/1.1\"")


def frames(count: int) -> list[bytes]:
    """``count`` syslog frames with octet counting, made before the clock starts."""
    out = []
    for n in range(count):
        text = LINE.format(port=1024 + n % 60000, ms=n % 1000, server=n % 10, tr=n % 97, ta=n % 97 + 2,
                           size=200 + n % 5000, n=n).encode()
        out.append(b"%d %s" % (len(text), text))
    return out


def dropped(sock: str) -> int:
    """The ring's own count of events it could not hold for a reader (``show events``)."""
    found = re.search(r"^\s*logs\s*:.*?(\d+) dropped", raw_command(sock, "show events"), re.M)
    return int(found.group(1)) if found else -1


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    sock, port = str(workdir / "operator.sock"), free_port()
    hap = start_haproxy(workdir, CONFIG.format(sock=sock, port=port, ring_size=args.ring_mib << 20))
    try:
        wait_until(lambda: hap.alive() and Path(sock).exists(), 30, "HAProxy")
        client = RuntimeClient(parse_address(sock), Allowlist([r"show events logs -w -n"]), TargetConfig())
        stream = client.stream("show events logs -w -n")
        got = {"lines": 0, "cpu": 0.0}

        def read() -> None:
            started = time.thread_time()
            for batch in stream.batches():
                got["lines"] += len(batch)
            got["cpu"] = time.thread_time() - started

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        time.sleep(0.3)  # -n: only what is written from now on
        pool = frames(min(args.lines, POOL))  # sent again and again: a minute's lines need not be held
        with socket.create_connection(("127.0.0.1", port), timeout=60) as feed:
            started = time.monotonic()
            batch = max(1, args.rate // 100) if args.rate else 1000
            for at in range(0, args.lines, batch):
                count = min(batch, args.lines - at)
                first = at % len(pool)
                chunk = pool[first:first + count]
                feed.sendall(b"".join(chunk + pool[:count - len(chunk)]))
                if args.rate:  # paced: each batch is a hundredth of a second's lines
                    ahead = started + (at + count) / args.rate - time.monotonic()
                    if ahead > 0:
                        time.sleep(ahead)
            sent_s = time.monotonic() - started
            deadline = time.monotonic() + args.timeout
            while got["lines"] < args.lines and time.monotonic() < deadline:
                time.sleep(0.05)
            wall = time.monotonic() - started
        lost = dropped(sock)
        stream.close()
        reader.join(10)
        return {"lines_sent": args.lines, "lines_read": got["lines"], "ring_dropped": lost,
                "send_seconds": round(sent_s, 3), "wall_seconds": round(wall, 3),
                "lines_per_second": round(got["lines"] / wall) if wall else 0,
                "reader_cpu_seconds": round(got["cpu"], 3),
                "reader_cpu_seconds_per_million": round(got["cpu"] / max(1, got["lines"]) * 1e6, 3),
                "rate": args.rate, "ring_mib": args.ring_mib}
    finally:
        hap.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.logstream", description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=600_000)
    parser.add_argument("--rate", type=int, default=0, help="lines per second to send (0: as fast as possible)")
    parser.add_argument("--ring-mib", type=int, default=16, help="the ring's size")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the last lines")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    results: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine(),
                               "versions": versions(), "command": command_line("logstream", argv)}
    with tempfile.TemporaryDirectory(prefix="hrxlog") as tmp:
        results["run"] = run(args, Path(tmp))
    print(results["run"])
    write_results(results, args.out, "logstream")
    return 0 if results["run"]["lines_read"] == results["run"]["lines_sent"] else 1


if __name__ == "__main__":
    sys.exit(main())
