"""Child processes of the benchmark: start, wait until ready, read memory and CPU, stop.

Every wait is bounded and every child is stopped by the caller's ``finally``, so a run always
ends by itself.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable, Sequence

TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports (all bound at once, so none is given twice)."""
    socks = [socket.socket() for _ in range(count)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def command(sock: str, text: str, timeout: float = 60.0) -> str:
    """One Runtime API command (or several joined by ';') on a UNIX socket, the whole answer."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(timeout)
        s.connect(sock)
        s.sendall(text.encode() + b"\n")
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := s.recv(1 << 20):
            chunks.append(chunk)
    return b"".join(chunks).decode()


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, step: float = 0.1) -> float:
    """Seconds it took; raises RuntimeError after ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if predicate():
                return time.monotonic() - started
        except OSError:
            pass
        time.sleep(step)
    raise RuntimeError(f"{what} not ready after {timeout:g}s")


class Child:
    """One child process with its output in a log file."""

    def __init__(self, name: str, argv: Sequence[str], log: Path, cwd: Path | None = None,
                 preexec: Callable[[], None] | None = None) -> None:
        self.name = name
        self.argv = list(argv)
        self.log = log
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT, cwd=cwd,
                                         preexec_fn=preexec)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def status_kib(self, field: str) -> int:
        """A ``/proc/<pid>/status`` memory field (VmRSS, VmHWM) in KiB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise KeyError(field)

    def cpu_seconds(self) -> float:
        """User + system CPU of the whole process (all threads) so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.alive():
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def write_results(results: dict, outdir: str, name: str) -> Path:
    """``<outdir>/<name>-<time>.json``, the machine's load at the end included; returns the path."""
    import json

    results.setdefault("machine", {})["load_avg_end"] = os.getloadavg()
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=2))
    print("wrote", path)
    return path
