"""``show proc`` as ``haproxy_master_*`` families, and which workers count as current.

HAProxy 3.1+ lists the still-serving worker under ``# old workers`` after a reload whose new
config failed (the master flags every worker as leaving before it tries the new one): with no
current worker listed, the old worker that has seen the fewest reloads is the one serving new
connections, and is treated as current.
"""

from __future__ import annotations

from typing import Iterable

from exporter.exposition.families import GLOBAL, NO_LABELS, Family, LabelSet
from exporter.sources.proc.parse import Proc, ProcList
from exporter.sources.values import COUNTER, GAUGE


def roles(listing: ProcList) -> tuple[list[Proc], list[Proc]]:
    """(current workers, old workers still draining)."""
    if listing.current or not listing.old:
        return list(listing.current), list(listing.old)
    newest = min(listing.old, key=lambda p: (p.reloads, p.uptime_seconds or 0))
    return [newest], [p for p in listing.old if p is not newest]


def _master(name: str, kind: str, help: str, samples: Iterable[tuple[LabelSet, str]] = ()) -> Family:
    """A family of the master (promex's scope: global, the process-wide figures)."""
    return Family(name, kind, help, samples, scope=GLOBAL)


def _worker(pid: int) -> LabelSet:
    return LabelSet((("worker", str(pid)),))


def master_families(listing: ProcList) -> list[Family]:
    master = listing.master
    current, old = roles(listing)
    families = [
        _master("haproxy_master_build_info", GAUGE, "The master process's HAProxy version (show proc)",
               [(LabelSet((("version", master.version),)), "1")]),
        _master("haproxy_master_reloads_total", COUNTER,
               "Reloads since the master started (show proc <reloads> of the master)", [(NO_LABELS, str(master.reloads))]),
        _master("haproxy_master_current_workers", GAUGE, "Workers serving new connections (show proc # workers)",
               [(NO_LABELS, str(len(current)))]),
        _master("haproxy_master_old_workers", GAUGE,
               "Workers replaced by a reload that still serve their last connections (show proc # old workers)",
               [(NO_LABELS, str(len(old)))]),
    ]
    if master.failed is not None:
        # HAProxy resets this to 0 at the next successful reload: a level, not a counter.
        families.append(_master("haproxy_master_failed_reloads", GAUGE,
                               "Failed reloads since the last successful one (show proc [failed: N]); 0 once a "
                               "reload succeeds", [(NO_LABELS, str(master.failed))]))
    if master.uptime_seconds is not None:
        families.append(_master("haproxy_master_uptime_seconds", GAUGE, "Seconds since the master started (show proc)",
                               [(NO_LABELS, str(master.uptime_seconds))]))
    info = _master("haproxy_master_worker_info", GAUGE,
                  "One series per worker: role current or old, and its version (show proc); value 1")
    uptime = _master("haproxy_master_worker_uptime_seconds", GAUGE, "Seconds since the worker started (show proc)")
    reloads = _master("haproxy_master_worker_reloads", GAUGE,
                     "Reloads since the worker started: 0 for the current worker, 1 or more for old ones (show proc)")
    for role, procs in (("current", current), ("old", old)):
        for proc in procs:
            labels = _worker(proc.pid)
            info.add(LabelSet((("worker", str(proc.pid)), ("role", role), ("version", proc.version))), "1")
            if proc.uptime_seconds is not None:
                uptime.add(labels, str(proc.uptime_seconds))
            reloads.add(labels, str(proc.reloads))
    return families + [info, uptime, reloads]
