"""Soak: poll a real HAProxy at a short interval for thousands of polls while scraping concurrently,
and report the exporter's resident memory, open file descriptors and threads over the run.

    .venv/bin/python -m bench.soak --polls 3000 --interval 0.05 --scrapers 4

Everything is on loopback and in a temp dir; the run is bounded by ``--polls`` and ``--max-seconds``
and stops its children in ``finally``.  The baseline is taken after a warm-up (imports, first
renders, first thread pool), so "flat" means flat in steady state.  Exit status 1 when a figure
grew past its tolerance (``--max-rss-growth-kib``; fds and threads must return to the baseline).
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import signal
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.procs import ROOT, Child, command_line, start_haproxy, wait_until
from testkit.configs import admin_http_head
from testkit.procs import free_port

HAPROXY_CFG = """\
frontend fe_main
    bind 127.0.0.1:{fe}
    stick-table type ip size 1k expire 10m store gpc0,http_req_rate(10s),http_req_cnt
    http-request track-sc0 src
    default_backend be_app
frontend fe_origin
    bind 127.0.0.1:{origin}
    http-request return status 200 content-type text/plain string ok
{backends}
"""
BACKEND = """backend be_{n}
    balance roundrobin
    option httpchk GET /
{servers}"""


def haproxy_config(workdir: Path, backends: int, servers: int) -> tuple[str, int]:
    fe, origin = free_port(), free_port()
    blocks = []
    for b in range(backends):
        lines = "".join(f"    server s{s} 127.0.0.1:{origin} check inter 2s\n" for s in range(servers))
        blocks.append(BACKEND.format(n=b, servers=lines))
    blocks[0] = blocks[0].replace("backend be_0", "backend be_app")
    head = admin_http_head(f"{workdir}/admin.sock", "stats timeout 10s")
    return head + HAPROXY_CFG.format(fe=fe, origin=origin, backends="\n".join(blocks)), fe


def proc_figures(child: Child) -> dict[str, int]:
    """Resident memory (KiB), open fds and threads of ``child``, read from /proc."""
    return {"rss_kib": child.status("VmRSS"), "fds": child.fds(), "threads": child.status("Threads")}


def scrape(port: int, use_gzip: bool) -> bytes:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics")
    if use_gzip:
        request.add_header("Accept-Encoding", "gzip")
    with urllib.request.urlopen(request, timeout=10) as resp:
        body = resp.read()
        return gzip.decompress(body) if resp.headers.get("Content-Encoding") == "gzip" else body


def polls_done(port: int) -> int:
    text = scrape(port, False).decode()
    return sum(int(float(line.rsplit(" ", 1)[1])) for line in text.splitlines()
               if line.startswith("haproxy_exporter_polls_total{"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    ap.add_argument("--polls", type=int, default=3000)
    ap.add_argument("--interval", type=float, default=0.05)
    ap.add_argument("--scrapers", type=int, default=4, help="concurrent scrape loops")
    ap.add_argument("--backends", type=int, default=20)
    ap.add_argument("--servers", type=int, default=10, help="servers per backend")
    ap.add_argument("--warmup-polls", type=int, default=200)
    ap.add_argument("--max-seconds", type=float, default=900)
    ap.add_argument("--max-rss-growth-kib", type=int, default=4096)
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    args = ap.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="soak"))
    hap: Child | None = None
    exporter: Child | None = None
    stop = threading.Event()
    scrapes = {"ok": 0, "errors": 0}
    lock = threading.Lock()
    try:
        cfg_text, fe_port = haproxy_config(workdir, args.backends, args.servers)
        hap = start_haproxy(workdir, cfg_text)
        wait_until(lambda: (workdir / "admin.sock").exists(), 10, "haproxy socket")
        for _ in range(20):  # an entry in the stick table, some counters moving
            urllib.request.urlopen(f"http://127.0.0.1:{fe_port}/", timeout=5).read()

        port = free_port()
        (workdir / "exporter.yml").write_text(
            f"haproxy:\n  address: {workdir}/admin.sock\n"
            f"poll:\n  interval: {args.interval}s\n  max_age: 30s\n"
            f"web:\n  listen_address: 127.0.0.1:{port}\n"
            "log:\n  level: warning\n"
            "stick_tables:\n  - name: fe_main\n")
        exporter = Child("exporter", [sys.executable, "-m", "exporter", "--config.file", str(workdir / "exporter.yml")],
                         workdir / "exporter.log", cwd=ROOT)
        wait_until(lambda: polls_done(port) >= args.warmup_polls, args.max_seconds, "warm-up polls")

        def scraper(n: int) -> None:
            while not stop.is_set():
                try:
                    body = scrape(port, use_gzip=n % 2 == 0)
                    ok = b"haproxy_up 1" in body
                except OSError:
                    ok = False
                with lock:
                    scrapes["ok" if ok else "errors"] += 1

        threads = [threading.Thread(target=scraper, args=(n,), daemon=True) for n in range(args.scrapers)]
        for t in threads:
            t.start()
        time.sleep(0.5)  # scrapers running: their connection threads are part of the baseline
        started = time.monotonic()
        start_polls = polls_done(port)
        baseline = proc_figures(exporter)
        samples = [{"polls": 0, **baseline}]
        target = start_polls + args.polls
        next_sample = start_polls + args.polls // 10
        while True:
            done = polls_done(port)
            if done >= next_sample or done >= target:
                samples.append({"polls": done - start_polls, **proc_figures(exporter)})
                next_sample += args.polls // 10
            if done >= target or time.monotonic() - started > args.max_seconds or not exporter.alive():
                break
            time.sleep(0.2)
        stop.set()
        for t in threads:
            t.join(15)
        time.sleep(0.5)  # let the last connection threads end
        end = proc_figures(exporter)
        seconds = time.monotonic() - started
        polls = polls_done(port) - start_polls
        samples_in_snapshot = next((int(line.split()[1]) for line in scrape(port, False).decode().splitlines()
                                    if line.startswith("haproxy_exporter_snapshot_samples ")), 0)

        exporter.stop()
        warnings = sum(1 for line in (workdir / "exporter.log").read_text().splitlines() if "level=WARNING" in line
                       or "level=ERROR" in line)
        result: dict[str, Any] = {
            "command": command_line("soak", argv),
            "polls": polls, "seconds": round(seconds, 1), "polls_per_second": round(polls / seconds, 1),
            "scrapes_ok": scrapes["ok"], "scrape_errors": scrapes["errors"],
            "start": baseline, "end": end, "samples": samples, "log_warnings": warnings,
            "haproxy_samples": samples_in_snapshot,
        }
        growth = end["rss_kib"] - baseline["rss_kib"]
        flat = growth <= args.max_rss_growth_kib and end["fds"] <= baseline["fds"] \
            and end["threads"] <= baseline["threads"] and scrapes["errors"] == 0 and polls >= args.polls
        result["flat"] = flat
        if args.json:
            print(json.dumps(result, indent=2))
        else:
            print(f"{result['command']}")
            print(f"HAProxy samples per poll {samples_in_snapshot}; "
                  f"polls {polls} in {seconds:.1f}s ({result['polls_per_second']}/s), "
                  f"scrapes {scrapes['ok']} ok / {scrapes['errors']} errors, exporter warnings {warnings}")
            print(f"{'polls':>7} {'rss_kib':>9} {'fds':>5} {'threads':>8}")
            for s in samples + [{"polls": polls, **end, "note": "end, scrapers stopped"}]:
                print(f"{s['polls']:>7} {s['rss_kib']:>9} {s['fds']:>5} {s['threads']:>8}  {s.get('note', '')}")
            print(f"rss growth {growth} KiB; fds {baseline['fds']} -> {end['fds']}; "
                  f"threads {baseline['threads']} -> {end['threads']}; {'FLAT' if flat else 'NOT FLAT'}")
        return 0 if flat else 1
    finally:
        stop.set()
        if exporter is not None:
            exporter.stop()
        if hap is not None:
            hap.stop(signal.SIGUSR1)  # a soft stop
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
