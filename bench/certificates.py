"""The certificates source at scale: 10,000 certificates on one real HAProxy beside B x S servers.

HAProxy 2.6 (Debian's) loads N certificate files from one ``crt`` directory (D distinct
self-signed certificates made with openssl, copied to N files: HAProxy keeps one entry per file)
and the servers of bench/genconfig.py.  The real ``Poller.poll_once`` runs in this process:

* with ``certificates.enabled: false`` (the poll of show info and show stat alone), alternating
  with the next:
* with the source on, from cold: the polls of one whole refresh (the list, then at most
  ``max_per_poll`` certificates per poll until all are read), and then the polls between two
  refreshes (nothing due: the last answers are served).

Reported: median CPU and wall per poll in each phase, what the source adds to a poll, how many
polls and how much CPU one refresh of all certificates takes, and HAProxy's own CPU for it.

Usage: ``.venv/bin/python -m bench.certificates [--certs 10000] [--size 1000x10] [--polls 5]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.environment import machine, versions
from bench.genconfig import haproxy_config
from bench.pollcost import snapshot_size
from bench.procs import RESULTS, Child, command_line, start_haproxy, wait_until, write_results
from exporter.config import build_config
from exporter.poll.poller import Poller
from exporter.poll.snapshot import Store
from testkit.procs import free_port


def make_certs(directory: Path, count: int, distinct: int) -> None:
    directory.mkdir()
    work = Path(tempfile.mkdtemp(prefix="hrxcb"))
    pems = []
    for n in range(distinct):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-days", str(30 + n), "-subj", f"/CN=site{n}.example", "-addext",
                        f"subjectAltName=DNS:site{n}.example,DNS:www.site{n}.example",
                        "-keyout", str(work / "k"), "-out", str(work / "c")], check=True, capture_output=True, timeout=60)
        pems.append((work / "c").read_text() + (work / "k").read_text())
    for n in range(count):
        (directory / f"site{n:05d}.pem").write_text(pems[n % distinct])
    shutil.rmtree(work)


def timed(poller: Poller, hap: Child) -> tuple[float, float, float]:
    """CPU and wall of one poll in this process, and HAProxy's CPU meanwhile."""
    h, c, w = hap.cpu_seconds(), time.process_time(), time.perf_counter()
    if not poller.poll_once():
        raise RuntimeError("poll failed")
    return time.process_time() - c, time.perf_counter() - w, hap.cpu_seconds() - h


def poller(address: str, certificates: dict) -> tuple[Poller, Store]:
    config = build_config({"haproxy": {"address": address, "timeout": "120s"}, "certificates": certificates})
    store = Store(config.poll.max_age)
    return Poller(config, store), store


def medians(runs: list[tuple[float, float, float]]) -> dict:
    return {"cpu_seconds": statistics.median(r[0] for r in runs), "wall_seconds": statistics.median(r[1] for r in runs),
            "haproxy_cpu_seconds": statistics.median(r[2] for r in runs), "polls": len(runs)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.certificates", description=__doc__.split("\n\n")[0])
    parser.add_argument("--certs", type=int, default=10_000)
    parser.add_argument("--distinct", type=int, default=50)
    parser.add_argument("--size", default="1000x10")
    parser.add_argument("--polls", type=int, default=5)
    parser.add_argument("--max-per-poll", type=int, default=200)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    if args.certs <= args.max_per_poll:
        parser.error("--certs must be above --max-per-poll: the first poll reads them all, there is no refresh to time")
    backends, servers = (int(x) for x in args.size.split("x"))
    workdir = Path(tempfile.mkdtemp(prefix="hrxcertb"))
    started = time.perf_counter()
    make_certs(workdir / "certs", args.certs, args.distinct)
    print(f"{args.certs} certificate files in {time.perf_counter() - started:.1f}s", flush=True)
    admin = str(workdir / "admin.sock")
    cfg = haproxy_config(backends, servers, admin, free_port(), free_port())
    cfg += f"\nfrontend fe_tls\n    bind 127.0.0.1:{free_port()} ssl crt {workdir / 'certs'}/\n" \
           "    http-request return status 200\n"
    hap = start_haproxy(workdir, cfg, check=False)  # a check would load the certificates too: as long again
    results: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                               "command": command_line("certificates", argv),
                               "machine": machine(), "versions": versions(), "size": args.size, "certs": args.certs,
                               "max_per_poll": args.max_per_poll}
    try:
        results["haproxy_start_seconds"] = wait_until(lambda: os.path.exists(admin), 600, "HAProxy", step=0.5)
        # The poll without certificates and the one with them alternate, so both see the same
        # machine (a shared VM drifts by tens of ms between minutes).
        off, _ = poller(admin, {"enabled": False})
        off.poll_once()  # cold: label caches
        on, store = poller(admin, {"refresh_interval": "1h", "max_per_poll": args.max_per_poll})
        target = on.targets[""]
        base, refresh = [], []
        on.poll_once()  # cold: label caches, the list and the first certificates
        while target.state.source_ok.get("certificates") and (
                b"".join(p.text for p in store.parts()).decode()).count(
                "haproxy_ssl_certificate_used{") < args.certs:
            base.append(timed(off, hap))
            refresh.append(timed(on, hap))
            if len(refresh) > args.certs // args.max_per_poll + 5:
                raise RuntimeError("the refresh does not end")
        results["disabled_during_refresh"] = medians(base)
        results["refreshing"] = medians(refresh)
        results["refresh_polls"] = len(refresh) + 1
        results["refresh_cpu_seconds_total"] = sum(r[0] for r in refresh)
        results["refresh_added_cpu_seconds_total"] = sum(r[0] for r in refresh) - sum(r[0] for r in base)
        results["refresh_haproxy_cpu_seconds_total"] = sum(r[2] for r in refresh)
        print("refreshing:", results["refreshing"], "polls", results["refresh_polls"], flush=True)
        base, between = [], []
        for _ in range(args.polls):
            base.append(timed(off, hap))
            between.append(timed(on, hap))
        results["disabled"] = medians(base)
        results["between_refreshes"] = medians(between)
        print("disabled:", results["disabled"], flush=True)
        print("between refreshes:", results["between_refreshes"], flush=True)
        results["refreshing_added_cpu_seconds"] = results["refreshing"]["cpu_seconds"] - results[
            "disabled_during_refresh"]["cpu_seconds"]
        results["refreshing_added_wall_seconds"] = results["refreshing"]["wall_seconds"] - results[
            "disabled_during_refresh"]["wall_seconds"]
        results["between_refreshes_added_cpu_seconds"] = results["between_refreshes"]["cpu_seconds"] - results[
            "disabled"]["cpu_seconds"]
        results["between_refreshes_added_wall_seconds"] = results["between_refreshes"]["wall_seconds"] - results[
            "disabled"]["wall_seconds"]
        size = snapshot_size(store)
        results["samples"] = size["samples"]
        results["plain_bytes"] = size["plain_bytes"]
        for key in ("refreshing_added_cpu_seconds", "refreshing_added_wall_seconds", "between_refreshes_added_cpu_seconds",
                    "between_refreshes_added_wall_seconds", "refresh_cpu_seconds_total",
                    "refresh_added_cpu_seconds_total"):
            print(f"{key}: {results[key]:.4f}")
    finally:
        hap.stop()
        write_results(results, args.out, "certificates")
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
