"""The real parts a run starts: binaries it needs, free loopback ports, child processes, bounded waits.

Every wait is bounded and every stop ends in SIGKILL, so whatever uses these ends by itself.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from typing import Callable


def require(binary: str | None, what: str) -> str:
    """A real part the caller cannot run without.  Missing, it ends a benchmark with a line naming
    it; under pytest it is a skip with the reason on a developer's machine and a failure in CI,
    where .ci/run installs every part.  pytest is looked up, never imported: a benchmark runs
    without it."""
    if binary:
        return binary
    pytest = sys.modules.get("pytest")
    if pytest is None:
        raise SystemExit(f"{what} is not installed")
    if os.environ.get("CI"):
        raise pytest.fail.Exception(f"{what} is not installed; .ci/run should have installed it")
    raise pytest.skip.Exception(f"{what} is not installed")


def haproxy_binary() -> str | None:
    """Debian's ``haproxy``, wherever this machine has it."""
    return shutil.which("haproxy") or next(
        (p for p in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy") if os.access(p, os.X_OK)), None
    )


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports (all bound at once, so none is given twice)."""
    socks = [socket.socket() for _ in range(count)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def wait_for(predicate: Callable[[], bool], timeout: float, message: str, step: float = 0.05,
             retry: tuple[type[Exception], ...] = ()) -> float:
    """Poll ``predicate`` every ``step`` until it is true: the seconds that took.  After ``timeout``
    seconds, TimeoutError(message).  An exception of a ``retry`` type counts as "not yet" (a
    socket that is not open yet); any other one is the caller's."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if predicate():
                return time.monotonic() - started
        except retry:
            pass
        time.sleep(step)
    raise TimeoutError(message)


def stop_process(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    """``sig`` (SIGTERM), then SIGKILL if it has not exited within 10 s: every wait is bounded."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
