"""End to end for the protobuf form and native histograms: real HAProxy → the exporter CLI with
``logs.native_histograms`` → Debian's Prometheus 2.42 with ``--enable-feature=native-histograms``
scraping every second (through a forwarding proxy that notes the Content-Type it got back) →
``histogram_quantile`` over the native histogram.

The oracle is the log e2e test's: the client times every request (most on a path the origin
answers after ~5 ms, one in twenty after ~200 ms) and takes its 99th percentile itself;
Prometheus's p99 over the native buckets must land in the native bucket (schema 3, buckets
2^(1/8) apart) that holds it, and the count Prometheus stores is the number of requests.  Every
scrape was answered in protobuf; Prometheus 2.42 keeps a family with native buckets as a native
histogram only (no ``_bucket`` series: docs/logs.md says so).  Run on one HAProxy binary: what is
tested is the exporter's exposition and Prometheus, the same for every HAProxy version.
"""

from __future__ import annotations

import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest
import yaml
from support import HAProxy, free_ports, http_ok, require, start_logged, stop_process, wait_for

from e2e.test_logs_prometheus_e2e import CFG, Prometheus, timed_get
from e2e.test_openmetrics_prometheus_e2e import forwarder
from exporter.exposition.native import index
from exporter.web.negotiate import PROTOBUF_TYPE
from testkit.servers import DelayedOrigin

pytestmark = [pytest.mark.e2e, pytest.mark.one_haproxy]  # the newest HAProxy: the forms are the exporter's

SCHEMA = 3
COUNT = 'histogram_count(haproxy_backend_log_total_time_seconds{proxy="be_web"})'
P99 = 'histogram_quantile(0.99, rate(haproxy_backend_log_total_time_seconds{proxy="be_web"}[1m]))'


@pytest.fixture
def stack(haproxy_factory, tmp_path: Path) -> Iterator[tuple[HAProxy, Prometheus, list[tuple[str, str]]]]:
    prometheus = require(shutil.which("prometheus"), "prometheus (Debian package prometheus)")
    origin = DelayedOrigin(fast=0.005, slow=0.2)
    hap: HAProxy = haproxy_factory(CFG.replace("{origin}", str(origin.port)), nports=1)
    exporter_port, prometheus_port = free_ports(2)
    (tmp_path / "exporter.yaml").write_text(yaml.safe_dump({"logs": {
        "ring": "logs", "format": "httplog", "native_histograms": {"schema": SCHEMA, "max_buckets": 160}}}))
    seen: list[tuple[str, str]] = []
    proxy = forwarder(f"http://127.0.0.1:{exporter_port}", True, seen)
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s"},
        "scrape_configs": [{"job_name": "haproxy", "scrape_timeout": "1s",
                            "static_configs": [{"targets": [f"127.0.0.1:{proxy.server_address[1]}"]}]}],
    }))
    procs = []
    try:
        procs.append(start_logged([sys.executable, "-m", "exporter", "--config.file", str(tmp_path / "exporter.yaml"),
                                   "--haproxy.address", hap.admin, "--web.listen-address",
                                   f"127.0.0.1:{exporter_port}", "--poll.interval", "500ms"], tmp_path / "exporter.log"))
        procs.append(start_logged([prometheus, f"--config.file={tmp_path / 'prometheus.yml'}",
                                   f"--storage.tsdb.path={tmp_path / 'data'}", "--enable-feature=native-histograms",
                                   f"--web.listen-address=127.0.0.1:{prometheus_port}", "--log.level=warn"],
                                  tmp_path / "prometheus.log"))
        prom = Prometheus(f"http://127.0.0.1:{prometheus_port}")
        wait_for(lambda: http_ok(f"{prom.url}/-/ready"), 30, "prometheus not ready", step=0.2)
        wait_for(lambda: prom.scalar("haproxy_exporter_log_stream_up") == 1, 30,
                 f"the exporter's log stream never opened: {(tmp_path / 'exporter.log').read_text()[-2000:]}",
                 step=0.25)
        yield hap, prom, seen
    finally:
        for proc in reversed(procs):
            stop_process(proc)
        proxy.shutdown()
        proxy.server_close()
        origin.close()


def test_prometheus_native_p99_lands_in_the_native_bucket_of_the_clients_p99(stack) -> None:
    hap, prom, seen = stack
    timed_get(hap.ports[0], "/fast/warmup")  # the series exist (at 1) before the measured window
    wait_for(lambda: prom.scalar(COUNT) == 1, 15, "Prometheus did not scrape the first request", step=0.25)
    times = [timed_get(hap.ports[0], "/slow/x" if n % 20 == 19 else f"/fast/{n}") for n in range(100)]
    client_p99 = statistics.quantiles(times, n=100, method="inclusive")[98]
    wait_for(lambda: prom.scalar(COUNT) == 101, 15, "Prometheus did not scrape every request", step=0.25)
    time.sleep(2)  # two more scrapes: the rate's last points hold every request
    p99 = prom.scalar(P99)
    assert p99 is not None
    at = index(client_p99, SCHEMA)  # the client's p99 is in (2^((at-1)/8), 2^(at/8)]
    assert 2 ** ((at - 1) / 2 ** SCHEMA) < p99 <= 2 ** (at / 2 ** SCHEMA), (client_p99, p99)
    # Every scrape was answered in protobuf, to Prometheus' own Accept.
    assert seen and all(content_type == PROTOBUF_TYPE for _, content_type in seen), seen[:2]
    assert all(accept.startswith("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;"
                                 "encoding=delimited") for accept, _ in seen)
    # A native histogram only, in 2.42; the other families as ever.
    assert prom.query('haproxy_backend_log_total_time_seconds_bucket{proxy="be_web"}') == []
    assert prom.scalar('haproxy_backend_log_http_responses_total{proxy="be_web",code="200"}') == 101
    assert prom.scalar("haproxy_up") == 1
