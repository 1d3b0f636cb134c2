"""haproxy_exporter_config_last_reload_successful follows SIGHUP reloads of the real CLI.

The alert HAProxyExporterConfigReloadFailed (deploy/prometheus/alerts.yml) rests on it: a reload
with a broken file must turn it to 0 while polling goes on with the old config, a good one back to 1.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from support import ADMIN_HTTP_HEAD, free_ports, stop_process, wait_for

MINIMAL_CFG = ADMIN_HTTP_HEAD + """
frontend fe
    bind 127.0.0.1:{p0}
    http-request return status 200
"""


def metric(url: str, name: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            text = resp.read().decode()
    except OSError:
        return None
    found = re.search(rf"^{name} (\S+)$", text, flags=re.M)
    return found.group(1) if found else None


@pytest.mark.integration
def test_reload_metric_tracks_sighup(haproxy_factory, tmp_path: Path) -> None:
    hap = haproxy_factory(MINIMAL_CFG, nports=1)
    good = f"haproxy:\n  address: {hap.admin}\npoll:\n  interval: 200ms\n"
    config = tmp_path / "config.yaml"
    config.write_text(good)
    port = free_ports(1)[0]
    url = f"http://127.0.0.1:{port}/metrics"
    proc = subprocess.Popen([sys.executable, "-m", "exporter", "--config.file", str(config),
                             "--web.listen-address", f"127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    name = "haproxy_exporter_config_last_reload_successful"
    try:
        wait_for(lambda: metric(url, "haproxy_up") == "1", 15, "exporter did not read HAProxy")
        assert metric(url, name) == "1"  # no reload yet

        config.write_text(good.replace("200ms", "-1s"))  # invalid: must be above zero
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: metric(url, name) == "0", 10, "a refused reload did not show")
        polls = metric(url, 'haproxy_exporter_polls_total{result="success"}')
        wait_for(lambda: metric(url, 'haproxy_exporter_polls_total{result="success"}') != polls, 10,
                 "polling stopped after a refused reload")
        assert metric(url, "haproxy_up") == "1"

        config.write_text(good)
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: metric(url, name) == "1", 10, "a good reload did not restore the metric")
    finally:
        stop_process(proc)
