"""The real command line against a real HAProxy: /metrics, gzip, landing page, health, --once."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
import urllib.request

import pytest
from exposition import samples, value
from support import free_ports, require, wait_for

EXPORTER = [sys.executable, "-m", "exporter"]


def fetch(url: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


@pytest.fixture
def running_exporter(states_haproxy):
    port = free_ports(1)[0]
    proc = subprocess.Popen(EXPORTER + ["--haproxy.address", states_haproxy.admin,
                                        "--web.listen-address", f"127.0.0.1:{port}", "--poll.interval", "0.2s"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"

    def ready():
        try:
            return fetch(base + "/metrics")[0] == 200
        except OSError:
            return False

    try:
        wait_for(ready, 10, "exporter did not serve /metrics")
        yield states_haproxy, base
    finally:
        proc.terminate()
        proc.wait(5)


def test_metrics_gzip_landing_health(running_exporter, tmp_path):
    hap, base = running_exporter
    status, headers, body = fetch(base + "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    got = samples(body.decode())
    assert value(got, "haproxy_up") == 1
    assert value(got, "haproxy_server_status", proxy="be_app", server="drain1", state="DRAIN") == 1

    status, headers, zipped = fetch(base + "/metrics", {"Accept-Encoding": "gzip"})
    assert headers.get("Content-Encoding") == "gzip"
    assert len(zipped) < len(body) / 3
    # the same exposition (both are the same published snapshot unless a poll swapped in between)
    unzipped = samples(gzip.decompress(zipped).decode())
    assert {k for k in unzipped if k[0].startswith("haproxy_server")} == {k for k in got if k[0].startswith("haproxy_server")}

    status, _, page = fetch(base + "/")
    assert status == 200 and b'href="/metrics"' in page
    assert fetch(base + "/healthz")[0] == 200
    assert fetch(base + "/nope")[0] == 404

    promtool = shutil.which("promtool")
    require(promtool, "promtool")
    out = tmp_path / "metrics.txt"
    out.write_bytes(body)
    lint = subprocess.run([promtool, "check", "metrics"], stdin=out.open("rb"), capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_numbers_move_with_traffic(running_exporter):
    hap, base = running_exporter
    first = value(samples(fetch(base + "/metrics")[2].decode()), "haproxy_frontend_http_requests_total", proxy="fe_web")
    for _ in range(5):
        hap.get(0)

    def moved():
        now = value(samples(fetch(base + "/metrics")[2].decode()), "haproxy_frontend_http_requests_total", proxy="fe_web")
        return now is not None and now >= first + 5

    wait_for(moved, 5, "request counter did not move after 5 requests")


def test_once_prints_the_exposition_and_exit_status(states_haproxy, tmp_path):
    ok = subprocess.run(EXPORTER + ["--once", "--haproxy.address", states_haproxy.admin],
                        capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0, ok.stderr
    assert value(samples(ok.stdout), "haproxy_up") == 1
    assert value(samples(ok.stdout), "haproxy_server_status", proxy="be_track", server="via1", state="MAINT") == 1

    bad = subprocess.run(EXPORTER + ["--once", "--haproxy.address", str(tmp_path / "missing.sock")],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode == 1
    assert value(samples(bad.stdout), "haproxy_up") == 0
    assert "does not exist" in bad.stderr


@pytest.mark.parametrize("args,key", [
    (["--poll.interval=-5s"], "poll.interval"),
    (["--haproxy.address", "ipv4@nowhere"], "haproxy.address"),
    (["--web.listen-address", "9101"], "web.listen_address"),
    (["--log.level", "loud"], "log.level"),
    (["--poll.interval", "10s", "--poll.max-age", "5s"], "poll.max_age"),
    (["--no-such-flag"], "--no-such-flag"),
])
def test_bad_flags_give_one_line_and_exit_2(args, key):
    res = subprocess.run(EXPORTER + args, capture_output=True, text=True, timeout=30)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and key in lines[0] and "Traceback" not in res.stderr
