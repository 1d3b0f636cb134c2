"""A real Prometheus (Debian's 2.42) stores the same samples whether it scraped OpenMetrics,
protobuf or text.

One exporter (the real CLI) reads a real HAProxy with a long poll interval, so every scrape reads
the one page of its first poll. Prometheus scrapes it through two small forwarding proxies: job
``asked`` passes Prometheus' own ``Accept`` (OpenMetrics first; protobuf first when Prometheus runs
with native histograms), job ``text`` drops it (text 0.0.4).
Each proxy notes the Content-Type it got back; then the API's instant values of every HAProxy
series of one job equal the other's (the exporter's own figures, which change from scrape to
scrape, are left out).
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import threading
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from support import ADMIN_HTTP_HEAD, free_ports, http_ok, require, start_logged, wait_for

from testkit.procs import stop_process

# The forms are the exporter's; one HAProxy gives them a page.
pytestmark = [pytest.mark.e2e, pytest.mark.one_haproxy]
# What Prometheus asks for first, by its flags, and the Content-Type each is answered with.
FORMS = {
    "openmetrics": ([], "application/openmetrics-text", "application/openmetrics-text; version=1.0.0"),
    "protobuf": (["--enable-feature=native-histograms"], "application/vnd.google.protobuf",
                 "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"),
}

CFG = ADMIN_HTTP_HEAD + """
frontend fe
    bind 127.0.0.1:{p0}
    default_backend be
backend be
    server s1 127.0.0.1:{p1}
    server s2 127.0.0.1:{p1}
"""


def forwarder(upstream: str, keep_accept: bool, seen: list[tuple[str, str]]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            headers = {k: v for k, v in self.headers.items() if k.lower() == "accept-encoding"}
            if keep_accept and self.headers.get("Accept"):
                headers["Accept"] = self.headers["Accept"]
            with urllib.request.urlopen(urllib.request.Request(upstream + self.path, headers=headers),
                                        timeout=10) as resp:
                body = resp.read()
                seen.append((self.headers.get("Accept", ""), resp.headers["Content-Type"]))
                self.send_response(200)
                for name in ("Content-Type", "Content-Encoding"):
                    if resp.headers.get(name):
                        self.send_header(name, resp.headers[name])
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def instant(prometheus_url: str, expr: str) -> dict:
    url = f"{prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as resp:
        body = json.load(resp)
    assert body["status"] == "success", body
    return {tuple(sorted((k, v) for k, v in r["metric"].items() if k not in ("job", "instance"))): r["value"][1]
            for r in body["data"]["result"]}


@pytest.mark.parametrize("form", sorted(FORMS))
def test_prometheus_stores_the_same_samples_from_each_form_and_text(haproxy_factory, form: str):
    flags, asks, answered = FORMS[form]
    prometheus = require(shutil.which("prometheus"), "prometheus (Debian package)")
    hap = haproxy_factory(CFG, nports=2)
    for _ in range(5):
        hap.get(0)
    base = Path(tempfile.mkdtemp(prefix="hrxom"))
    exporter_port, prometheus_port = free_ports(2)
    exporter_url = f"http://127.0.0.1:{exporter_port}"
    procs = []
    seen: dict[str, list[tuple[str, str]]] = {"asked": [], "text": []}
    proxies = {job: forwarder(exporter_url, job == "asked", seen[job]) for job in seen}
    try:
        procs.append(start_logged([sys.executable, "-m", "exporter", "--haproxy.address", hap.admin,
                                   "--web.listen-address", f"127.0.0.1:{exporter_port}",
                                   "--poll.interval", "60s", "--poll.max-age", "120s"], base / "exporter.log"))
        wait_for(lambda: http_ok(f"{exporter_url}/metrics"), 15, "exporter did not serve /metrics")
        jobs = "".join(f"  - job_name: {job}\n    static_configs: [{{targets: ['127.0.0.1:{proxy.server_address[1]}']}}]\n"
                       for job, proxy in proxies.items())
        (base / "prometheus.yml").write_text(f"global: {{scrape_interval: 1s}}\nscrape_configs:\n{jobs}")
        procs.append(start_logged([prometheus, f"--config.file={base / 'prometheus.yml'}",
                                   f"--storage.tsdb.path={base / 'data'}",
                                   f"--web.listen-address=127.0.0.1:{prometheus_port}", "--log.level=warn", *flags],
                                  base / "prometheus.log"))
        prometheus_url = f"http://127.0.0.1:{prometheus_port}"
        wait_for(lambda: http_ok(f"{prometheus_url}/-/ready"), 30, "prometheus not ready", step=0.2)
        try:
            wait_for(lambda: instant(prometheus_url, 'count(count_over_time(up[1m]) >= 2 and up == 1)') == {(): "2"}, 30,
                     "prometheus did not scrape both jobs", step=0.25)
        except TimeoutError:
            with urllib.request.urlopen(f"{prometheus_url}/api/v1/targets", timeout=10) as resp:
                raise AssertionError(resp.read().decode()[:3000]) from None

        assert seen["asked"] and all(ct.startswith(answered) for _, ct in seen["asked"]), seen["asked"][:2]
        assert all(accept.startswith(asks) for accept, _ in seen["asked"])
        assert seen["text"] and all(ct.startswith("text/plain; version=0.0.4") for _, ct in seen["text"])

        series = '{__name__=~"haproxy_.+", __name__!~"haproxy_exporter_.+", job="%s"}'
        asked, text = instant(prometheus_url, series % "asked"), instant(prometheus_url, series % "text")
        assert len(asked) > 100
        assert asked == text
        names = {dict(key)["__name__"] for key in asked}
        assert "haproxy_server_bytes_in_total" in names  # counters keep their _total in storage
    finally:
        for proc in reversed(procs):
            stop_process(proc)
        for proxy in proxies.values():
            proxy.shutdown()
            proxy.server_close()
