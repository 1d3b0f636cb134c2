"""Two widely used promex dashboards see data from ours wherever promex gives them data, every version.

The dashboards are the haproxy-mixin's four (grafana/jsonnet-libs) and Grafana.com 12693 "HAProxy 2
Full"; the metric names each one queries are in ``tests/fixtures/dashboards/`` (source and method in
each file's header).  One real HAProxy per version, set up with what the panels show (servers in
every state with checks, a warming server, limits, queues, a cache, compression, a stick table on
a peers section, traffic of every class), is read by promex and polled by our exporter.  For every
queried name promex serves with at least one value (not NaN), ours must serve the same sample name
with the same label names, unless ``docs/promex-differences.md`` lists it (the side-by-side test
keeps that table true).  A name neither serves is a panel that is empty either way.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest
from support import wait_for

from exporter.config import build_config
from exporter.poll.poller import Poller
from exporter.poll.snapshot import Store
from integration.test_promex_side_by_side import Page, documented

DASHBOARDS = Path(__file__).resolve().parents[1] / "fixtures" / "dashboards"
NAMES = {"haproxy-mixin": "haproxy-mixin.txt", "grafana-12693": "grafana-12693.txt"}

# {p0}: client frontend, {p1}: origin, {p2}: nothing listens (DOWN), {p3}: promex, {p4}: the local peer
CFG = """
global
    stats socket {admin} mode 600 level admin
    stats timeout 10s
    localpeer hrx-dash
    maxconnrate 5000
    maxsessrate 5000
    maxsslrate 5000
    maxcomprate 100000

defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    timeout check 1s

peers dash_peers
    peer hrx-dash 127.0.0.1:{p4}

cache dash_cache
    total-max-size 4
    max-age 60

frontend fe_web
    bind 127.0.0.1:{p0}
    maxconn 200
    rate-limit sessions 5000
    stick-table type ip size 100 expire 10m store conn_cnt,http_req_cnt,http_req_rate(10s) peers dash_peers
    http-request track-sc0 src
    http-request deny deny_status 403 if {{ path_beg /deny }}
    http-request set-var(txn.hide) bool(true) if {{ path_beg /hide }}
    http-response deny if {{ var(txn.hide) -m bool }}
    compression algo gzip
    compression type text/plain
    use_backend be_down if {{ path_beg /down }}
    use_backend be_cache if {{ path_beg /cached }}
    default_backend be_app

frontend fe_origin
    bind 127.0.0.1:{p1}
    http-request return status 404 content-type text/plain string missing if {{ path_beg /missing }}
    http-request return status 200 content-type text/plain hdr cache-control max-age=60 string cacheable if {{ path_beg /cached }}
    http-request return status 200 content-type text/plain string "compressible text, compressible text"

frontend fe_promex
    bind 127.0.0.1:{p3}
    http-request use-service prometheus-exporter if {{ path /metrics }}

backend be_app
    balance roundrobin
    option httpchk GET /
    http-reuse always
    server up1 127.0.0.1:{p1} check inter 300ms rise 1 fall 1 maxconn 50 maxqueue 10 pool-max-conn 10
    server down1 127.0.0.1:{p2} check inter 300ms rise 1 fall 1
    server maint1 127.0.0.1:{p1} check inter 300ms disabled
    server drain1 127.0.0.1:{p1} check inter 300ms rise 1 fall 1
    server warm1 127.0.0.1:{p1} check inter 300ms rise 1 fall 1 slowstart 1h
    server nocheck1 127.0.0.1:{p1}
    server bk1 127.0.0.1:{p1} check inter 300ms rise 1 fall 1 backup

backend be_track
    server via1 127.0.0.1:{p1} track be_app/maint1

backend be_down
    option httpchk GET /missing
    server d1 127.0.0.1:{p2} check inter 300ms rise 1 fall 1
    server sts1 127.0.0.1:{p1} check inter 300ms rise 1 fall 1

backend be_cache
    http-request cache-use dash_cache
    http-response cache-store dash_cache
    server c1 127.0.0.1:{p1}
