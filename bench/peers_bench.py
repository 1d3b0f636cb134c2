"""Cost of the peers source at a realistic size: one HAProxy in a full mesh of ``--peers`` others.

Starts ``--peers`` + 1 real HAProxy processes on loopback, all in one ``peers`` section (each
names itself with ``localpeer``), each with ``--tables`` stick tables replicated through it, and
puts ``--entries`` keys in every table of the HAProxy the exporter reads (so the links carry
updates).  Once that HAProxy's ``show peers`` says every remote link is established, it measures:

* the source alone, as the poller runs it: ``show peers`` over the UNIX socket, parse, build the
  families, render them: median wall and CPU seconds of ``--polls`` rounds, answer size, samples;
* whole polls (every source), median wall and CPU, and the peers source's share as the poller
  times it (``haproxy_exporter_source_duration_seconds{source="peers"}``: read + build).

Loopback and UNIX sockets only; every wait is bounded and every process is stopped at the end.

    .venv/bin/python -m bench.peers_bench [--peers 12] [--tables 4] [--entries 100] [--polls 20]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable, TypeVar

from bench.procs import Child, start_haproxy, wait_until
from exporter.config import TargetConfig, build_config
from exporter.exposition.render import render
from exporter.poll.poller import Poller
from exporter.poll.snapshot import Store
from exporter.runtime.address import parse_address
from exporter.runtime.client import RuntimeClient
from exporter.sources.peers.model import peer_families
from exporter.sources.peers.parse import parse_peers
from exporter.sources.registry import allowlist
from exporter.sources.values import ModelStats
from testkit.configs import admin_http_head
from testkit.procs import free_ports, haproxy_binary
from testkit.runtime import answers, pipelined, raw_command

TABLE = "backend st{n}\n    stick-table type ip size 10k expire 1h peers mesh store gpc0,http_req_cnt\n"


def established(client: RuntimeClient, remotes: int) -> bool:
    """Every remote link up, as the exporter reads ``show peers`` (its client hands the parser the
    answer without the blank line that ends it)."""
    up = [p for p in parse_peers(client.run("show peers"))
          if not p.local and p.active and p.fields.get("last_status") == "ESTA"]
    return len(up) == remotes


T = TypeVar("T")


def median_rounds(step: Callable[[], T], polls: int) -> tuple[float, float, T]:
    """Median wall and CPU seconds of ``polls`` calls of ``step``, and its last result."""
    walls, cpus, results = [], [], []
    for _ in range(polls):
        cpu0, wall0 = time.process_time(), time.perf_counter()
        results.append(step())
        walls.append(time.perf_counter() - wall0)
        cpus.append(time.process_time() - cpu0)
    return statistics.median(walls), statistics.median(cpus), results[-1]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.peers_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--peers", type=int, default=12, help="remote peers of the HAProxy read")
    parser.add_argument("--tables", type=int, default=4)
    parser.add_argument("--entries", type=int, default=100, help="keys put in each table of the HAProxy read")
    parser.add_argument("--polls", type=int, default=20)
    parser.add_argument("--haproxy", default=haproxy_binary())
    args = parser.parse_args(argv)
    names = [f"h{i}" for i in range(args.peers + 1)]
    ports = free_ports(len(names))
    peer_lines = "\n".join(f"    peer {n} 127.0.0.1:{p}" for n, p in zip(names, ports))
    tables = "".join(TABLE.format(n=t) for t in range(args.tables))
    procs: list[Child] = []
    with tempfile.TemporaryDirectory(prefix="prb") as tmp:
        socks = [str(Path(tmp) / f"{n}.sock") for n in names]
        try:
            for name, sock in zip(names, socks):
                config = (admin_http_head(sock, "stats timeout 60s", "nbthread 1", f"localpeer {name}")
                          + f"peers mesh\n{peer_lines}\n" + tables)
                procs.append(start_haproxy(Path(tmp), config, name, binary=args.haproxy))
            wait_until(lambda: all(answers(sock) for sock in socks), 15, "every HAProxy")
            read = socks[0]
            for t in range(args.tables):
                pipelined(read, [f"set table st{t} key 10.{t}.{i // 256}.{i % 256} data.gpc0 {i}"
                                 for i in range(args.entries)], 100)
            client = RuntimeClient(parse_address(read), allowlist(), TargetConfig())
            wait_until(lambda: established(client, args.peers), 60, "every peer link")
            answer = raw_command(read, "show peers", 60)
            version = raw_command(read, "show info", 60).split("Version: ")[1].split("\n")[0]
            print(f"haproxy {version}: {args.peers} remote "
                  f"peers established, {args.tables} tables x {args.entries} keys; show peers answer "
                  f"{len(answer)} bytes, {answer.count(chr(10))} lines")

            def source_alone() -> int:
                families = peer_families(parse_peers(client.run("show peers")), ModelStats())
                render(families)
                return sum(len(f) for f in families)

            wall, cpu, samples = median_rounds(source_alone, args.polls)
            print(f"peers source alone (fetch + parse + build + render), median of {args.polls}: "
                  f"wall {wall * 1000:.2f} ms, CPU {cpu * 1000:.2f} ms, {samples} samples")

            poller = Poller(build_config({"haproxy": {"address": read}}), Store(3600))
            shares: list[float] = []

            def whole_poll() -> None:
                assert poller.poll_once(), "poll failed"
                shares.append(poller.targets[""].state.source_seconds.get("peers", 0.0))

            wall, cpu, _ = median_rounds(whole_poll, args.polls)
            print(f"whole poll (every source), median of {args.polls}: wall {wall * 1000:.2f} ms, CPU {cpu * 1000:.2f} ms; "
                  f"of it the peers source (read + build, wall): {statistics.median(shares) * 1000:.2f} ms")
        finally:
            for proc in procs:
                proc.stop()


if __name__ == "__main__":
    main()
