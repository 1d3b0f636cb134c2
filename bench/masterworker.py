"""Master-worker at scale: one poll through the master CLI with an old worker draining a download,
against one poll of the current worker's own stats socket, on the same real HAProxy.

HAProxy runs ``-W -S`` with B backends x S servers (bench/genconfig.py) plus a frontend whose
backend is a slow origin; a client holds a download through it while the master reloads, so the
old worker keeps all of its B x S rows.  Each poll is the real ``Poller.poll_once`` in this
process; reported: median CPU and wall per poll, samples, plain and gzip bytes of the snapshot.

Usage: ``.venv/bin/python bench/masterworker.py [--size 1000x10] [--polls 5]``
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.environment import machine, versions  # noqa: E402
from bench.genconfig import haproxy_config  # noqa: E402
from bench.procs import Child, command, free_port, wait_until, write_results  # noqa: E402
from exporter.config import build_config  # noqa: E402
from exporter.poll.poller import Poller  # noqa: E402
from exporter.poll.snapshot import Store  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def slow_origin(stop: threading.Event) -> int:
    """An origin that sends a 1 MB body over about 100 s (the old worker's long download)."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    srv.settimeout(0.5)

    def respond(conn: socket.socket) -> None:
        with conn:
            conn.recv(4096)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n")
            for _ in range(1000):
                if stop.wait(0.1):
                    return
                conn.sendall(b"x" * 1000)

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            threading.Thread(target=respond, args=(conn,), daemon=True).start()
        srv.close()

    threading.Thread(target=serve, daemon=True).start()
    return srv.getsockname()[1]




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
    data = store.published.data  # type: ignore[union-attr]
    return {"cpu_seconds": statistics.median(cpu), "wall_seconds": statistics.median(wall),
            "samples": data.samples, "plain_bytes": data.part.size, "gzip_bytes": len(data.part.gz)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="1000x10")
    parser.add_argument("--polls", type=int, default=5)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = parser.parse_args(argv)
    backends, servers = (int(x) for x in args.size.split("x"))
    workdir = Path(tempfile.mkdtemp(prefix="hrxmwb"))
    stop = threading.Event()
    origin, fe = slow_origin(stop), free_port()
    admin, master = str(workdir / "admin.sock"), str(workdir / "master.sock")
    cfg = haproxy_config(backends, servers, admin, free_port(), free_port())
    cfg += f"\nfrontend fe_dl\n    bind 127.0.0.1:{fe}\n    default_backend be_dl\nbackend be_dl\n" \
           f"    server dl1 127.0.0.1:{origin}\n"
    (workdir / "haproxy.cfg").write_text(cfg)
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    hap = Child("haproxy", [haproxy, "-W", "-S", master, "-db", "-f", str(workdir / "haproxy.cfg")],
                workdir / "haproxy.log")
    results: dict = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                     "command": " ".join([".venv/bin/python bench/masterworker.py", *(argv or sys.argv[1:])]),
                     "machine": machine(), "versions": versions(), "size": args.size}
    try:
        wait_until(lambda: "Loading success" in (workdir / "haproxy.log").read_text() and os.path.exists(admin),
                   120, "HAProxy")
        wait_until(lambda: "# workers" in command(master, "show proc"), 30, "the master CLI")
        results["worker_socket"] = polls(admin, args.polls)
        print("worker socket:", results["worker_socket"], flush=True)
        def fetch() -> None:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{fe}/", timeout=300).read()
            except (OSError, http.client.HTTPException):
                pass  # cut when the run ends: the download only has to outlive the polls

        download = threading.Thread(target=fetch, daemon=True)
        download.start()
        time.sleep(1)
        os.kill(hap.pid, signal.SIGUSR2)
        wait_until(lambda: "# old workers\n" in command(master, "show proc")
                   and command(master, "show proc").split("# old workers\n")[1].strip()[:1].isdigit(), 120,
                   "an old worker")
        wait_until(lambda: os.path.exists(admin) and command(admin, "show info").startswith("Name"), 120,
                   "the new worker")
        results["master_one_old_worker"] = polls(master, args.polls)
        print("master, one old worker:", results["master_one_old_worker"], flush=True)
        results["old_workers_during_run"] = command(master, "show proc").split("# old workers\n")[1].count("worker")
    finally:
        stop.set()
        hap.stop()
        write_results(results, args.out, "masterworker")
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
