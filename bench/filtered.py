"""promex's query parameters at scale: a filtered scrape against an unfiltered one, ours and promex's.

One HAProxy of B backends x S servers (a quarter of each backend's servers put in maintenance
through the admin socket, as server-template slots are), our exporter reading it, and for each
query a series of scrapes (plain and gzip) of ours and of promex on the same HAProxy, interleaved.

    .venv/bin/python -m bench.filtered --size 1000x10 --repeat 15

Prints and writes bench/results/filtered-<size>-<time>.json: median seconds and bytes per query.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path
from typing import Any

from bench import client
from bench.genconfig import haproxy_config
from bench.procs import RESULTS, Child, start_haproxy, wait_until, write_results
from bench.scale import parse_size, start_ours
from testkit.procs import free_port
from testkit.runtime import pipelined

QUERIES = ["", "scope=server", "scope=frontend&scope=backend", "scope=server&no-maint", "no-maint",
           "metrics=haproxy_server_status,haproxy_server_bytes_in_total", "scope=global"]


def measure(port: int, query: str, use_gzip: bool, repeat: int, buf: bytearray) -> dict:
    path = "/metrics" + (f"?{query}" if query else "")
    client.scrape(port, use_gzip, path=path, buffer=buf)  # warm
    runs = [client.scrape(port, use_gzip, path=path, buffer=buf) for _ in range(repeat)]
    return {"median_ms": 1000 * statistics.median(r.seconds for r in runs), "bytes": runs[-1].wire_bytes}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.filtered", description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="1000x10")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--interval", default="5s")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    backends, servers = parse_size(args.size)
    results: dict[str, Any] = {"size": args.size, "queries": {}}
    with tempfile.TemporaryDirectory(prefix="hre-filtered-") as tmp:
        workdir = Path(tmp)
        sock, promex_port = str(workdir / "admin.sock"), free_port()
        children: list[Child] = []
        try:
            hap = start_haproxy(workdir, haproxy_config(backends, servers, sock, promex_port, free_port()))
            children.append(hap)
            wait_until(lambda: hap.alive() and os.path.exists(sock), 120, "HAProxy")
            pipelined(sock, [f"set server be_{b}/s{s} state maint" for b in range(backends)  # a quarter of the slots
                             for s in range(servers - max(1, servers // 4), servers)], 100)
            ours, port = start_ours(sock, int(args.interval.rstrip("s")), workdir)
            children.append(ours)
            buf = bytearray(64 << 20)
            for query in QUERIES:
                row = {}
                for use_gzip in (False, True):
                    kind = "gzip" if use_gzip else "plain"
                    row[f"ours_{kind}"] = measure(port, query, use_gzip, args.repeat, buf)
                    row[f"promex_{kind}"] = measure(promex_port, query, use_gzip, max(3, args.repeat // 3), buf)
                results["queries"][query or "(none)"] = row
                print(f"{query or '(none)':60} " + "  ".join(
                    f"{k} {v['median_ms']:8.1f} ms {v['bytes'] / 1e6:7.2f} MB" for k, v in row.items()), flush=True)
        finally:
            for child in reversed(children):
                child.stop()
    print("results:", write_results(results, args.out, f"filtered-{args.size}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
