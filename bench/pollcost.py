"""CPU and wall time of our poll cycle, phase by phase, measured in this process.

The running exporter publishes wall time per phase (``haproxy_exporter_poll_phase_seconds``);
CPU time per phase can only be read from inside the process, so this runs the same functions the
poller runs, in the same order and with the collector paused as the poller pauses it, and reads
``time.process_time`` around each.  A whole ``Poller.poll_once()`` is timed as well, as the
cross-check that the split adds up to what the real loop costs.
"""

from __future__ import annotations

import statistics
import time
from typing import Callable

from exporter.config import Config
from exporter.gcpause import gc_paused
from exporter.metrics import render_bytes
from exporter.model import build_families
from exporter.parse_info import parse_info
from exporter.parse_stat import parse_stat
from exporter.poller import Poller, make_client
from exporter.snapshot import Part, Store

PHASES = ("fetch", "parse", "build", "render", "compress")


def _timed(cpu: dict[str, float], wall: dict[str, float], phase: str, fn: Callable[[], object]) -> object:
    c, w = time.process_time(), time.perf_counter()
    result = fn()
    cpu[phase] = cpu.get(phase, 0.0) + time.process_time() - c
    wall[phase] = wall.get(phase, 0.0) + time.perf_counter() - w
    return result


def one_split(config: Config) -> tuple[dict[str, float], dict[str, float], int, int, int]:
    client = make_client(config)
    cpu: dict[str, float] = {}
    wall: dict[str, float] = {}
    with gc_paused():
        info_text = _timed(cpu, wall, "fetch", lambda: client.run("show info"))
        stat_text = _timed(cpu, wall, "fetch", lambda: client.run("show stat"))
        info = _timed(cpu, wall, "parse", lambda: parse_info(info_text))  # type: ignore[arg-type]
        table = _timed(cpu, wall, "parse", lambda: parse_stat(stat_text))  # type: ignore[arg-type]
        families, _ = _timed(cpu, wall, "build", lambda: build_families(info, table))  # type: ignore
        samples = sum(len(f.samples) for f in families)
        del table
        raw = _timed(cpu, wall, "render", lambda: render_bytes(families))
        del families
        part = _timed(cpu, wall, "compress", lambda: Part.of(raw))  # type: ignore[arg-type]
    return cpu, wall, samples, len(part.text), len(part.gz)  # type: ignore[attr-defined]


def measure(address: str, runs: int) -> dict:
    """Median over ``runs`` of each phase (CPU and wall) and of a whole ``poll_once``."""
    config = Config(haproxy_address=address, timeout=120.0, max_response_bytes=1 << 30)
    splits = [one_split(config) for _ in range(runs)]
    poller = Poller(config, Store(config.max_age))
    whole_cpu, whole_wall, poller_phases = [], [], []
    for _ in range(runs):
        c, w = time.process_time(), time.perf_counter()
        if not poller.poll_once():
            raise RuntimeError("in-process poll_once could not read HAProxy")
        whole_cpu.append(time.process_time() - c)
        whole_wall.append(time.perf_counter() - w)
        poller_phases.append(dict(poller.state.phase_seconds))
    med = statistics.median
    return {
        "runs": runs,
        "cpu": {p: med(s[0].get(p, 0.0) for s in splits) for p in PHASES},
        "wall": {p: med(s[1].get(p, 0.0) for s in splits) for p in PHASES},
        "cpu_total": med(sum(s[0].values()) for s in splits),
        "wall_total": med(sum(s[1].values()) for s in splits),
        "poll_once_cpu": med(whole_cpu),
        "poll_once_wall": med(whole_wall),
        "poll_once_phase_wall": {p: med(ph.get(p, 0.0) for ph in poller_phases) for p in PHASES},
        "samples": splits[-1][2],
        "plain_bytes": splits[-1][3],
        "gzip_bytes": splits[-1][4],
    }
