"""How fast HAProxy's log ring can be read through the Runtime API: pre-made ``httplog`` lines
fed into a ring, read by ``RuntimeClient.stream("show events <ring> -w -n")``.

No HTTP load is needed: HAProxy's ``log-forward`` section takes syslog frames on a loopback TCP
``bind`` (octet counting, RFC 6587) and writes each into the ring, as a proxy's ``log ring@``
would.  A reader thread counts the lines the stream gives; the main thread sends ``--lines``
frames at ``--rate`` lines per second (0: as fast as the socket takes them).  Reported: lines
sent, lines read (they must be equal), the events the ring dropped (HAProxy's notices in the stream), the
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
from typing import Any, Callable, Sequence

from bench.environment import machine, versions
from bench.procs import RESULTS, command_line, start_haproxy, wait_until, write_results
from exporter.config import TargetConfig
from exporter.runtime.address import parse_address
from exporter.runtime.client import Allowlist, RuntimeClient
from exporter.sources.logs.events import parse_sinks
from testkit.procs import free_port
from testkit.runtime import raw_command

GLOBAL = """global
    stats socket {sock} mode 600 level operator
"""

# The ring and what feeds it, for any HAProxy config that wants them (bench/logs.py adds them to
# its own).  The ring's `format` is how its lines start: rfc3164 keeps the syslog header the
# frames carry, raw keeps the log line alone.
RING = """ring {ring}
    format {ring_format}
    maxlen 2048
    size {ring_size}
log-forward feed
    bind 127.0.0.1:{port}
    log ring@{ring} local0
    timeout client 60s
"""


def ring_sections(port: int, ring_size: int, ring: str = "logs", ring_format: str = "rfc3164") -> str:
    """A ``ring`` section and a ``log-forward`` section whose TCP bind on ``port`` writes into it."""
    return RING.format(ring=ring, ring_format=ring_format, ring_size=ring_size, port=port)


POOL = 100_000  # distinct frames made before the clock starts

# One request as `option httplog` writes it; the frames differ by client port and path.
LINE = ("<134>Dec  5 03:45:26 localhost haproxy[1234]: 127.0.0.1:{port} [05/Dec/2026:03:45:26.{ms:03d}] "
        "fe_main be_app/srv{server} 0/0/1/{tr}/{ta} 200 {size} - - ---- 12/12/3/1/0 0/0 \"GET /item/{n} HTTP/1.1\"")


def frame(text: bytes) -> bytes:
    """One syslog frame with octet counting (RFC 6587), as log-forward's TCP bind reads them."""
    return b"%d %s" % (len(text), text)


def frames(count: int) -> list[bytes]:
    """``count`` syslog frames with octet counting, made before the clock starts."""
    return [frame(LINE.format(port=1024 + n % 60000, ms=n % 1000, server=n % 10, tr=n % 97, ta=n % 97 + 2,
                              size=200 + n % 5000, n=n).encode()) for n in range(count)]


def dropped(sock: str, ring: str = "logs") -> int:
    """What ``show events`` lists as the ring's ``dropped`` (-1 if the ring is not listed): the
    events it could not hold for a lagging reader and has not announced yet.  It is no counter:
    once it can, HAProxy writes "N events dropped" into the ring and starts again from 0 (which
    :class:`RingReader` counts); on 3.x the figure is doubled, its lowest bit being a lock."""
    sink = parse_sinks(raw_command(sock, "show events")).get(ring)
    return sink.dropped if sink else -1


def pace(pool: Sequence[bytes], lines: int, rate: int, write: Callable[[bytes], object],
         stop: threading.Event | None = None) -> tuple[int, float]:
    """Hand ``lines`` items of ``pool`` (again and again: a minute's lines need not be held) to
    ``write``, joined in batches, ``rate`` lines per second (0: as fast as ``write`` takes them),
    until ``stop`` is set if one is given.  Returns the lines written and the seconds it took."""
    written = 0
    started = time.monotonic()
    batch = max(1, rate // 100) if rate else 1000
    for at in range(0, lines, batch):
        if stop is not None and stop.is_set():
            break
        count = min(batch, lines - at)
        first = at % len(pool)
        chunk = list(pool[first:first + count])
        while len(chunk) < count:  # wrapped around the pool's end
            chunk += pool[:count - len(chunk)]
        write(b"".join(chunk))
        written += count
        if rate:  # paced: each batch is a hundredth of a second's lines
            ahead = started + (at + count) / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
    return written, time.monotonic() - started


def send(port: int, pool: Sequence[bytes], lines: int, rate: int, stop: threading.Event | None = None) -> tuple[int, float]:
    """:func:`pace` ``lines`` frames of ``pool`` into log-forward's TCP bind on ``port``."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as feed:
        return pace(pool, lines, rate, feed.sendall, stop)


# HAProxy's notice in a ring after it dropped events (sink.c, sink_announce_dropped); 3.x writes
# the message's closing NUL too.
_DROPPED = re.compile(r"(\d{1,19}) events? dropped\x00?\Z")


class RingReader:
    """A ``show events <ring> -w -n`` stream of its own, read in a thread that counts its lines
    (no parsing) and HAProxy's notices of events it dropped: what reached the ring, whoever else
    reads it.  ``cpu`` is the thread's CPU, set when the stream ends."""

    def __init__(self, sock: str, ring: str = "logs") -> None:
        command = f"show events {ring} -w -n"
        client = RuntimeClient(parse_address(sock), Allowlist([command]), TargetConfig())
        self.stream = client.stream(command)
        self.lines = 0  # log lines: the notices are not counted
        self.dropped = 0  # as the notices said
        self.cpu = 0.0
        self.thread = threading.Thread(target=self._read, name=f"ring reader {ring}", daemon=True)
        self.thread.start()
        time.sleep(0.3)  # -n: only what is written from now on

    def _read(self) -> None:
        started = time.thread_time()
        for batch in self.stream.batches():
            notices = [m for line in batch if "dropped" in line[-10:] and (m := _DROPPED.search(line))]
            self.dropped += sum(int(m.group(1)) for m in notices)
            self.lines += len(batch) - len(notices)
        self.cpu = time.thread_time() - started

    def wait(self, lines: int, timeout: float) -> int:
        """Wait (at most ``timeout`` seconds) until ``lines`` lines were read; the count then."""
        deadline = time.monotonic() + timeout
        while self.lines < lines and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.lines

    def close(self) -> None:
        self.stream.close()
        self.thread.join(10)


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    sock, port = str(workdir / "operator.sock"), free_port()
    hap = start_haproxy(workdir, GLOBAL.format(sock=sock) + ring_sections(port, args.ring_mib << 20))
    try:
        wait_until(lambda: hap.alive() and Path(sock).exists(), 30, "HAProxy")
        reader = RingReader(sock)
        pool = frames(min(args.lines, POOL))
        started = time.monotonic()
        _, sent_s = send(port, pool, args.lines, args.rate)
        reader.wait(args.lines, args.timeout)
        wall = time.monotonic() - started
        pending = dropped(sock)
        reader.close()
        return {"lines_sent": args.lines, "lines_read": reader.lines, "ring_dropped": reader.dropped,
                "ring_dropped_pending": pending,
                "send_seconds": round(sent_s, 3), "wall_seconds": round(wall, 3),
                "lines_per_second": round(reader.lines / wall) if wall else 0,
                "reader_cpu_seconds": round(reader.cpu, 3),
                "reader_cpu_seconds_per_million": round(reader.cpu / max(1, reader.lines) * 1e6, 3),
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
