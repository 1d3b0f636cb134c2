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

    .venv/bin/python bench/peers_bench.py [--peers 12] [--tables 4] [--entries 100] [--polls 20]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.procs import command, free_ports, wait_until  # noqa: E402
from exporter.config import TargetConfig, build_config  # noqa: E402
from exporter.exposition.render import render  # noqa: E402
from exporter.poll.poller import Poller  # noqa: E402
from exporter.poll.snapshot import Store  # noqa: E402
from exporter.runtime.address import parse_address  # noqa: E402
from exporter.runtime.client import RuntimeClient  # noqa: E402
from exporter.sources.peers.model import peer_families  # noqa: E402
from exporter.sources.peers.parse import parse_peers  # noqa: E402
from exporter.sources.registry import allowlist  # noqa: E402
from exporter.sources.values import ModelStats  # noqa: E402

HEAD = """
global
    stats socket {sock} level admin
    stats timeout 60s
    nbthread 1
    localpeer {me}
peers mesh
{peer_lines}
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
"""
TABLE = "backend st{n}\n    stick-table type ip size 10k expire 1h peers mesh store gpc0,http_req_cnt\n"








def established(sock: str, remotes: int) -> bool:
    up = [p for p in parse_peers(command(sock, "show peers"))
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--peers", type=int, default=12, help="remote peers of the HAProxy read")
    parser.add_argument("--tables", type=int, default=4)
    parser.add_argument("--entries", type=int, default=100, help="keys put in each table of the HAProxy read")
    parser.add_argument("--polls", type=int, default=20)
    parser.add_argument("--haproxy", default=shutil.which("haproxy") or "/usr/sbin/haproxy")
    args = parser.parse_args()
    names = [f"h{i}" for i in range(args.peers + 1)]
    ports = free_ports(len(names))
    peer_lines = "\n".join(f"    peer {n} 127.0.0.1:{p}" for n, p in zip(names, ports))
    tables = "".join(TABLE.format(n=t) for t in range(args.tables))
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="prb") as tmp:
        socks = [str(Path(tmp) / f"{n}.sock") for n in names]
        try:
            for name, sock in zip(names, socks):
                cfg = Path(tmp) / f"{name}.cfg"
                cfg.write_text(HEAD.format(sock=sock, me=name, peer_lines=peer_lines) + tables)
                procs.append(subprocess.Popen([args.haproxy, "-db", "-f", str(cfg)],
                                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            for sock in socks:
                wait_until(lambda s=sock: command(s, "show info").startswith("Name:"), 15, f"{sock} does not answer")
            read = socks[0]
            for t in range(args.tables):
                for start in range(0, args.entries, 100):
                    batch = range(start, min(start + 100, args.entries))
                    command(read, ";".join(f"set table st{t} key 10.{t}.{i // 256}.{i % 256} data.gpc0 {i}" for i in batch))
            wait_until(lambda: established(read, args.peers), 60, "not every peer link got established")
            answer = command(read, "show peers")
            print(f"haproxy {command(read, 'show info').split('Version: ')[1].split(chr(10))[0]}: {args.peers} remote "
                  f"peers established, {args.tables} tables x {args.entries} keys; show peers answer "
                  f"{len(answer)} bytes, {answer.count(chr(10))} lines")

            client = RuntimeClient(parse_address(read), allowlist(), TargetConfig())

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
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)


if __name__ == "__main__":
    main()
