"""TLS scrape times of one or more checkouts, side by side: what sending over TLS costs a fast reader.

One generated HAProxy (bench/genconfig.py, 1000 x 10 by default: 44.5 MB of plain text, 2 MB
gzip); one ``python -m exporter`` per checkout behind the same TLS web config, all polling on
their schedule; then rounds of one plain and one gzip TLS scrape of each, the order turned every
round.  Run one after the other, two versions met different background load on this shared
machine (the same code's median moved by 2x from run to run); interleaved, they meet the same.

    .venv/bin/python -m bench.tlsscrape --roots /path/to/before,.   # before and this checkout
    .venv/bin/python -m bench.tlsscrape --rounds 150 --poll-interval 1h   # no poll meanwhile

Only loopback; every wait is bounded; every child is stopped in a ``finally``.  Figures go to
stdout and to bench/results/tlsscrape-<time>.json.
"""

from __future__ import annotations

import argparse
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.client import tls_scrape
from bench.genconfig import haproxy_config
from bench.procs import RESULTS, ROOT, Child, start_haproxy, wait_until, write_results
from testkit.procs import free_port
from testkit.runtime import answers
from testkit.tlscerts import make_certs


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.tlsscrape", description=__doc__.split("\n\n")[0])
    ap.add_argument("--roots", default=str(ROOT), help="comma-separated checkouts whose exporters are compared")
    ap.add_argument("--size", default="1000x10")
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--poll-interval", default="2s")
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args(argv)
    roots = [Path(r).resolve() for r in args.roots.split(",") if r]
    backends, servers = (int(x) for x in args.size.lower().split("x"))
    workdir = Path(tempfile.mkdtemp(prefix="hrxtls"))
    sock = str(workdir / "admin.sock")
    certs = make_certs(workdir / "certs")
    web = workdir / "web.yml"
    web.write_text(certs.web_config())
    context = ssl.create_default_context(cafile=str(certs.ca))
    children: list[Child] = []
    times: dict[str, dict[str, list[float]]] = {}
    cpu: dict[str, float] = {}
    sizes: dict[str, int] = {}
    hap = start_haproxy(workdir, haproxy_config(backends, servers, sock, free_port(), free_port()))
    try:
        wait_until(lambda: answers(sock, 5), 60, "HAProxy")
        ports: dict[str, int] = {}
        for n, root in enumerate(roots):
            name = f"{n}:{root}"
            ports[name] = free_port()
            children.append(Child(name, [sys.executable, "-m", "exporter", f"--haproxy.address={sock}",
                                         f"--web.listen-address=127.0.0.1:{ports[name]}",
                                         f"--poll.interval={args.poll_interval}", "--poll.max-age=2h",
                                         f"--web.config.file={web}"], workdir / f"exporter-{n}.log", cwd=root))
            times[name] = {"plain": [], "gzip": []}
        wait_until(lambda: all(tls_scrape(port, context, True, 10)[0] == 200 for port in ports.values()), 120,
                   "every exporter's first poll")
        cpu_start = {c.name: c.cpu_seconds() for c in children}
        names = list(ports)
        for r in range(args.rounds):
            for name in names[r % len(names):] + names[:r % len(names)]:
                for kind in ("plain", "gzip"):
                    status, seconds, size = tls_scrape(ports[name], context, kind == "gzip")
                    if status != 200:
                        raise RuntimeError(f"{name}: TLS scrape answered {status}")
                    times[name][kind].append(seconds * 1000)
                    sizes[kind] = size
        cpu = {c.name: c.cpu_seconds() - cpu_start[c.name] for c in children}
    finally:
        for child in children:
            child.stop()
        hap.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    results: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "size": args.size,
                     "poll_interval": args.poll_interval, "rounds": args.rounds, "bytes": sizes, "exporters": {}}
    print(f"{args.size}: {args.rounds} rounds of one plain ({sizes['plain']:,} bytes) and one gzip "
          f"({sizes['gzip']:,} bytes) TLS scrape of each, polls every {args.poll_interval}")
    for name, kinds in times.items():
        commit = subprocess.run(["git", "-C", name.split(":", 1)[1], "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True).stdout.strip() or "unknown"
        row = {"commit": commit, "cpu_s_per_round": round(cpu[name] / args.rounds, 4)}
        for kind, values in kinds.items():
            row[kind] = {"median_ms": round(statistics.median(values), 1), "p90_ms": round(percentile(values, 0.9), 1),
                         "p95_ms": round(percentile(values, 0.95), 1)}
        results["exporters"][name] = row
        print(f"  {name} ({commit}): plain median {row['plain']['median_ms']} ms, p90 {row['plain']['p90_ms']}, "
              f"p95 {row['plain']['p95_ms']}; gzip median {row['gzip']['median_ms']} ms, p90 {row['gzip']['p90_ms']}, "
              f"p95 {row['gzip']['p95_ms']}; exporter CPU {1000 * row['cpu_s_per_round']:.1f} ms per round (polls included)")
    write_results(results, args.out, "tlsscrape")
    return 0


if __name__ == "__main__":
    sys.exit(main())
