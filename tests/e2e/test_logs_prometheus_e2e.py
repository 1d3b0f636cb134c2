"""End to end for the log histograms: real HAProxy → the exporter CLI streaming its log ring →
Debian's real Prometheus scraping every second → ``histogram_quantile`` as docs/logs.md writes it.

The oracle is the client's own clock: it times every request (most on a path the origin answers
after ~5 ms, one in twenty on a path it answers after ~200 ms) and takes its 99th percentile
itself; Prometheus's p99 over the exported buckets must land in the bucket that holds it, and its
request rate must be the rate the client sent (through ``_count``).  Run on every HAProxy binary.
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import time
import urllib.parse
import urllib.request
from bisect import bisect_left
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml
from support import HAProxy, free_ports, http_ok, require, start_logged, stop_process, wait_for

from testkit.servers import DelayedOrigin

pytestmark = pytest.mark.e2e

CFG = """
global
    stats socket {admin} mode 600 level admin
ring logs
    format raw
    maxlen 2048
    size 1048576
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe_web
    option httplog
    log ring@logs local0
    bind 127.0.0.1:{p0}
    default_backend be_web
backend be_web
    server w1 127.0.0.1:{origin}
"""
BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0]
P99 = ('histogram_quantile(0.99, sum by (proxy, le) '
       '(rate(haproxy_backend_log_total_time_seconds_bucket{proxy="be_web"}[1m])))')


class Prometheus:
    def __init__(self, url: str) -> None:
        self.url = url

    def query(self, expr: str) -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}",
                                    timeout=10) as resp:
            body = json.load(resp)
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def scalar(self, expr: str) -> float | None:
        found = self.query(expr)
        return float(found[0]["value"][1]) if found else None


@pytest.fixture
def stack(haproxy_factory, tmp_path: Path) -> Iterator[tuple[HAProxy, Prometheus]]:
    prometheus = require(shutil.which("prometheus"), "prometheus (Debian package prometheus)")
    origin = DelayedOrigin(fast=0.005, slow=0.2)
    hap: HAProxy = haproxy_factory(CFG.replace("{origin}", str(origin.port)), nports=1)
    exporter_port, prometheus_port = free_ports(2)
    (tmp_path / "exporter.yaml").write_text(yaml.safe_dump({"logs": {"ring": "logs", "format": "httplog"}}))
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s"},
        "scrape_configs": [{"job_name": "haproxy", "scrape_timeout": "1s",
                            "static_configs": [{"targets": [f"127.0.0.1:{exporter_port}"]}]}],
    }))
    procs = []
    try:
        procs.append(start_logged([sys.executable, "-m", "exporter", "--config.file", str(tmp_path / "exporter.yaml"),
                            "--haproxy.address", hap.admin, "--web.listen-address", f"127.0.0.1:{exporter_port}",
                            "--poll.interval", "500ms"], tmp_path / "exporter.log"))
        procs.append(start_logged([prometheus, f"--config.file={tmp_path / 'prometheus.yml'}",
                            f"--storage.tsdb.path={tmp_path / 'data'}",
                            f"--web.listen-address=127.0.0.1:{prometheus_port}", "--log.level=warn"],
                           tmp_path / "prometheus.log"))
        prom = Prometheus(f"http://127.0.0.1:{prometheus_port}")
        wait_for(lambda: http_ok(f"{prom.url}/-/ready"), 30, "prometheus not ready", step=0.2)
        wait_for(lambda: prom.scalar("haproxy_exporter_log_stream_up") == 1, 30,
                 f"the exporter's log stream never opened: {(tmp_path / 'exporter.log').read_text()[-2000:]}",
                 step=0.25)
        yield hap, prom
    finally:
        for proc in reversed(procs):
            stop_process(proc)
        origin.close()


def timed_get(port: int, path: str) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
        resp.read()
    return time.perf_counter() - started


def test_prometheus_p99_lands_in_the_bucket_of_the_clients_p99(stack: tuple[HAProxy, Prometheus]) -> None:
    hap, prom = stack
    timed_get(hap.ports[0], "/fast/warmup")  # the series exist (at 1) before the measured window
    wait_for(lambda: prom.scalar('haproxy_backend_log_total_time_seconds_count{proxy="be_web"}') == 1, 15,
             "Prometheus did not scrape the first request", step=0.25)
    times = [timed_get(hap.ports[0], "/slow/x" if n % 20 == 19 else f"/fast/{n}") for n in range(100)]
    client_p99 = statistics.quantiles(times, n=100, method="inclusive")[98]
    wait_for(lambda: prom.scalar('haproxy_backend_log_total_time_seconds_count{proxy="be_web"}') == 101, 15,
             "Prometheus did not scrape every request", step=0.25)
    time.sleep(2)  # two more scrapes: the rate's last points hold every request
    p99 = prom.scalar(P99)
    assert p99 is not None
    at = bisect_left(BUCKETS, client_p99)  # the client's p99 is in (BUCKETS[at-1], BUCKETS[at]]
    assert BUCKETS[at - 1] < p99 <= BUCKETS[at], (client_p99, p99)
    # The mean the exported histogram gives is the client's, within a few ms
    mean = prom.scalar('increase(haproxy_backend_log_total_time_seconds_sum{proxy="be_web"}[1m]) / '
                       'increase(haproxy_backend_log_total_time_seconds_count{proxy="be_web"}[1m])')
    assert mean is not None and abs(mean - statistics.fmean(times)) < 0.010, (mean, statistics.fmean(times))