"""


def queried(dashboard: str) -> list[str]:
    lines = (DASHBOARDS / NAMES[dashboard]).read_text().splitlines()
    names = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert names == sorted(set(names)), f"{NAMES[dashboard]}: one name a line, sorted, no repeats"
    return names


def with_data(page: Page) -> set[str]:
    """Sample names with at least one value that is not NaN (a counter's carry their ``_total``)."""
    return {name for name, series in page.samples.items() if any(v == v for v in series.values())}


def get(port: int, path: str, headers: dict[str, str] | None = None) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            resp.read()
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.fixture
def dashboard_haproxy(haproxy_factory):
    """HAProxy with what the dashboards' panels show: states, checks, slow start, traffic of each kind."""
    hap = haproxy_factory(CFG, nports=5)
    hap.cmd("set server be_app/drain1 state drain")
    hap.cmd("set server be_app/warm1 state maint")
    wait_for(lambda: hap.status_of("be_app", "warm1") == "MAINT", 10, "warm1 did not enter maintenance")
    hap.cmd("set server be_app/warm1 state ready")  # back from maintenance: slow start (1 h) begins

    def settled() -> bool:
        rows = {(r["pxname"], r["svname"]): r for r in hap.stat()}
        return rows[("be_app", "up1")]["status"] == "UP" and rows[("be_app", "down1")]["status"] == "DOWN" \
            and rows[("be_down", "sts1")]["check_status"] == "L7STS" and rows[("be_app", "warm1")]["throttle"] != ""
    wait_for(settled, 15, f"checks and slow start did not settle: {hap.cmd('show stat')}")

    port = hap.ports[0]
    gzip = {"Accept-Encoding": "gzip"}
    for path, headers, status in [("/", gzip, 200), ("/", None, 200), ("/missing", None, 404),
                                  ("/down", None, 503), ("/deny", None, 403), ("/hide", None, 502),
                                  ("/cached", None, 200), ("/cached", None, 200)]:
        assert get(port, path, headers) == status, path
    return hap


def test_dashboards_see_data_from_ours_wherever_promex_gives_it(dashboard_haproxy, haproxy_bin) -> None:
    hap = dashboard_haproxy
    with urllib.request.urlopen(f"http://127.0.0.1:{hap.ports[3]}/metrics", timeout=10) as resp:
        promex = Page(resp.read().decode())
    store = Store(30)
    assert Poller(build_config({"haproxy": {"address": hap.admin}}), store).poll_once()
    ours = Page(b"".join(p.text for p in store.parts()).decode())
    table = documented()
    promex_data, ours_data = with_data(promex), with_data(ours)

    failures, counts = [], {}
    for dashboard in NAMES:
        names = queried(dashboard)
        by_promex = [n for n in names if n in promex_data]
        missing = [n for n in by_promex if n not in ours_data and table.get(n) != "missing"]
        labels = [f"{n}: promex {sorted(promex.label_names(n))}, ours {sorted(ours.label_names(n))}"
                  for n in by_promex if n in ours_data and table.get(n) != "labels"
                  and promex.label_names(n) != ours.label_names(n)]
        neither = [n for n in names if n not in promex_data and n not in ours_data]
        counts[dashboard] = (len(names), len(by_promex), len([n for n in names if n in ours_data]))
        if missing or labels:
            failures.append(f"{dashboard} on HAProxy {haproxy_bin.version}: promex serves, ours not: {missing}; "
                            f"label names differ: {labels}; served by neither (fine): {neither}")
    print(f"HAProxy {haproxy_bin.version}: " + ", ".join(
        f"{d} {q} queried / {p} by promex / {o} by ours" for d, (q, p, o) in counts.items()))
    assert failures == [], "\n".join(failures)
    # The setup really exercises the dashboards: promex gives data for most of what they query.
    for dashboard, (total, by_promex, _) in counts.items():
        assert by_promex >= 0.9 * total, f"{dashboard}: promex serves only {by_promex} of {total} names"
