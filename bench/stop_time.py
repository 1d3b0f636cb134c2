"""How long the exporter takes to exit on SIGTERM/SIGINT while a poll is blocked in a socket read.

    .venv/bin/python -m bench.stop_time --runs 3

A scripted socket accepts ``show info`` and never answers; the exporter runs with
``haproxy.timeout: 60s``, so a stop that waited for the poll would take a minute.  Bounded:
each run gives up after 30 s.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.procs import ROOT
from testkit.fakesocket import FakeSocket, Hang
from testkit.procs import free_port


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.stop_time", description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="stopt") as d, FakeSocket(Path(d) / "h.sock", {"show info": Hang()}) as fake:
        for sig in (signal.SIGTERM, signal.SIGINT):
            for _ in range(args.runs):
                fake.commands.clear()
                proc = subprocess.Popen([sys.executable, "-m", "exporter", "--haproxy.address", fake.path,
                                         "--haproxy.timeout", "60s", "--poll.max-age", "120s",
                                         "--web.listen-address", f"127.0.0.1:{free_port()}"],
                                        stderr=subprocess.DEVNULL, cwd=ROOT)
                deadline = time.monotonic() + 30
                while "show info" not in fake.commands and time.monotonic() < deadline:
                    time.sleep(0.01)
                started = time.monotonic()
                proc.send_signal(sig)
                try:
                    rc = proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    rc = proc.wait(5)
                print(f"{sig.name}: exit status {rc} after {time.monotonic() - started:.3f}s (poll blocked in a read)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
