"""Performance at scale, side by side: our exporter, HAProxy's built-in exporter, the Go exporter.

One run, on this machine, per size B x S: generate an HAProxy config of B backends x S servers
(loopback only, no checks), start HAProxy (admin stats socket + a frontend serving promex),
measure our poll cycle in-process (CPU and wall per phase, and its CPU in three steady states:
no traffic, 1 % of the rows changing, all of them; bench/pollcpu.py), then measure each exporter's
``/metrics`` in turn on the same HAProxy: latency median and p95 over repeated scrapes (plain and
gzip), bytes on the wire, samples, three concurrent scrapes, resident memory, CPU per scrape (the
exporter's and HAProxy's behind it).

The exporters are measured one at a time and ours is stopped before the peers are measured, so
our background poll loop never steals CPU from a peer's scrape on this 2-core machine.  Results go
to stdout and to bench/results/ (markdown + JSON).  Every wait and every loop is bounded.

    .venv/bin/python -m bench.scale                     # 10x10, 1000x10 and 2000x25
    .venv/bin/python -m bench.scale --sizes 1000x10 --repeat 21
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

from bench import client, report
from bench.environment import GO_EXPORTER, machine, versions
from bench.genconfig import haproxy_config
from bench.pollcost import measure as measure_poll
from bench.pollcpu import CHANGES, our_polls
from bench.procs import RESULTS, ROOT, Child, command_line, start_haproxy, wait_until
from testkit.procs import free_port
from testkit.runtime import raw_bytes

INTERVALS = (1, 2, 5, 10, 15, 30, 60)
TARGETS = ("ours", "promex", "go")


def parse_size(text: str) -> tuple[int, int]:
    b, _, s = text.lower().partition("x")
    return int(b), int(s)


def choose_interval(poll_wall: float) -> int:
    """The smallest round interval at least 4x one poll cycle: the loop stays below ~25% of a core."""
    return next((i for i in INTERVALS if i >= 4 * poll_wall), INTERVALS[-1])


# Prometheus 3's Accept header (scrape.acceptHeader with its default scrape_protocols): OpenMetrics first.
OPENMETRICS_ACCEPT = ("application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"
                      "application/openmetrics-text;version=0.0.1;q=0.5,"
                      "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2")

# Prometheus 2.42's Accept with --enable-feature=native-histograms (scrape/scrape.go): protobuf first.
PROTOBUF_ACCEPT = ("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,"
                   "application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75,"
                   "text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
# The forms scraped after the text ones, in the same run: (result key, label, Accept).
FORMS = (("openmetrics", "OpenMetrics", OPENMETRICS_ACCEPT), ("protobuf", "protobuf", PROTOBUF_ACCEPT))


def series(port: int, use_gzip: bool, repeat: int, budget: float, buf: bytearray, spacing: float,
           accept_type: str = "") -> list[float]:
    """Sequential scrapes: ``repeat`` of them, fewer (at least 3) if ``budget`` seconds run out,
    ``spacing`` seconds apart (see :func:`spacing_for`); with ``accept_type`` as ``Accept``."""
    times: list[float] = []
    started = time.monotonic()
    while len(times) < repeat and (len(times) < 3 or time.monotonic() - started < budget):
        if times:
            time.sleep(spacing)
        times.append(client.scrape(port, use_gzip, buffer=buf, accept_type=accept_type).seconds)
    return times


def interleaved(port: int, use_gzip: bool, repeat: int, buf: bytearray, spacing: float,
                accepts: dict[str, str]) -> dict[str, list[float]]:
    """``repeat`` rounds of one scrape per form (``accepts``: form → ``Accept``; "" is text), the
    order turning each round, ``spacing`` seconds apart: every form meets the same polls, so their
    times compare the forms, not which part of the poll cycle a form's series fell in."""
    names = list(accepts)
    times: dict[str, list[float]] = {name: [] for name in names}
    for n in range(repeat):
        for name in names[n % len(names):] + names[:n % len(names)]:
            time.sleep(spacing)
            times[name].append(client.scrape(port, use_gzip, buffer=buf, accept_type=accepts[name]).seconds)
    return times


