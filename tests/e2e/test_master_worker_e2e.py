"""End to end through a reload: a long download, a real master-worker HAProxy, the exporter CLI on
its master CLI, and a real Prometheus computing ``rate()`` as a dashboard would.

The claim under test (docs/master-worker.md): with the old worker's series under a ``worker``
label, ``sum by (proxy) (rate(haproxy_frontend_bytes_out_total[1m]))`` over a minute that holds
the reload stays within 10 % of the same query for the same traffic without a reload, and a plain
``sum`` of a state set is not doubled while two workers run.

The oracle is a second, plain HAProxy (no master, never reloaded) carrying an identical download
started at the same moment: HAProxy adds a transfer's bytes to ``bytes_out`` only in steps (when
it ends, or every 5 s with ``option contstats``, which both configs set as the docs advise), so
both see the same steps and only the reload differs.  Each is also checked against what the
origins really sent, within 20 % (the steps alone can make up to 5 s of 60).

What a reload can cost: the step the old worker flushes when the reload soft-stops it falls between
the last poll that saw it as current and the first that sees it as old, so it is in neither series'
increments: at most 5 s of each long transfer (8 % of a minute).  The reload here comes 2.5 s after
a step, the average case.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import haproxies
import pytest
import yaml
from support import HAProxy, SlowBackend, download, free_ports, http_ok, require, start_logged, stop_process, wait_for

from e2e.test_prometheus_e2e import Stack

pytestmark = pytest.mark.e2e

CFG = """
global
    stats socket {admin} mode 600 level admin
defaults
    mode http
    timeout connect 1s
    timeout client 90s
    timeout server 90s
    option contstats
frontend fe_dl
    bind 127.0.0.1:{p0}
    default_backend be_dl
backend be_dl
    server dl1 127.0.0.1:ORIGIN
"""
WINDOW = 60  # seconds of rate(): the query dashboards use
STEP = 5.0  # HAProxy's contstats period (stream.c: analyse_exp = now + 5000 ms)
QUERY = 'sum by (proxy) (rate(haproxy_frontend_bytes_out_total{{proxy="fe_dl", job="{job}"}}[{window}s]))'


def _versions() -> list[haproxies.Binary]:
    """The oldest and the newest HAProxy the machine runs: their reloads work differently (3.1+
    re-executes the master before forking the new worker).  Both run side by side in one minute."""
    found = [b for b in haproxies.binaries() if not b.missing]
    return found[:1] + found[-1:] if len(found) > 1 else found


def _origin() -> SlowBackend:
    return SlowBackend(chunk=20_000, chunks=3600, delay=0.025)  # about 800 kB/s for 90 s


def test_rate_through_a_reload_counts_the_old_workers_download() -> None:
    prometheus = require(shutil.which("prometheus"), "prometheus (Debian package prometheus)")
    versions = _versions()
    if not versions:
        pytest.skip("no HAProxy runs here: " + "; ".join(b.missing for b in haproxies.binaries()))
    base = Path(tempfile.mkdtemp(prefix="hrxmw"))
    # Per version, one HAProxy reloaded through its master and one plain (the oracle), all at once.
    jobs = {f"{kind}-{b.name}": b for b in versions for kind in ("reloaded", "plain")}
    origins = {job: _origin() for job in jobs}
    haps: dict[str, HAProxy] = {}
    for job, origin in origins.items():
        (base / job).mkdir()
        haps[job] = HAProxy(base / job, CFG.replace("ORIGIN", str(origin.port)), nports=1, binary=jobs[job].path)
    ports = dict(zip((*jobs, "prometheus"), free_ports(len(jobs) + 1)))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for job, hap in haps.items():
            hap.start_master() if job.startswith("reloaded") else hap.start()
            procs.append(start_logged(
                [sys.executable, "-m", "exporter", "--haproxy.address",
                 hap.master if job.startswith("reloaded") else hap.admin,
                 "--web.listen-address", f"127.0.0.1:{ports[job]}", "--poll.interval", "500ms"],
                base / f"exporter-{job}.log"))
        (base / "prometheus.yml").write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [{"job_name": job, "scrape_timeout": "1s",
                                "static_configs": [{"targets": [f"127.0.0.1:{ports[job]}"]}]}
                               for job in jobs],
        }))
        procs.append(start_logged(
            [prometheus, f"--config.file={base / 'prometheus.yml'}", f"--storage.tsdb.path={base / 'data'}",
             f"--web.listen-address=127.0.0.1:{ports['prometheus']}", "--log.level=warn"], base / "prometheus.log"))
        stack = Stack(next(iter(haps.values())), "", f"http://127.0.0.1:{ports['prometheus']}", "")
        wait_for(lambda: http_ok(f"{stack.prometheus_url}/-/ready"), 30, "prometheus not ready", step=0.2)
        wait_for(lambda: len(stack.query("count_over_time(haproxy_up[10s]) >= 3 and haproxy_up == 1")) == len(jobs),
                 30, "prometheus did not collect 3 scrapes of every HAProxy", step=0.25)

        offset = time.time() - time.monotonic()  # origin logs (monotonic) → Prometheus time (wall)
        started = time.monotonic()
        clients = [download(hap.ports[0]) for hap in haps.values()]
        wait_for(lambda: all(o.sent for o in origins.values()), 5, "the downloads did not start")
        time.sleep(max(0.0, started + 6 * STEP + STEP / 2 - time.monotonic()))
        reloaded = time.monotonic()
        old: dict[str, str] = {}
        for b in versions:
            hap = haps[f"reloaded-{b.name}"]
            [old[b.name]] = hap.workers()[0]
            hap.reload()
            assert old[b.name] in hap.workers()[1], f"HAProxy {b.version}: the old worker must still serve the download"
        end = reloaded + WINDOW / 2
        time.sleep(max(0.0, end + 3 - time.monotonic()))  # past the window's end, plus a scrape and an evaluation
        at = f"{end + offset:.3f}"

        def at_end(expr: str) -> list:
            return stack.api("query", query=expr, time=at)["result"]

        rates = {}
        for job in jobs:
            [result] = at_end(QUERY.format(job=job, window=WINDOW))
            rates[job] = float(result["value"][1])
            real = origins[job].bytes_between(end - WINDOW, end) / WINDOW
            assert 0.8 <= rates[job] / real <= 1.2, f"{job}: rate {rates[job]:.0f} B/s, origin sent {real:.0f} B/s"
        for b in versions:
            ratio = rates[f"reloaded-{b.name}"] / rates[f"plain-{b.name}"]
            print(f"HAProxy {b.version}: rate through the reload {ratio:.3f} of the plain one; {rates}")
            seen = stack.api("query", query=f'haproxy_frontend_bytes_out_total{{proxy="fe_dl"}}[{WINDOW}s]', time=at)
            assert 0.9 <= ratio <= 1.1, f"HAProxy {b.version}: through the reload {rates}; {seen}"
            # Two workers run, and the state set is not doubled: the old worker has none.
            job = f"reloaded-{b.name}"
            assert at_end(f'count(haproxy_frontend_bytes_out_total{{proxy="fe_dl", job="{job}", worker="{old[b.name]}"}})')
            [up] = at_end(f'sum(haproxy_frontend_status{{proxy="fe_dl", state="UP", job="{job}"}})')
            assert float(up["value"][1]) == 1
        assert all(c.is_alive() for c in clients), "the downloads must still run at the end of the window"
    finally:
        for proc in reversed(procs):
            stop_process(proc)
        for hap in haps.values():
            hap.stop()
        for origin in origins.values():
            origin.close()
        shutil.rmtree(base, ignore_errors=True)
