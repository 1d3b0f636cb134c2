"""Child processes of the benchmarks: HAProxy and the exporters, started, read (memory, CPU) and
stopped; and where results go.

Ports, bounded waits and stopping a process are testkit's, shared with the tests.  Every wait is
bounded and every child is stopped by the caller's ``finally``, so a run always ends by itself.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from testkit.procs import haproxy_binary, require, stop_process, wait_for

TICKS = os.sysconf("SC_CLK_TCK")
ROOT = Path(__file__).resolve().parents[1]  # the checkout: `python -m bench.<script>` runs from here
RESULTS = ROOT / "bench" / "results"


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, step: float = 0.1) -> float:
    """Seconds until ``predicate`` held; an OSError counts as "not yet" (a socket that is not open
    yet).  After ``timeout``: TimeoutError naming ``what``."""
    return wait_for(predicate, timeout, f"{what} not ready after {timeout:g}s", step, retry=(OSError,))


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

    def status(self, field: str) -> int:
        """A number of ``/proc/<pid>/status``: VmRSS and VmHWM (in KiB), Threads."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise KeyError(field)

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def cpu_seconds(self) -> float:
        """User + system CPU of the whole process (all threads) so far; not its child processes'
        (see :meth:`tree_cpu`)."""
        return cpu_of(Path(f"/proc/{self.pid}/stat").read_text())

    def tree_cpu(self) -> TreeCpu:
        return tree_cpu(self.pid)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        stop_process(self.proc, sig)


def _ticks(stat: str) -> tuple[int, int]:
    """utime + stime, and cutime + cstime, of a ``/proc/<pid>/stat`` text, in clock ticks."""
    fields = stat.rsplit(")", 1)[1].split()  # after the command's name, which may hold anything
    return int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])


def cpu_of(stat: str, reaped: bool = False) -> float:
    """Seconds of CPU of a ``/proc/<pid>/stat`` text: utime + stime (all its threads, those that
    ended too); with ``reaped``, + cutime + cstime: the child processes it waited for once they
    ended (the kernel adds their CPU, theirs included, to their parent's when it reaps them)."""
    own, waited = _ticks(stat)
    return (own + waited if reaped else own) / TICKS


def descendants(pid: int) -> dict[int, float]:
    """The live child processes of ``pid``, theirs and so on (``/proc/<pid>/task/*/children``),
    each with its CPU: utime + stime + what it reaped (:func:`cpu_of`).  A running child's CPU is
    in none of its parent's figures: only once it ended and was waited for (cutime, cstime).  One
    that ends during the walk is left out."""
    found: dict[int, float] = {}
    todo = [pid]
    while todo:
        parent = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except (FileNotFoundError, ProcessLookupError):
            continue
        for tid in tasks:
            try:
                pids = Path(f"/proc/{parent}/task/{tid}/children").read_text().split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            for child in map(int, pids):
                try:
                    found[child] = cpu_of(Path(f"/proc/{child}/stat").read_text(), reaped=True)
                except (FileNotFoundError, ProcessLookupError):
                    continue
                todo.append(child)
    return found


@dataclass(frozen=True)
class TreeCpu:
    """A process's CPU and its descendants', at one moment (seconds): ``own`` its utime + stime,
    ``reaped`` the children it waited for once they ended (cutime + cstime: a log reader that died
    and was restarted), ``children`` each live descendant's (:func:`descendants`)."""

    own: float
    reaped: float
    children: dict[int, float] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return self.own + self.reaped + sum(self.children.values())

    @property
    def others(self) -> float:
        """All but the process's own: its child processes', live and ended."""
        return self.reaped + sum(self.children.values())


def tree_cpu(pid: int) -> TreeCpu:
    """``pid``'s :class:`TreeCpu` now."""
    own, waited = _ticks(Path(f"/proc/{pid}/stat").read_text())
    return TreeCpu(own / TICKS, waited / TICKS, descendants(pid))


def start_haproxy(workdir: Path, config: str, name: str = "haproxy", args: Sequence[str] = (),
                  binary: str | None = None, check: bool = True) -> Child:
    """HAProxy in the foreground on ``config`` (written to ``<workdir>/<name>.cfg``, its output in
    ``<name>.log``), checked first (``-c``) so a bad generated config is one clear error rather
    than a wait that times out; ``check=False`` where the check would take as long as the start
    (ten thousand certificates).  The caller waits for what it needs and stops it."""
    haproxy = binary or require(haproxy_binary(), "haproxy")
    cfg = workdir / f"{name}.cfg"
    cfg.write_text(config)
    if check:
        done = subprocess.run([haproxy, "-c", "-q", "-f", str(cfg)], capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            raise RuntimeError(f"{cfg}: haproxy -c: {done.stderr.strip()[-500:]}")
    return Child(name, [haproxy, *args, "-db", "-f", str(cfg)], workdir / f"{name}.log", cwd=workdir)


def command_line(script: str, argv: Sequence[str] | None) -> str:
    """How this run was started, for its results: ``.venv/bin/python -m bench.<script> ARGS``."""
    return " ".join([".venv/bin/python", "-m", f"bench.{script}", *(sys.argv[1:] if argv is None else argv)])


def write_results(results: dict[str, Any], outdir: str | Path, name: str) -> Path:
    """``<outdir>/<name>-<time>.json``, the machine's load at the end included; returns the path."""
    results.setdefault("machine", {})["load_avg_end"] = os.getloadavg()
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=2))
    print("wrote", path)
    return path
