"""What a benchmark result was measured with: the machine and the versions of everything in it."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

from bench.procs import ROOT
from testkit.procs import haproxy_binary

GO_EXPORTER = "/usr/bin/prometheus-haproxy-exporter"


def _installed(package: str) -> bool:
    from importlib.metadata import PackageNotFoundError, version
    try:
        version(package)
    except PackageNotFoundError:
        return False
    return True


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown")
    mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    return {"nproc": os.cpu_count(), "cpu": cpu, "ram_gib": round(mem_kib / 1024 / 1024, 1),
            "load_avg": os.getloadavg()}


def versions() -> dict:
    def first_line(argv: list[str]) -> str:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            return (done.stdout or done.stderr).splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "unavailable"
    from importlib.metadata import version

    from exporter import __version__
    commit = first_line(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    return {
        "exporter": f"{__version__} (git {commit})",
        "python": platform.python_version(),
        "prometheus_client": version("prometheus_client"),
        "isal": version("isal") if _installed("isal") else "not installed (gzip by zlib)",
        "haproxy": first_line([haproxy_binary() or "haproxy", "-v"]),
        "go_exporter": first_line([GO_EXPORTER, "--version"]),
    }