def spacing_for(interval: float, repeat: int) -> float:
    """Pause between timed scrapes, the same for all three exporters at one size.

    Our exporter polls in the background, and a scrape that arrives during a poll shares the
    cores and the interpreter lock with it.  Back-to-back scrapes would all land in one part of
    the poll cycle (21 plain scrapes at 1000x10 take ~0.4 s of a 2 s interval), so a series would
    say either "never during a poll" or "mostly during a poll" by chance.  Spread over two
    intervals, the scrapes sample every phase of the cycle, as Prometheus' scrapes do.
    """
    return 2 * interval / repeat


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def own_status(body: bytes) -> dict:
    """Our exporter's own poll figures from its exposition (wall seconds)."""
    phases, duration = {}, None
    for line in body.decode().splitlines():
        if line.startswith('haproxy_exporter_poll_phase_seconds{phase="'):
            name = line.split('"')[1]
            phases[name] = float(line.rsplit(" ", 1)[1])
        elif line.startswith("haproxy_exporter_poll_duration_seconds "):
            duration = float(line.rsplit(" ", 1)[1])
    return {"phase_wall": phases, "duration_wall": duration}


def measure_target(name: str, port: int, proc: Child, hap: Child, args: argparse.Namespace) -> dict:
    check = client.scrape(port, False, keep=True, buffer=bytearray(1 << 20))  # also the warm-up
    status, headers, body = client.decode(check.raw or b"")
    if status != 200:
        raise RuntimeError(f"{name}: /metrics answered {status}")
    # Buffers with room to spare, so no timed scrape ever grows one.
    buf = bytearray(check.wire_bytes + check.wire_bytes // 4 + (1 << 20))
    gz_check = client.scrape(port, True, keep=True, buffer=buf)
    _, gz_headers, gz_body = client.decode(gz_check.raw or b"")
    result: dict = {
        "samples": client.count_samples(body),
        "body_bytes": len(body),
        "wire_plain": check.wire_bytes,
        "wire_gzip": gz_check.wire_bytes,
        "gzip_served": gz_headers.get("content-encoding") == "gzip",
        "gzip_samples": client.count_samples(gz_body),
    }
    del body, gz_body, check, gz_check
    # CPU per scrape: the exporter's own, and HAProxy's behind it (the Go exporter's show stat; for
    # promex the two are one process; ours never reads HAProxy for a scrape, its poll loop does).
    cpu_before, hap_before = proc.cpu_seconds(), hap.cpu_seconds()
    plain = series(port, False, args.repeat, args.budget, buf, args.spacing)
    cpu_plain, hap_plain = (proc.cpu_seconds() - cpu_before) / len(plain), (hap.cpu_seconds() - hap_before) / len(plain)
    cpu_before, hap_before = proc.cpu_seconds(), hap.cpu_seconds()
    gz = series(port, True, args.repeat, args.budget, buf, args.spacing)
    cpu_gzip, hap_gzip = (proc.cpu_seconds() - cpu_before) / len(gz), (hap.cpu_seconds() - hap_before) / len(gz)
    result.update(
        plain=plain, gzip=gz,
        plain_median=statistics.median(plain), plain_p95=p95(plain),
        gzip_median=statistics.median(gz), gzip_p95=p95(gz),
        cpu_per_plain_scrape=cpu_plain, cpu_per_gzip_scrape=cpu_gzip,
        haproxy_cpu_per_plain_scrape=hap_plain, haproxy_cpu_per_gzip_scrape=hap_gzip,
        concurrent_plain=client.concurrent(port, False, args.concurrency, args.rounds, len(buf), args.round_spacing),
        concurrent_gzip=client.concurrent(port, True, args.concurrency, args.rounds, len(buf), args.round_spacing),
        rss_kib=proc.status("VmRSS"), hwm_kib=proc.status("VmHWM"),
    )
    if name == "ours":
        result["own"] = own_status(client.decode(client.scrape(port, False, keep=True).raw or b"")[2])
        # The OpenMetrics and protobuf forms (Prometheus' own Accept headers), plain and gzip, in the
        # same run as the text's; each poll prepares a form from the first scrape that asked for it.
        for key, label, accept in FORMS:
            check = client.scrape(port, False, keep=True, accept_type=accept)  # the first asks: then each poll makes it
            body = client.decode(check.raw or b"")[2]
            times = {mode: series(port, mode == "gzip", args.repeat, args.budget, buf, args.spacing, accept)
                     for mode in ("plain", "gzip")}
            result[key] = {f"{mode}_median": statistics.median(found) for mode, found in times.items()}
            result[key].update({f"{mode}_p95": p95(found) for mode, found in times.items()})
            result[key].update({mode: found for mode, found in times.items()}, body_bytes=len(body))
            print(f"ours: {label} scrape median {result[key]['plain_median'] * 1000:.1f} ms "
                  f"(text {result['plain_median'] * 1000:.1f} ms), gzip {result[key]['gzip_median'] * 1000:.1f} ms "
                  f"(text {result['gzip_median'] * 1000:.1f} ms), p95 {result[key]['plain_p95'] * 1000:.1f} / "
                  f"{result[key]['gzip_p95'] * 1000:.1f} ms (text {result['plain_p95'] * 1000:.1f} / "
                  f"{result['gzip_p95'] * 1000:.1f} ms), {len(body):,} bytes plain", flush=True)
            del body, check
        # Then all three forms interleaved: each poll now prepares both derived forms, and the text
        # scrapes meet the same polls as theirs (the series above met lighter polls for text).
        accepts = {"text": "", **{key: accept for key, _, accept in FORMS}}
        for mode in ("plain", "gzip"):
            found = interleaved(port, mode == "gzip", args.repeat, buf, args.spacing, accepts)
            result[f"interleaved_{mode}"] = {name: {"median": statistics.median(t), "p95": p95(t), "times": t}
                                             for name, t in found.items()}
            text = result[f"interleaved_{mode}"]["text"]
            print(f"ours, interleaved {mode}: " + ", ".join(
                f"{name} median {f['median'] * 1000:.1f} ms ({f['median'] / text['median']:.2f}x) "
                f"p95 {f['p95'] * 1000:.1f} ms ({f['p95'] / text['p95']:.2f}x)"
                for name, f in result[f"interleaved_{mode}"].items()), flush=True)
    return result


def start_ours(sock: str, interval: int, workdir: Path, checkout: Path = ROOT,
               extra: Sequence[str] = ()) -> tuple[Child, int]:
    """Our exporter from ``checkout`` (this one, or another commit's for a before/after run), ready
    once a gzip /metrics answers 200: its first poll was published.  ``extra``: more arguments
    (``--config.file`` for the sections no flag sets)."""
    port = free_port()
    proc = Child("ours", [sys.executable, "-m", "exporter", f"--haproxy.address={sock}",
                          f"--web.listen-address=127.0.0.1:{port}", f"--poll.interval={interval}s",
                          f"--poll.max-age={max(30, 4 * interval)}s", "--haproxy.timeout=60s",
                          "--log.level=warning", *extra], workdir / "ours.log", cwd=checkout)
    wait_until(lambda: proc.alive() and _status(port) == 200, 300, "our exporter's first poll")
    return proc, port


def _status(port: int) -> int:
    return client.status_of(client.scrape(port, True, keep=True).raw or b"")


def measure_floor(ours: dict, args: argparse.Namespace, workdir: Path) -> dict:
    """A minimal socket server sending as many bytes as ours did, plain and gzip (bench/floor.py)."""
    buf = bytearray(ours["wire_plain"] + (1 << 20))
    return {mode: floor_figures(size, args, workdir, buf)
            for mode, size in (("plain", ours["wire_plain"]), ("gzip", ours["wire_gzip"]))}


def floor_figures(size: int, args: argparse.Namespace, workdir: Path, buf: bytearray) -> dict:
    port = free_port()
    proc = Child("floor", [sys.executable, "-m", "bench.floor", str(port), str(size)], workdir / "floor.log", cwd=ROOT)
    try:
        wait_until(lambda: proc.alive() and client.scrape(port, False, buffer=buf).wire_bytes > 0, 30, "floor server")
        single = series(port, False, args.repeat, args.budget, buf, args.spacing)
        rounds = client.concurrent(port, False, args.concurrency, args.rounds, len(buf), args.round_spacing)
    finally:
        proc.stop()
    return {"bytes": size, "median": statistics.median(single), "p95": p95(single), "concurrent": rounds}


def start_go(sock: str, workdir: Path) -> tuple[Child, int]:
    port = free_port()
    proc = Child("go", [GO_EXPORTER, f"--haproxy.scrape-uri=unix:{sock}",
                        f"--web.listen-address=127.0.0.1:{port}", "--haproxy.timeout=60s"],
                 workdir / "go.log")
    wait_until(lambda: proc.alive() and client.scrape(port, False, path="/").wire_bytes > 0, 30, "Go exporter")
    return proc, port


def show_stat_figures(sock: str) -> dict:
    """How long HAProxy itself takes to answer ``show stat`` (read the simplest way, 3 times)."""
    times, answer = [], b""
    for _ in range(3):
        started = time.perf_counter()
        answer = raw_bytes(sock, b"show stat", 60)
        times.append(time.perf_counter() - started)
    return {"median_seconds": statistics.median(times), "bytes": len(answer), "rows": answer.count(b"\n") - 2}


def run_size(backends: int, servers: int, args: argparse.Namespace, workdir: Path) -> dict:
    sock = str(workdir / "admin.sock")
    promex_port = free_port()
    out: dict = {"size": f"{backends}x{servers}", "backends": backends, "servers": servers, "targets": {}}
    children: list[Child] = []
    try:
        hap = start_haproxy(workdir, haproxy_config(backends, servers, sock, promex_port, free_port()))
        children.append(hap)
        wait_until(lambda: hap.alive() and os.path.exists(sock) and show_stat_figures(sock)["bytes"] > 0, 120,
                   "HAProxy")
        out["show_stat"] = show_stat_figures(sock)
        print(f"[{out['size']}] show stat: {out['show_stat']}", flush=True)
        out["poll"] = measure_poll(sock, args.poll_runs)
        print(f"[{out['size']}] poll cycle: cpu {out['poll']['cpu_total']:.3f}s wall "
              f"{out['poll']['wall_total']:.3f}s {out['poll']['cpu']}", flush=True)
        # The poll's CPU in the three steady states (bench/pollcpu.py), against the scrapes' below.
        out["poll_states"] = {state: our_polls(sock, hap, share, args.poll_runs) for state, share in CHANGES.items()}
        print(f"[{out['size']}] poll CPU by state: "
              + ", ".join(f"{k} {v['cpu_seconds'] * 1000:.1f} ms" for k, v in out["poll_states"].items()), flush=True)
        interval = args.interval or choose_interval(out["poll"]["poll_once_wall"])
        out["interval"] = interval
        args.spacing = out["spacing"] = spacing_for(interval, args.repeat)
        args.round_spacing = out["round_spacing"] = spacing_for(interval, args.rounds)
        for name in args.targets:
            if name == "ours":
                proc, port = start_ours(sock, interval, workdir)
            elif name == "go":
                proc, port = start_go(sock, workdir)
            else:
                proc, port = hap, promex_port
            if proc is not hap:
                children.append(proc)
            print(f"[{out['size']}] measuring {name} ...", flush=True)
            out["targets"][name] = measure_target(name, port, proc, hap, args)
            if proc is not hap:
                proc.stop()
            if not hap.alive():
                raise RuntimeError("HAProxy exited during the run; see " + str(workdir / "haproxy.log"))
        if "ours" in out["targets"] and args.floor:
            out["floor"] = measure_floor(out["targets"]["ours"], args, workdir)
    finally:
        for child in reversed(children):
            child.stop()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10x10,1000x10,2000x25", help="comma-separated BxS (default: %(default)s)")
    parser.add_argument("--targets", default=",".join(TARGETS), help="subset of ours,promex,go")
    parser.add_argument("--repeat", type=int, default=15, help="sequential scrapes per series")
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per series (at least 3 scrapes)")
    parser.add_argument("--concurrency", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of concurrent scrapes")
    parser.add_argument("--poll-runs", type=int, default=9, help="in-process poll cycles measured")
    parser.add_argument("--interval", type=int, default=0, help="our poll interval (default: 5x a poll cycle)")
    parser.add_argument("--no-floor", dest="floor", action="store_false",
                        help="skip the minimal-server reference for concurrent transfers")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    args.targets = [t for t in args.targets.split(",") if t]
    if "go" in args.targets and not os.access(GO_EXPORTER, os.X_OK):
        parser.error(f"{GO_EXPORTER} is not installed (apt-get install prometheus-haproxy-exporter)")
    results: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                               "command": command_line("scale", argv), "machine": machine(), "versions": versions(),
                               "sizes": []}
    workdir = Path(tempfile.mkdtemp(prefix="hrxbench"))  # short: UNIX socket paths are limited
    started = time.monotonic()
    try:
        for size in args.sizes.split(","):
            backends, servers = parse_size(size)
            results["sizes"].append(run_size(backends, servers, args, workdir))
            text = report.size_table(results["sizes"][-1])
            print(text, flush=True)
    finally:
        results["machine"]["load_avg_end"] = os.getloadavg()
        results["seconds"] = round(time.monotonic() - started, 1)
        if results["sizes"]:
            md, js = report.write(results, Path(args.out))
            print(f"wrote {md} and {js}")
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
