"""End to end: real HAProxy with traffic → exporter CLI → real Prometheus → dashboard queries and alerts.

One stack per module, all on loopback: HAProxy (tests/e2e/e2e.cfg) in master-worker mode, the exporter
as a subprocess of the real CLI reading its master CLI (so the dashboard's "Master and workers" row has
data), and Debian's `prometheus` scraping it every second with deploy/prometheus/alerts.yml
loaded (every `for:` shortened to 1s in the copy). The exporter starts before HAProxy, as it may in
real life, so its error counters exist. Then:

* every template variable of the Grafana dashboard resolves to what HAProxy itself lists;
* every dashboard query, variables substituted as Grafana would for "All", returns data;
* every alert rule evaluates without error (rules API) and its expression runs (query API);
* after origin B is shut down, HAProxy reports b1 DOWN, and the alerts for it fire — and the ones
  that must not fire (other servers, HAProxyDown, HAProxyExporterDown) do not.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import dashboard_queries as dq
import pytest
import yaml
from httpraw import exchange
from support import HAProxy, free_ports, http_ok, require, start_logged, stat_rows, stop_process, wait_for

from testkit.tlscerts import ocsp_stapled, self_signed_pem

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
CONFIG = Path(__file__).with_name("e2e.cfg")
RATE_INTERVAL = "10s"  # Grafana's $__rate_interval for a 1s scrape interval is at least 4s; 10s is safe
STICK_TABLE = ("fe_web", 10)  # name and size in e2e.cfg
CERT_DAYS = 10  # the TLS frontend's certificate: inside HAProxyCertificateExpiringSoon's 14 days
# Metrics alerts.yml uses that this stack does not expose, with the reason: not exported yet (remove
# the entry as soon as the metric lands: until then its alert can never fire), or not in the stack's
# HAProxy (then the reason names the test that proves the metric on a version that has it).
# The log source (docs/logs.md) streams a worker's ring; this stack reads a master CLI, through which nothing
# streams, and sets no logs: section. Its names in panels and rules are checked by tests/deploy/test_logs_doc.py.
NO_LOG_SOURCE = ("the stack has no log source (a master CLI target, no logs: section); "
                 "tests/deploy/test_logs_doc.py checks the names against docs/logs.md")
PENDING_METRICS: dict[str, str] = {
    "haproxy_ssl_ocsp_update_status": "the stack's HAProxy is Debian's 2.6, which has no OCSP updater (show ssl "
                                      "ocsp-updates came with 2.8); tests/integration/test_ocsp_updates.py reads it "
                                      "on 2.8, 3.2 and 3.4",
    "haproxy_exporter_log_ring_dropped_total": NO_LOG_SOURCE,
    "haproxy_exporter_log_lines_rejected_total": NO_LOG_SOURCE,
    "haproxy_exporter_log_lines_read_total": NO_LOG_SOURCE,
    "haproxy_exporter_log_stream_up": NO_LOG_SOURCE,
    "haproxy_exporter_log_syslog_datagrams_dropped_total": NO_LOG_SOURCE,
    "haproxy_exporter_log_syslog_up": NO_LOG_SOURCE,
}


@dataclass
class Stack:
    haproxy: HAProxy
    exporter_url: str
    prometheus_url: str
    instance: str
    logs: dict[str, Path] = field(default_factory=dict)

    def api(self, path: str, **params: str) -> Any:
        url = f"{self.prometheus_url}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:
                body = json.load(resp)
        except urllib.error.HTTPError as exc:  # Prometheus explains a bad query in the body
            raise AssertionError(f"{url}: {exc.code} {exc.read().decode()[:500]}") from None
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        data = self.api("query", query=expr)
        return data["result"] if data["resultType"] in ("vector", "matrix") else [data["result"]]

    def firing(self) -> list[dict[str, str]]:
        return [a["labels"] for a in self.api("alerts")["alerts"] if a["state"] == "firing"]


def exporter_text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.read().decode()


def rules_with_short_for(target: Path) -> None:
    """Copy alerts.yml with every `for:` at 1s, so pending → firing takes one evaluation."""
    rules = yaml.safe_load(ALERTS.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                rule["for"] = "1s"
    target.write_text(yaml.safe_dump(rules, sort_keys=False))


def traffic(haproxy: HAProxy, stop: threading.Event) -> None:
    """Steady client requests on both routes until stopped (errors ignored: the stack may be stopping)."""
    while not stop.wait(0.02):
        for path in ("/", "/b"):
            try:
                haproxy.get(0, path)
            except OSError:
                pass


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    prometheus = require(shutil.which("prometheus"), "prometheus (Debian package prometheus)")
    base = Path(tempfile.mkdtemp(prefix="hrxe2e"))  # short: UNIX socket paths are limited
    (base / "haproxy").mkdir()
    cert = self_signed_pem(base / "expiring.pem", "expiring.example", CERT_DAYS)
    stapled = ocsp_stapled(base / "ocsp", {"stapled.example": "good"})["stapled.example"]
    haproxy = HAProxy(base / "haproxy", CONFIG.read_text().replace("CERTFILE", str(cert)).replace(
        "OCSPFILE", str(stapled)), nports=7)
    exporter_port, prometheus_port = free_ports(2)
    exporter_url = f"http://127.0.0.1:{exporter_port}"
    procs: list[subprocess.Popen[bytes]] = []
    stop_traffic = threading.Event()
    worker = threading.Thread(target=traffic, args=(haproxy, stop_traffic), daemon=True)
    logs = {"exporter": base / "exporter.log", "prometheus": base / "prometheus.log", "haproxy": haproxy.log}
    (base / "exporter.yaml").write_text("errors: {enabled: true}\n")  # every source on, so every panel has data
    (base / "haproxy" / "hosts.map").write_text("www.example be_app\napi.example be_app\n")
    (base / "haproxy" / "block.acl").write_text("192.0.2.1\n")
    try:
        procs.append(start_logged(
            [sys.executable, "-m", "exporter", "--config.file", str(base / "exporter.yaml"),
             "--haproxy.address", haproxy.master,
             "--web.listen-address", f"127.0.0.1:{exporter_port}", "--poll.interval", "500ms",
             "--poll.max-age", "5s"], logs["exporter"]))
        wait_for(lambda: http_ok(f"{exporter_url}/metrics") and "haproxy_exporter_command_errors_total{"
                 in exporter_text(f"{exporter_url}/metrics"), 15, "exporter did not report the missing HAProxy")

        haproxy.start_master()  # master-worker, read through its master CLI (as on Debian)
        name, size = STICK_TABLE
        for n in range(1, size):  # + 127.0.0.1 from the traffic = size entries: full
            haproxy.cmd(f"set table {name} key 10.0.0.{n} data.http_req_cnt 1")
        exchange(haproxy.ports[0], b"GET / HTTP/1.1\r\nBad Header\r\n\r\n", 2)  # a captured error
        worker.start()

        rules_with_short_for(base / "alerts.yml")
        (base / "prometheus.yml").write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(base / "alerts.yml")],
            "scrape_configs": [{"job_name": "haproxy", "scrape_timeout": "1s",
                                "static_configs": [{"targets": [f"127.0.0.1:{exporter_port}"]}]}],
        }))
        procs.append(start_logged(
            [prometheus, f"--config.file={base / 'prometheus.yml'}", f"--storage.tsdb.path={base / 'data'}",
             f"--web.listen-address=127.0.0.1:{prometheus_port}", "--log.level=warn"], logs["prometheus"]))
        prometheus_url = f"http://127.0.0.1:{prometheus_port}"
        wait_for(lambda: http_ok(f"{prometheus_url}/-/ready"), 30,
                 f"prometheus not ready: {logs['prometheus'].read_text()[-2000:]}", step=0.2)
        stack = Stack(haproxy, exporter_url, prometheus_url, f"127.0.0.1:{exporter_port}", logs)
        # a few scrapes with HAProxy readable, so rate() over RATE_INTERVAL has two points
        wait_for(lambda: bool(stack.query("count_over_time(haproxy_up[10s]) >= 4 and haproxy_up == 1")), 30,
                 "prometheus did not collect 4 scrapes of a readable HAProxy", step=0.25)
        yield stack
    finally:
        stop_traffic.set()
        if worker.is_alive():
            worker.join(10)  # one request at most (5s timeout each)
        for proc in reversed(procs):
            stop_process(proc)
        haproxy.stop()
        shutil.rmtree(base, ignore_errors=True)


def label_values(stack: Stack):
    def fetch(selector: str | None, label: str) -> list[str]:
        params = {"match[]": selector} if selector else {}
        return sorted(stack.api(f"label/{label}/values", **params))
    return fetch


def resolved(stack: Stack) -> tuple[dict[str, str], dict[str, list[str]]]:
    return dq.resolve_variables(dq.load(), label_values(stack),
                                {"__rate_interval": RATE_INTERVAL, "__interval": "1s", "__range": "5m"})


def test_template_variables_list_what_haproxy_lists(stack: Stack) -> None:
    _, options = resolved(stack)
    rows = stat_rows(stack.haproxy.cmd("show stat"))
    assert options["instance"] == [stack.instance]
    assert options["proxy"] == sorted({r["pxname"] for r in rows if r["svname"] in ("FRONTEND", "BACKEND")})
    assert options["server"] == sorted({r["svname"] for r in rows if r["svname"] not in ("FRONTEND", "BACKEND")})


def test_every_dashboard_query_returns_data(stack: Stack) -> None:
    """Every query but those of the log source (NO_LOG_SOURCE), which need the exporter's logs: section."""
    values, _ = resolved(stack)
    queries = [(title, expr) for title, expr in dq.queries(dq.load()) if not dq.log_metrics(expr)]
    assert len(queries) > 40
    empty = [(title, expr) for title, expr in queries if not stack.query(dq.substitute(expr, values))]
    assert empty == [], f"queries without data: {empty}"


