"""Master-worker at scale: one poll through the master CLI with an old worker draining a download,
against one poll of the current worker's own stats socket, on the same real HAProxy.

HAProxy runs ``-W -S`` with B backends x S servers (bench/genconfig.py) plus a frontend whose
backend is a slow origin; a client holds a download through it while the master reloads, so the
old worker keeps all of its B x S rows.  Each poll is the real ``Poller.poll_once`` in this
process; reported: median CPU and wall per poll, samples, plain and gzip bytes of the snapshot.

Usage: ``.venv/bin/python -m bench.masterworker [--size 1000x10] [--polls 5]``
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.environment import machine, versions
from bench.genconfig import haproxy_config
from bench.pollcost import snapshot_size
from bench.procs import RESULTS, command_line, start_haproxy, wait_until, write_results
from exporter.config import build_config
from exporter.poll.poller import Poller
from exporter.poll.snapshot import Store
from testkit.procs import free_port
from testkit.runtime import raw_command
from testkit.servers import SlowBackend


def fetch(url: str) -> None:
    """A long download through HAProxy, held by the worker that a reload makes old."""
    try:
        urllib.request.urlopen(url, timeout=300).read()
    except (OSError, http.client.HTTPException):
        pass  # cut when the run ends: the download only has to outlive the polls


def polls(address: str, count: int) -> dict:
    config = build_config({"haproxy": {"address": address, "timeout": "120s"}})
    store = Store(config.poll.max_age)
    poller = Poller(config, store)
    if not poller.poll_once():  # the first (cold) poll fills the label caches; not counted
        raise RuntimeError(f"poll of {address} failed")
    cpu, wall = [], []
    for _ in range(count):
        c, w = time.process_time(), time.perf_counter()
        if not poller.poll_once():
            raise RuntimeError(f"poll of {address} failed")
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    return {"cpu_seconds": statistics.median(cpu), "wall_seconds": statistics.median(wall), **snapshot_size(store)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.masterworker", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="1000x10")
    parser.add_argument("--polls", type=int, default=5)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    backends, servers = (int(x) for x in args.size.split("x"))
    workdir = Path(tempfile.mkdtemp(prefix="hrxmwb"))
    origin = SlowBackend(chunk=1000, chunks=1000, delay=0.1)  # 1 MB over about 100 s: the old worker's download
    fe = free_port()
    admin, master = str(workdir / "admin.sock"), str(workdir / "master.sock")
    cfg = haproxy_config(backends, servers, admin, free_port(), free_port())
    cfg += f"\nfrontend fe_dl\n    bind 127.0.0.1:{fe}\n    default_backend be_dl\nbackend be_dl\n" \
           f"    server dl1 127.0.0.1:{origin.port}\n"
    hap = start_haproxy(workdir, cfg, args=("-W", "-S", master))
    results: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                               "command": command_line("masterworker", argv), "machine": machine(),
                               "versions": versions(), "size": args.size}

    def show_proc() -> str:
        return raw_command(master, "show proc", 60)

    try:
        wait_until(lambda: "Loading success" in hap.log.read_text() and os.path.exists(admin), 120, "HAProxy")
        wait_until(lambda: "# workers" in show_proc(), 30, "the master CLI")
        results["worker_socket"] = polls(admin, args.polls)
        print("worker socket:", results["worker_socket"], flush=True)
        threading.Thread(target=fetch, args=(f"http://127.0.0.1:{fe}/",), daemon=True).start()
        time.sleep(1)
        os.kill(hap.pid, signal.SIGUSR2)
        wait_until(lambda: "# old workers\n" in show_proc()
                   and show_proc().split("# old workers\n")[1].strip()[:1].isdigit(), 120, "an old worker")
        wait_until(lambda: os.path.exists(admin) and raw_command(admin, "show info", 60).startswith("Name"), 120,
                   "the new worker")
        results["master_one_old_worker"] = polls(master, args.polls)
        print("master, one old worker:", results["master_one_old_worker"], flush=True)
        results["old_workers_during_run"] = show_proc().split("# old workers\n")[1].count("worker")
    finally:
        origin.close()
        hap.stop()
        write_results(results, args.out, "masterworker")
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
