"""Resident memory of our exporter and the Go exporter on one HAProxy, by one protocol for both.

A single resident-memory figure of the Go exporter says little: it reads the whole ``show stat``
and builds every sample on each scrape, and its garbage collector lets the heap grow to about
twice what is live before collecting, so its RSS depends on when it is read.  At 1000 x 10 it is
about 11 MiB idle, and then moves between about 165 and 250 MiB from one sequential scrape to the
next (a heap collected or not yet), while three concurrent scrapes hold three heaps at once and
leave it at 440-500 MiB, which its runtime keeps for minutes.  Ours holds the latest poll's page
and model whether scraped or not.  So both are read at the same points, one exporter at a time,
on the same HAProxy, with the same scrapes:

- ``idle``: started and ready, no scrape yet (ours: three poll intervals after its first page was
  served to a gzip readiness check, which sends prepared bytes; Go: answering ``/``);
- ``sequential``: after each of ``--repeat`` scrapes, plain and gzip alternately, ``--spacing``
  seconds apart, as one Prometheus scrapes: the median (the figure to compare) and the maximum;
- ``concurrent``: after ``--rounds`` rounds of 3 simultaneous plain scrapes (two Prometheus
  servers and a person, say), as bench/scale.py's last measurement point;
- ``hwm``: VmHWM, the peak, at the end.

The ratio to report is ours ÷ Go of the ``sequential`` median; the others are given beside it.

    .venv/bin/python -m bench.memory --sizes 1000x10
    .venv/bin/python -m bench.memory --targets ours --checkout ../before   # another commit's exporter
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import client
from bench.environment import machine, versions
from bench.genconfig import haproxy_config
from bench.procs import RESULTS, ROOT, Child, command_line, start_haproxy, wait_until, write_results
from bench.scale import start_go, start_ours
from testkit.procs import free_port

POINTS = ("idle", "sequential", "sequential_max", "concurrent", "hwm")


def rss_mib(proc: Child, field: str = "VmRSS") -> float:
    return round(proc.status(field) / 1024, 1)


def measure(proc: Child, port: int, args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"idle": rss_mib(proc)}
    buf = bytearray(64 << 20)
    after: list[float] = []
    for n in range(args.repeat):
        client.scrape(port, n % 2 == 1, buffer=buf)
        after.append(rss_mib(proc))
        time.sleep(args.spacing)
    out["after_each"] = after
    out["sequential"] = statistics.median(after)
    out["sequential_max"] = max(after)
    client.concurrent(port, False, 3, args.rounds, len(buf))
    out["concurrent"] = rss_mib(proc)
    out["hwm"] = rss_mib(proc, "VmHWM")
    return out


def run_size(backends: int, servers: int, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    sock = str(workdir / "admin.sock")
    out: dict[str, Any] = {"size": f"{backends}x{servers}", "interval": args.interval, "spacing": args.spacing}
    hap = start_haproxy(workdir, haproxy_config(backends, servers, sock, free_port(), free_port()))
    try:
        wait_until(lambda: hap.alive() and Path(sock).exists(), 120, "HAProxy")
        time.sleep(1)
        for name in args.targets:
            if name == "ours":
                proc, port = start_ours(sock, args.interval, workdir, Path(args.checkout))
                time.sleep(3 * args.interval)  # a few more polls: "idle" is the steady state, not the first poll's
            else:
                proc, port = start_go(sock, workdir)
            try:
                out[name] = measure(proc, port, args)
            finally:
                proc.stop()
            print(out["size"], name, out[name], flush=True)
        if "ours" in out and "go" in out:
            out["ratio"] = {p: round(out["ours"][p] / out["go"][p], 3) for p in POINTS}
            print(out["size"], "ours / go", out["ratio"], flush=True)
    finally:
        hap.stop()
    return out


def commit_of(checkout: Path) -> str:
    """The commit ours ran from, with ``+`` if its tree had changes."""
    head = subprocess.run(["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(checkout), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True)
    return head.stdout.strip() + ("+" if dirty.stdout.strip() else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000x10")
    parser.add_argument("--targets", default="ours,go")
    parser.add_argument("--interval", type=int, default=2, help="our poll interval, seconds")
    parser.add_argument("--repeat", type=int, default=20, help="sequential scrapes")
    parser.add_argument("--spacing", type=float, default=1.0, help="seconds between sequential scrapes")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of 3 concurrent scrapes")
    parser.add_argument("--checkout", default=str(ROOT),
                        help="the checkout whose exporter is ours (another commit's, for a before/after run)")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    args.targets = [t for t in args.targets.split(",") if t]
    results: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine(),
                               "versions": versions(), "command": command_line("memory", argv),
                               "checkout": commit_of(Path(args.checkout)), "sizes": []}
    with tempfile.TemporaryDirectory(prefix="hrxmem") as tmp:
        workdir = Path(tmp)
        for size in args.sizes.split(","):
            b, _, s = size.lower().partition("x")
            results["sizes"].append(run_size(int(b), int(s), args, workdir))
    write_results(results, args.out, "memory")
    return 0


if __name__ == "__main__":
    sys.exit(main())
