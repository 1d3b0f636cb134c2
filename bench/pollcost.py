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

from exporter.config import Config, TargetConfig
from exporter.exposition.page import Page
from exporter.exposition.render import Dropped, render_pieces
from exporter.poll.gcpause import gc_paused
from exporter.poll.poller import Poller
from exporter.poll.process import make_client
from exporter.poll.snapshot import Store
from exporter.runtime.address import parse_address
from exporter.sources.info.model import info_families
from exporter.sources.info.parse import parse_info
from exporter.sources.stat.model import StatReuse, stat_families
from exporter.sources.stat.parse import parse_stat
from exporter.sources.values import ModelStats

PHASES = ("fetch", "parse", "build", "render", "compress")


class _Clock:
    """Accumulates CPU and wall seconds per phase."""

    def __init__(self) -> None:
        self.cpu: dict[str, float] = {}
        self.wall: dict[str, float] = {}
        self._phase = ""

    def start(self, phase: str) -> None:
        self._phase, self._c, self._w = phase, time.process_time(), time.perf_counter()

    def stop(self) -> None:
        p = self._phase
        self.cpu[p] = self.cpu.get(p, 0.0) + time.process_time() - self._c
        self.wall[p] = self.wall.get(p, 0.0) + time.perf_counter() - self._w


def snapshot_size(store: Store) -> dict[str, int]:
    """What the last poll published: samples, plain and gzip bytes (the one place the benchmarks
    read the snapshot's page)."""
    published = store.published
    page = published.page if published is not None else None
    if page is None:
        raise RuntimeError("no snapshot published: the poll failed")
    return {"samples": page.samples, "plain_bytes": page.size, "gzip_bytes": len(page.gz)}


def one_split(config: Config, cache: StatReuse) -> tuple[dict[str, float], dict[str, float], int, int, int]:
    """One cycle as Poller._poll_cycle runs it, including where it frees what (freeing costs too)."""
    client = make_client(config.poll_targets()[0])
    clock = _Clock()
    with gc_paused():
        clock.start("fetch")
        info_text, stat_text = client.run("show info"), client.run("show stat")
        clock.stop()
        clock.start("parse")
        info, table = parse_info(info_text), parse_stat(stat_text)
        del stat_text
        clock.stop()
        clock.start("build")
        stats = ModelStats()
        families = info_families(info, stats) + stat_families(table, stats, cache)
        del table
        samples = sum(len(f.values) for f in families)
        clock.stop()
        clock.start("render")
        pieces = render_pieces(families, Dropped())
        del families
        clock.stop()
        clock.start("compress")
        part = Page.of_pieces(pieces)
        del pieces
        clock.stop()
    return clock.cpu, clock.wall, samples, part.size, len(part.gz)


def measure(address: str, runs: int) -> dict:
    """Median over ``runs`` of each phase (CPU and wall) and of a whole ``poll_once``.

    Like the poller, the runs share one label cache: the first (cold) run is reported on its
    own, the medians are over the steady-state runs that follow.
    """
    config = Config(TargetConfig(address=parse_address(address), timeout=120.0, max_response_bytes=1 << 30))
    cache = StatReuse()
    cold = one_split(config, cache)
    splits = [one_split(config, cache) for _ in range(runs)]
    poller = Poller(config, Store(config.poll.max_age))
    whole_cpu, whole_wall, poller_phases = [], [], []
    poller.poll_once()  # the cold poll, not counted
    for _ in range(runs):
        c, w = time.process_time(), time.perf_counter()
        if not poller.poll_once():
            raise RuntimeError("in-process poll_once could not read HAProxy")
        whole_cpu.append(time.process_time() - c)
        whole_wall.append(time.perf_counter() - w)
        poller_phases.append(dict(poller.targets[""].state.phase_seconds))
    med = statistics.median
    return {
        "runs": runs,
        "cold_cpu_total": sum(cold[0].values()),
        "cold_cpu": cold[0],
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
