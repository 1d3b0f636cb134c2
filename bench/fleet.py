"""One exporter for a fleet: N real HAProxys (B backends x S servers each) polled by one exporter
through ``targets:``, against N Go exporters (one per HAProxy, as that exporter requires).

What is measured, in one run on this machine (loopback only, every wait bounded):

* ours: whether every target is polled within each interval (the largest age of any target's
  last successful poll, read from ``/metrics`` every second), CPU per poll round (process CPU
  over the measured window / rounds), resident memory, and ``/probe?target=`` latency with gzip
  (one timed scrape per target per interval, as Prometheus would scrape);
* Go: the N exporters scraped once per interval each (they read HAProxy on scrape), their total
  CPU per round and total resident memory.

Usage: ``.venv/bin/python -m bench.fleet [--haproxys 20] [--size 250x4] [--interval 5] [--rounds 12]``
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench import client
from bench.environment import GO_EXPORTER, machine, versions
from bench.genconfig import haproxy_config
from bench.procs import RESULTS, ROOT, Child, command_line, start_haproxy, wait_until, write_results
from testkit.procs import free_port


def start_haproxys(count: int, backends: int, servers: int, workdir: Path) -> list[tuple[Child, str]]:
    started = []
    for n in range(count):
        sock = str(workdir / f"h{n}.sock")
        config = haproxy_config(backends, servers, sock, free_port(), free_port())
        started.append((start_haproxy(workdir, config, f"h{n}"), sock))
    wait_until(lambda: all(proc.alive() and Path(sock).exists() for proc, sock in started), 120, "every HAProxy's socket")
    return started


def overview(port: int) -> dict[str, dict[str, float]]:
    """``/metrics`` with several targets: {metric: {target: value}} for our per-target lines."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as resp:
        text = resp.read().decode()
    out: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        if line.startswith(("haproxy_up{", "haproxy_exporter_last_successful_poll_timestamp_seconds{")):
            name, rest = line.split("{", 1)
            target = rest.split('target="', 1)[1].split('"', 1)[0]
            out.setdefault(name, {})[target] = float(rest.rsplit(" ", 1)[1])
    return out


def measure_ours(haps: list[tuple[Child, str]], args: argparse.Namespace, workdir: Path) -> dict:
    port = free_port()
    names = [f"h{n}" for n in range(len(haps))]
    (workdir / "fleet.yaml").write_text(json.dumps({
        "targets": [{"name": name, "address": f"unix@{sock}"} for name, (_, sock) in zip(names, haps)],
        "poll": {"interval": f"{args.interval}s", "max_age": f"{4 * args.interval}s"},
        "haproxy": {"timeout": "60s"},
        "web": {"listen_address": f"127.0.0.1:{port}"},
        "log": {"level": "warning"},
    }))
    proc = Child("ours", [sys.executable, "-m", "exporter", f"--config.file={workdir / 'fleet.yaml'}"],
                 workdir / "ours.log", cwd=ROOT)
    try:
        wait_until(lambda: proc.alive() and sum(overview(port).get("haproxy_up", {}).values()) == len(names), 300,
                   "every target's first poll")
        time.sleep(args.interval)  # one steady round before measuring
        cpu0, t0 = proc.cpu_seconds(), time.monotonic()
        ages: list[float] = []
        probes: list[float] = []
        buf = bytearray(64 << 20)
        next_probe = time.monotonic()
        while time.monotonic() - t0 < args.rounds * args.interval:
            now_wall = time.time()
            seen = overview(port).get("haproxy_exporter_last_successful_poll_timestamp_seconds", {})
            ages.append(max(now_wall - seen.get(name, 0.0) for name in names))
            if time.monotonic() >= next_probe:  # each target once per interval, spread over it
                for name in names:
                    probes.append(client.scrape(port, True, path=f"/probe?target={name}", buffer=buf).seconds)
                    time.sleep(args.interval / len(names) / 2)
                next_probe += args.interval
            time.sleep(1.0)
        elapsed = time.monotonic() - t0
        cpu = proc.cpu_seconds() - cpu0
        return {
            "cpu_per_round": cpu / (elapsed / args.interval),
            "cpu_share_of_a_core": cpu / elapsed,
            "max_age_seconds": max(ages), "median_age_seconds": statistics.median(ages),
            "probe_gzip_median_ms": 1000 * statistics.median(probes),
            "probe_gzip_p95_ms": 1000 * sorted(probes)[int(0.95 * (len(probes) - 1))],
            "probes": len(probes), "rss_kib": proc.status("VmRSS"), "hwm_kib": proc.status("VmHWM"),
        }
    finally:
        proc.stop()


