"""The real command line against a real HAProxy answers OpenMetrics to who asks for it.

Prometheus 3's Accept header (and a plain ``application/openmetrics-text; version=1.0.0``) gets
OpenMetrics 1.0.0 with its Content-Type and ``# EOF``, plain and gzip, which prometheus_client's
OpenMetrics parser reads as the same samples as the text form; without Accept, text 0.0.4, which
promtool finds clean.  Every OpenMetrics scrape of one poll is served from the form made once for
that poll (exporter/exposition/page.py): no piece is compressed at scrape time after the first.
"""

from __future__ import annotations

import gzip
import subprocess
import sys

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as read_openmetrics
from prometheus_client.parser import text_string_to_metric_families as read_text
from support import free_ports, promtool_check_metrics, wait_for

from integration.test_cli_http import fetch

EXPORTER = [sys.executable, "-m", "exporter"]
PROMETHEUS_3 = ("application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"
                "application/openmetrics-text;version=0.0.1;q=0.5,"
                "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2")


def _samples(families, skip=("process_", "haproxy_exporter_")) -> dict:
    """HAProxy's samples, from the one poll (the exporter's own figures change between scrapes)."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families for s in f.samples
            if not s.name.startswith(skip)}


@pytest.fixture
def exporter(states_haproxy):
    port = free_ports(1)[0]
    # A long interval: the scrapes below all read one poll's page.
    proc = subprocess.Popen(EXPORTER + ["--haproxy.address", states_haproxy.admin,
                                        "--web.listen-address", f"127.0.0.1:{port}",
                                        "--poll.interval", "60s", "--poll.max-age", "120s"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"

    def ready():
        try:
            return fetch(base + "/metrics")[0] == 200
        except OSError:
            return False

    try:
        wait_for(ready, 10, "exporter did not serve /metrics")
        yield base
    finally:
        proc.terminate()
        proc.wait(5)


@pytest.mark.parametrize("accept, content_type", [
    (PROMETHEUS_3, "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8"),
    ("application/openmetrics-text; version=1.0.0", "application/openmetrics-text; version=1.0.0; charset=utf-8"),
    ("application/openmetrics-text; version=0.0.1", "application/openmetrics-text; version=0.0.1; charset=utf-8"),
])
def test_openmetrics_plain_and_gzip(exporter, accept, content_type):
    status, headers, text = fetch(exporter + "/metrics")
    assert status == 200 and headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert "# EOF" not in text.decode()
    assert promtool_check_metrics(text.decode()) == []

    status, headers, om = fetch(exporter + "/metrics", {"Accept": accept})
    assert status == 200 and headers["Content-Type"] == content_type
    assert "Accept" in headers["Vary"] and "Content-Encoding" not in headers
    assert om.endswith(b"\n# EOF\n") and om.count(b"# EOF") == 1
    status, headers, zipped = fetch(exporter + "/metrics", {"Accept": accept, "Accept-Encoding": "gzip"})
    assert status == 200 and headers["Content-Type"] == content_type and headers["Content-Encoding"] == "gzip"
    unzipped = gzip.decompress(zipped)
    assert unzipped.endswith(b"\n# EOF\n")

    om_families = list(read_openmetrics(om.decode()))
    assert _samples(om_families) == _samples(read_text(text.decode()))
    assert _samples(list(read_openmetrics(unzipped.decode()))) == _samples(om_families)
    names = {f.name: f.type for f in om_families}
    assert names.get("haproxy_server_bytes_in") == "counter"  # the family's name, without _total

    # A promex selection of the OpenMetrics form is a valid page too.
    status, headers, part = fetch(exporter + "/metrics?scope=server&no-maint", {"Accept": accept,
                                                                                "Accept-Encoding": "gzip"})
    families = list(read_openmetrics(gzip.decompress(part).decode()))
    assert any(f.name.startswith("haproxy_server_") for f in families)
    assert not any(f.name.startswith("haproxy_frontend_") for f in families)
