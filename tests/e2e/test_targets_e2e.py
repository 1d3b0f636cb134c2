"""End to end with many HAProxys: one exporter reading two real HAProxys, and a real Prometheus
scraping both through it with the multi-target job of deploy/prometheus/prometheus.yml (only the
exporter's address is put in, as a user would)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from support import ADMIN_HTTP_HEAD, HAProxy, free_ports, http_ok, require, start_logged, stop_process, wait_for

from e2e.test_prometheus_e2e import Stack

pytestmark = pytest.mark.e2e

SHIPPED = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "prometheus.yml"
CFG = ADMIN_HTTP_HEAD + """
frontend fe_NAME
    bind 127.0.0.1:{p0}
    http-request return status 200 content-type text/plain string ok
"""


def shipped_job(name: str, exporter: str) -> dict:
    """The job as deploy/prometheus/prometheus.yml writes it, pointed at this exporter."""
    job = next(j for j in yaml.safe_load(SHIPPED.read_text())["scrape_configs"] if j["job_name"] == name)
    for rule in job["relabel_configs"]:
        if rule.get("target_label") == "__address__":
            rule["replacement"] = exporter
    job["scrape_interval"] = "1s"
    job["scrape_timeout"] = "1s"
    return job


def test_prometheus_scrapes_two_haproxys_through_one_exporter() -> None:
    prometheus = require(shutil.which("prometheus"), "prometheus (Debian package prometheus)")
    base = Path(tempfile.mkdtemp(prefix="hrxtg"))
    haps = {}
    for name in ("edge1", "edge2"):
        (base / name).mkdir()
        haps[name] = HAProxy(base / name, CFG.replace("NAME", name), nports=1).start()
    exporter_port, prometheus_port = free_ports(2)
    (base / "exporter.yaml").write_text(json.dumps({
        "targets": [{"name": n, "address": h.admin} for n, h in haps.items()],
        "poll": {"interval": "500ms"}, "web": {"listen_address": f"127.0.0.1:{exporter_port}"}}))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(start_logged([sys.executable, "-m", "exporter", "--config.file", str(base / "exporter.yaml")],
                                   base / "exporter.log"))
        exporter = f"127.0.0.1:{exporter_port}"
        (base / "prometheus.yml").write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [shipped_job("haproxy-targets", exporter),
                               {**shipped_job_plain("haproxy-exporter"), "scrape_interval": "1s",
                                "static_configs": [{"targets": [exporter]}]}]}))
        promtool = require(shutil.which("promtool"), "promtool (Debian package prometheus)")
        check = subprocess.run([promtool, "check", "config",
                                str(base / "prometheus.yml")], capture_output=True, text=True, timeout=60)
        assert check.returncode == 0, check.stdout + check.stderr
        procs.append(start_logged(
            [prometheus, f"--config.file={base / 'prometheus.yml'}", f"--storage.tsdb.path={base / 'data'}",
             f"--web.listen-address=127.0.0.1:{prometheus_port}", "--log.level=warn"], base / "prometheus.log"))
        stack = Stack(haps["edge1"], f"http://{exporter}", f"http://127.0.0.1:{prometheus_port}", "")
        wait_for(lambda: http_ok(f"{stack.prometheus_url}/-/ready"), 30, "prometheus not ready", step=0.2)
        wait_for(lambda: len(stack.query('haproxy_up{job="haproxy-targets"} == 1')) == 2, 30,
                 "prometheus did not scrape both targets", step=0.25)
        ups = {r["metric"]["instance"] for r in stack.query('haproxy_up{job="haproxy-targets"} == 1')}
        assert ups == {"edge1", "edge2"}  # the target name is the instance label
        for name in haps:
            [status] = stack.query(f'haproxy_frontend_status{{instance="{name}", proxy="fe_{name}", state="UP"}}')
            assert status["value"][1] == "1"
            assert not stack.query(f'haproxy_frontend_status{{instance="{name}", proxy!="fe_{name}"}}')
        # The exporter's own job is a separate scrape loop: its first scrape can come after the targets'.
        wait_for(lambda: len(stack.query('haproxy_up{job="haproxy-exporter"}')) == 2, 30,
                 "prometheus did not scrape the exporter's own page", step=0.25)
        own = stack.query('haproxy_up{job="haproxy-exporter"}')
        assert {r["metric"]["target"] for r in own} == {"edge1", "edge2"}  # the exporter's own overview
    finally:
        for proc in reversed(procs):
            stop_process(proc)
        for hap in haps.values():
            hap.stop()
        shutil.rmtree(base, ignore_errors=True)


def shipped_job_plain(name: str) -> dict:
    return next(j for j in yaml.safe_load(SHIPPED.read_text())["scrape_configs"] if j["job_name"] == name)