def measure_go(haps: list[tuple[Child, str]], args: argparse.Namespace, workdir: Path) -> dict:
    gos: list[tuple[Child, int]] = []
    try:
        for n, (_, sock) in enumerate(haps):
            port = free_port()
            gos.append((Child(f"go{n}", [GO_EXPORTER, f"--haproxy.scrape-uri=unix:{sock}",
                                         f"--web.listen-address=127.0.0.1:{port}", "--haproxy.timeout=60s"],
                              workdir / f"go{n}.log"), port))
        wait_until(lambda: all(proc.alive() and client.scrape(port, False, path="/").wire_bytes > 0 for proc, port in gos),
                   60, "every Go exporter")
        buf = bytearray(64 << 20)
        for _, port in gos:  # one warm-up scrape each
            client.scrape(port, True, buffer=buf)
        cpu0, t0 = sum(p.cpu_seconds() for p, _ in gos), time.monotonic()
        scrapes: list[float] = []
        for _ in range(args.rounds):
            round_start = time.monotonic()
            for _, port in gos:  # as Prometheus: each exporter once per interval
                scrapes.append(client.scrape(port, True, buffer=buf).seconds)
            time.sleep(max(0.0, args.interval - (time.monotonic() - round_start)))
        elapsed = time.monotonic() - t0
        cpu = sum(p.cpu_seconds() for p, _ in gos) - cpu0
        return {
            "cpu_per_round": cpu / args.rounds, "cpu_share_of_a_core": cpu / elapsed,
            "scrape_gzip_median_ms": 1000 * statistics.median(scrapes),
            "rss_kib_total": sum(p.status("VmRSS") for p, _ in gos),
            "hwm_kib_total": sum(p.status("VmHWM") for p, _ in gos),
        }
    finally:
        for proc, _ in gos:
            proc.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fleet", description=__doc__.split("\n\n")[0])
    parser.add_argument("--haproxys", type=int, default=20)
    parser.add_argument("--size", default="250x4", help="backends x servers of each HAProxy")
    parser.add_argument("--interval", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=12, help="poll intervals measured")
    parser.add_argument("--no-go", dest="go", action="store_false")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    backends, servers = (int(x) for x in args.size.split("x"))
    if args.go and not Path(GO_EXPORTER).exists():
        parser.error(f"{GO_EXPORTER} is not installed (apt-get install prometheus-haproxy-exporter)")
    results: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                               "command": command_line("fleet", argv), "machine": machine(), "versions": versions(),
                               "haproxys": args.haproxys, "size": args.size, "interval": args.interval,
                               "rounds": args.rounds}
    workdir = Path(tempfile.mkdtemp(prefix="hrxfleet"))
    haps: list[tuple[Child, str]] = []
    try:
        haps = start_haproxys(args.haproxys, backends, servers, workdir)
        results["ours"] = measure_ours(haps, args, workdir)
        print("ours:", json.dumps(results["ours"]), flush=True)
        if args.go:
            results["go"] = measure_go(haps, args, workdir)
            print("go:", json.dumps(results["go"]), flush=True)
        dead = [p.name for p, _ in haps if not p.alive()]
        if dead:
            raise RuntimeError(f"HAProxy exited during the run: {dead}")
    finally:
        for proc, _ in haps:
            proc.stop()
        write_results(results, args.out, "fleet")
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