def test_every_alert_rule_evaluates(stack: Stack) -> None:
    expected = [r["alert"] for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"]]
    wait_for(lambda: all(r.get("lastEvaluation", "").startswith("20") and r["health"] != "unknown"
                         for g in stack.api("rules")["groups"] for r in g["rules"]), 10, "rules not evaluated yet")
    loaded = {r["name"]: r for g in stack.api("rules")["groups"] for r in g["rules"]}
    assert sorted(loaded) == sorted(expected)
    assert {name: (r["health"], r.get("lastError")) for name, r in loaded.items() if r["health"] != "ok"} == {}
    for rule in loaded.values():
        stack.query(rule["query"])  # raises unless Prometheus answers status success


def test_alert_rules_use_only_metrics_the_exporter_exposes(stack: Stack) -> None:
    """An alert on a name nobody exposes is silently never firing: every name must reach Prometheus."""
    exprs = [r["expr"] for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"]]
    used = {name for expr in exprs for name in re.findall(r"\b(haproxy_[a-z0-9_]+)", expr)}
    seen = set(stack.api("label/__name__/values", **{"match[]": f'{{instance="{stack.instance}"}}'}))
    assert used - seen - set(PENDING_METRICS) == set()
    assert set(PENDING_METRICS) <= used - seen, "PENDING_METRICS lists a name that is exposed or unused"


def test_alerts_fire_for_a_server_taken_down(stack: Stack) -> None:
    assert stack.haproxy.status_of("be_b", "b1") == "UP"
    assert not [a for a in stack.firing() if a.get("proxy") == "be_b"]
    stack.haproxy.cmd("shutdown frontend fe_origin_b")  # origin B stops listening: checks get refused
    wait_for(lambda: stack.haproxy.status_of("be_b", "b1") == "DOWN", 10, "HAProxy did not mark b1 DOWN")

    wanted = {
        ("HAProxyServerDown", "be_b/b1"),
        ("HAProxyBackendNoUsableServers", "be_b"),
        ("HAProxyBackendHigh5xxRatio", "be_b"),
        ("HAProxyStickTableFillingUp", STICK_TABLE[0]),
        ("HAProxyPeerLinkDown", "mesh/lb2"),  # e2e.cfg's peer that never answers
    }

    def key(alert: dict[str, str]) -> tuple[str, str]:
        if "server" in alert:
            return alert["alertname"], f"{alert['proxy']}/{alert['server']}"
        if "peer" in alert:
            return alert["alertname"], f"{alert['peers']}/{alert['peer']}"
        return alert["alertname"], alert.get("proxy") or alert.get("name", "")

    wait_for(lambda: wanted <= {key(a) for a in stack.firing()}, 30,
             f"alerts did not all fire: {wanted - {key(a) for a in stack.firing()}}", step=0.25)
    firing = {key(a) for a in stack.firing()}
    up_servers = {f"be_app/{s}" for s in ("a1", "a2") if stack.haproxy.status_of("be_app", s) == "UP"}
    assert up_servers == {"be_app/a1", "be_app/a2"}
    assert not {("HAProxyServerDown", s) for s in up_servers} & firing
    assert not {name for name, _ in firing} & {"HAProxyDown", "HAProxyExporterDown", "HAProxyExporterSnapshotStale"}
    assert ("HAProxyBackendNoUsableServers", "be_app") not in firing


def test_certificate_alert_fires_for_a_certificate_expiring_in_ten_days(stack: Stack) -> None:
    """The TLS frontend's certificate (made by the fixture, 10 days) reaches Prometheus through the
    master CLI and HAProxyCertificateExpiringSoon fires for it, with its file as label."""
    [file] = [line for line in stack.haproxy.cmd("show ssl cert").splitlines() if line.endswith("expiring.pem")]
    wait_for(lambda: ("HAProxyCertificateExpiringSoon", file) in {(a["alertname"], a.get("file")) for a in stack.firing()},
             30, f"the certificate alert did not fire: {stack.firing()}", step=0.25)
    [series] = stack.query(f'haproxy_ssl_certificate_not_after_timestamp_seconds{{file="{file}"}}')
    out = subprocess.run(["openssl", "x509", "-enddate", "-noout", "-in", file], check=True, capture_output=True,
                         text=True, timeout=60).stdout  # openssl's reading of the file: the oracle
    when = datetime.strptime(" ".join(out.strip().removeprefix("notAfter=").split()), "%b %d %H:%M:%S %Y GMT")
    assert float(series["value"][1]) == when.replace(tzinfo=timezone.utc).timestamp()
