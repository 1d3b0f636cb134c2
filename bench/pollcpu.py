"""CPU of one poll cycle against the CPU of one promex scrape, on one real HAProxy, in one run
(issue: cheaper than C).  Three steady states: nothing changes between two polls (idle
server-template slots), 1 % of the rows change, every row changes.

HAProxy (Debian's 2.6) runs B backends x S servers (bench/genconfig.py) with promex on a
frontend.  promex's cost is HAProxy's own CPU (``/proc/<pid>/stat``) per scrape, plain and gzip,
the mean over N.  Ours is ``Poller.poll_once`` in this process (``time.process_time``), median of N
after two warm-up polls, the caches of one poll kept for the next as the running exporter keeps
them; HAProxy's CPU for our poll (answering ``show stat``) is measured beside it.  To make rows
change without traffic, each poll really reads ``show stat`` from HAProxy (the read is part of the
cost) and is then handed a copy of it prepared before the clock runs, in which that share of the
rows has every column that HTTP traffic moves (``TRAFFIC``) moved on by the poll's number.  In all
three states every row's ``lastchg`` (seconds since the last state change) moves on by the 5 s
interval, as it does on a real HAProxy between two polls: "no change" means no traffic, not an
identical answer.

Usage: ``.venv/bin/python -m bench.pollcpu [--sizes 10x10,1000x10,2000x25] [--polls 7]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import client
from bench.environment import machine, versions
from bench.genconfig import haproxy_config
from bench.procs import RESULTS, Child, command_line, start_haproxy, wait_until, write_results
from exporter.config import build_config
from exporter.poll.poller import Poller
from exporter.poll.process import make_client
from exporter.poll.snapshot import Store
from exporter.runtime.answer import Text
from exporter.runtime.client import Budget
from testkit.procs import free_port

CHANGES = {"none": 0.0, "1%": 0.01, "all": 1.0}


INTERVAL = 5  # seconds between two polls: how far HAProxy's lastchg moves on
# What a row's traffic moves between two polls: the cells that differed between two `show stat`
# answers 5 s apart on HAProxy 2.6 while HTTP requests went through one backend's servers
# (frontend, backend and server rows together), plus the response-time averages, which stay at 0
# on loopback but move with any real server.
TRAFFIC = ("stot", "bin", "bout", "lbtot", "rate", "req_rate", "conn_rate", "req_tot", "hrsp_2xx", "reuse",
           "intercepted", "rtime", "ttime", "h1_total_streams", "h1_bytes_in", "h1_bytes_out")


def variants(text: str, share: float, count: int) -> list[str]:
    """``count`` copies of a show stat answer, the n-th with ``share`` of its rows' counters moved
    by n, and every row's lastchg by n intervals."""
    header, *rows = text.rstrip("\n").split("\n")
    names = header.lstrip("# ").split(",")
    cols = [names.index(c) for c in TRAFFIC if c in names]
    clock = names.index("lastchg")
    step = max(1, round(1 / share)) if share else 0
    out = []
    for n in range(1, count + 1):
        moved = []
        for i, row in enumerate(rows):
            cells = row.split(",")
            if cells[clock].isdigit():
                cells[clock] = str(int(cells[clock]) + n * INTERVAL)
            if step and i % step == n % step:
                for c in cols:
                    if cells[c].isdigit():
                        cells[c] = str(int(cells[c]) + n)
            moved.append(",".join(cells))
        out.append("\n".join([header, *moved]) + "\n")
    return out


def our_polls(address: str, hap: Child, share: float, polls: int) -> dict:
    config = build_config({"haproxy": {"address": address, "timeout": "120s"}})
    real = make_client(config.poll_targets()[0]).run
    stat = str(real("show stat"))  # one string, to make the changed copies from
    prepared = iter(variants(stat, share, polls + 2))

    class Prepared:
        """The target's client for the poll: the real answer is read, a changed copy of show stat parsed."""

        def run(self, command: str, budget: Budget | None = None) -> Text:
            answer = real(command)
            if command == "show stat":
                return next(prepared)
            return answer

    poller = Poller(config, Store(config.poll.max_age), connect=lambda target: Prepared())
    for _ in range(2):  # cold, then warm: the caches hold a poll
        poller.poll_once()
    cpu, wall = [], []
    h = hap.cpu_seconds()
    for _ in range(polls):
        c, w = time.process_time(), time.perf_counter()
        if not poller.poll_once():
            raise RuntimeError("poll failed")
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    hap_cpu = (hap.cpu_seconds() - h) / polls  # mean: the kernel counts in 10 ms ticks
    target = next(iter(poller.targets.values()))
    return {"cpu_seconds": statistics.median(cpu), "wall_seconds": statistics.median(wall),
            "haproxy_cpu_seconds": hap_cpu, "phases": dict(target.state.phase_seconds),
            "families_reused": target._rendered.reused}


def promex_scrapes(port: int, hap: Child, use_gzip: bool, scrapes: int) -> dict:
    """HAProxy's CPU per promex scrape: the mean over ``scrapes`` (the kernel counts CPU in 10 ms
    ticks, too coarse for one small scrape), and the median wall time."""
    client.scrape(port, use_gzip)  # warm-up
    wall = []
    h = hap.cpu_seconds()
    for _ in range(scrapes):
        wall.append(client.scrape(port, use_gzip).seconds)
    return {"cpu_seconds": (hap.cpu_seconds() - h) / scrapes, "wall_seconds": statistics.median(wall)}


def run_size(backends: int, servers: int, polls: int, workdir: Path) -> dict:
    sock, port = str(workdir / "admin.sock"), free_port()
    hap = start_haproxy(workdir, haproxy_config(backends, servers, sock, port, free_port()))
    try:
        wait_until(lambda: os.path.exists(sock), 120, "HAProxy")
        time.sleep(1)
        out: dict = {"size": f"{backends}x{servers}"}
        out["promex_plain"] = promex_scrapes(port, hap, False, polls)
        out["promex_gzip"] = promex_scrapes(port, hap, True, polls)
        for name, share in CHANGES.items():
            out[f"ours_{name}"] = our_polls(sock, hap, share, polls)
        print(out["size"], {k: round(v["cpu_seconds"] * 1000, 1) for k, v in out.items() if isinstance(v, dict)},
              flush=True)
        return out
    finally:
        hap.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pollcpu", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10x10,1000x10,2000x25")
    parser.add_argument("--polls", type=int, default=7)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    results: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                               "command": command_line("pollcpu", argv), "machine": machine(), "versions": versions(),
                               "sizes": []}
    for size in args.sizes.split(","):
        workdir = Path(tempfile.mkdtemp(prefix="hrxpc"))
        try:
            backends, servers = (int(x) for x in size.split("x"))
            results["sizes"].append(run_size(backends, servers, args.polls, workdir))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    write_results(results, args.out, "pollcpu")
    return 0


if __name__ == "__main__":
    sys.exit(main())
