"""Cost of exporting a big stick table: one real HAProxy, a table filled with N entries, full polls.

Fills ``type ip`` table ``st_big`` (store gpc0,gpt0,conn_cnt,http_req_rate(10s)) with N entries by
``set table`` commands pipelined with ``;`` on the admin socket (the exporter itself never writes),
then runs complete poll cycles (show info + show stat + show table + show table st_big) for:

* ``none``:    no stick_tables configured (baseline: summary only)
* ``default``: the table configured with the default cap (max_entries 1000, ranked by http_req_rate)
* ``lifted``:  the cap lifted (max_entries above N)

and reports, per case, the median of the polls: wall and CPU seconds of the cycle, the poller's
phases (fetch, parse, build, render, compress; build without the stick-table commands, which the
poller times inside build), the ``show table st_big`` command time (fetch + parse), the
exposition size (plain and gzip) and its sample count, and what one more poll allocates at its
peak (tracemalloc, ``peak_mb``: the poll's working set, the dump's text and entries included; a
poll run untimed, as tracemalloc slows allocation down).  Loopback / UNIX socket only.

    .venv/bin/python -m bench.sticktable_bench [--entries 100000] [--polls 3]
"""

from __future__ import annotations

import argparse
import ipaddress
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from bench.pollcost import snapshot_size
from bench.procs import start_haproxy, wait_until
from exporter.config import build_config
from exporter.poll.poller import Poller
from exporter.poll.snapshot import Store
from testkit.configs import admin_http_head
from testkit.procs import free_port
from testkit.runtime import pipelined, raw_command

CFG = """\
frontend fe
    bind 127.0.0.1:{port}
    http-request return status 200
backend st_big
    stick-table type ip size {size} expire 1h store gpc0,gpt0,conn_cnt,http_req_rate(10s)
"""
BATCH = 150  # commands per line: the whole line must fit in HAProxy's 16 kB buffer


def fill(sock_path: str, n: int) -> float:
    started = time.perf_counter()
    base = int(ipaddress.IPv4Address("10.0.0.0"))
    pipelined(sock_path, [f"set table st_big key {ipaddress.IPv4Address(base + i)} data.gpc0 {i % 997} "
                          f"data.conn_cnt {i} data.http_req_rate {(i * 7919) % 5000}" for i in range(n)], BATCH)
    return time.perf_counter() - started


def run_case(sock_path: str, tables: list[dict[str, Any]], polls: int) -> dict[str, float]:
    config = build_config({"haproxy": {"address": sock_path, "timeout": "60s"}, "stick_tables": tables})
    store = Store(3600)
    poller = Poller(config, store)
    rows: list[dict[str, float]] = []
    for _ in range(polls):
        cpu0, wall0 = time.process_time(), time.perf_counter()
        assert poller.poll_once(), "poll failed"
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        size = snapshot_size(store)
        phases = dict(poller.targets[""].state.phase_seconds)
        # The poller times extra_families() (stick-table fetch + parse + build) inside "build";
        # take the stick-table commands out again so "build" is model building only.
        table_io = sum(v for k, v in poller.targets[""].state.commands.seconds.items() if k.startswith("show table"))
        phases["build"] = phases.get("build", 0.0) - table_io
        row = {"wall": wall, "cpu": cpu, **phases,
               "show_table_st_big": poller.targets[""].state.commands.seconds.get("show table st_big", 0.0),
               "bytes": size["plain_bytes"], "gzip_bytes": size["gzip_bytes"], "samples": size["samples"]}
        rows.append(row)
    result = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    tracemalloc.start()
    assert poller.poll_once(), "poll failed"
    result["peak_mb"] = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sticktable_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--polls", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="stb") as tmp:
        sock = str(Path(tmp) / "admin.sock")
        config = admin_http_head(sock, "stats timeout 60s") + CFG.format(port=free_port(), size=args.entries * 2)
        proc = start_haproxy(Path(tmp), config)
        try:
            wait_until(lambda: Path(sock).exists(), 10, "HAProxy", step=0.05)
            fill_s = fill(sock, args.entries)
            summary = raw_command(sock, "show table", 60).strip()
            dump_bytes = len(raw_command(sock, "show table st_big", 60))
            version = raw_command(sock, "show info", 60).split("Version: ")[1].split("\n")[0]
            print(f"haproxy: {version}; "
                  f"filled {args.entries} entries in {fill_s:.1f}s; {summary}; dump {dump_bytes / 1e6:.1f} MB")
            cases = {
                "none": [],
                "default": [{"name": "st_big"}],
                "lifted": [{"name": "st_big", "max_entries": args.entries * 10}],
            }
            cols = ["wall", "cpu", "fetch", "parse", "build", "render", "compress", "show_table_st_big",
                    "bytes", "gzip_bytes", "samples", "peak_mb"]
            print(f"median of {args.polls} full polls (seconds; sizes of the HAProxy part of /metrics)")
            print(f"{'case':8} " + " ".join(f"{c:>17}" if c == "show_table_st_big" else f"{c:>10}" for c in cols))
            for name, tables in cases.items():
                r = run_case(sock, tables, args.polls)
                cells = []
                for c in cols:
                    v = r.get(c, 0.0)
                    width = 17 if c == "show_table_st_big" else 10
                    cells.append(f"{int(v):>{width}}" if c in ("bytes", "gzip_bytes", "samples") else f"{v:>{width}.3f}")
                print(f"{name:8} " + " ".join(cells))
        finally:
            proc.stop()


if __name__ == "__main__":
    main()
