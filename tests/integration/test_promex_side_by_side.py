"""Side by side with HAProxy's built-in exporter (promex) on the same real HAProxy, every version.

promex is the independent oracle for names, types, label names and units: its page is read
before and after one of our polls, with the traffic stopped so the averages stand still.  The
deliberate differences are the table in docs/promex-differences.md, read here: every difference
seen must be in it, and every row in it must be seen on some version.
"""

from __future__ import annotations

import re
import socket
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families
from support import wait_for

from exporter.cli import new_store
from exporter.clock import SYSTEM_CLOCK
from exporter.config import build_config
from exporter.poll.poller import Poller
from exporter.web.routes import Request, parts_response
from integration.conftest import STATES_CFG

DOC = Path(__file__).resolve().parents[2] / "docs" / "promex-differences.md"
# The states config, plus promex on a frontend of its own and an origin that takes 5 ms per
# request, so the response and total time averages are not 0 and their unit is tested; and two
# stick tables the client traffic fills, one shared by a peers section (the process alone: its
# local updates count) and one not ({p6}: the local peer's port; {p5} is the origin).
CFG = STATES_CFG.replace("default_backend be_app",
                         "use_backend be_slow if {{ path_beg /slow }}\n    default_backend be_app").replace(
    "global\n", "global\n    localpeer side\n", 1).replace(
    "    option socket-stats\n", "    option socket-stats\n    http-request track-sc0 src table st_shared\n"
    "    http-request track-sc1 src table st_alone\n", 1) + """
peers side_peers
    peer side 127.0.0.1:{p6}

frontend fe_promex
    bind 127.0.0.1:{p4}
    http-request use-service prometheus-exporter if {{ path /metrics }}

backend st_shared
    stick-table type ip size 100 expire 10m peers side_peers store http_req_cnt

backend st_alone
    stick-table type ip size 100 expire 10m store http_req_cnt

backend be_slow
    server slow1 127.0.0.1:{p5}

backend be_agent
    server ag1 127.0.0.1:{p1} agent-check agent-port {p2} agent-inter 300ms
"""
WINDOW = 1024  # HAProxy's TIME_STATS_SAMPLES
SEEN: dict[str, set[str]] = {}  # difference row → versions where it was seen (across parametrized runs)


def documented() -> dict[str, str]:
    """{promex family: difference kind} from the table between the markers."""
    text = DOC.read_text()
    block = text[text.index("<!-- differences:begin"):text.index("<!-- differences:end")]
    rows = re.findall(r"^\| `([a-z_<> ]+)` \| (\w+) \|", block, flags=re.M)
    assert rows, "the differences table is empty or unreadable"
    return dict(rows)


_SAMPLE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"\s*,?')


class Page:
    """An exposition with its raw family names (TYPE lines), read line by line.

    Not prometheus_client's parser alone: promex 3.2+ writes a description's quotes unescaped, so
    its own page does not parse as a whole; such lines are set aside (``broken``) and the rest read.
    """

    def __init__(self, text: str) -> None:
        self.types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, flags=re.M))
        self.samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
        self.broken: list[str] = []
        for line in text.split("\n"):
            if not line or line.startswith("#"):
                continue
            m = _SAMPLE.fullmatch(line)
            labels = _labels(m.group(2) or "") if m else None
            if m is None or labels is None:
                self.broken.append(line)
                continue
            self.samples.setdefault(m.group(1), {})[labels] = float(m.group(3))
        for family in text_string_to_metric_families("\n".join(
                line for line in text.split("\n") if line not in set(self.broken)) + "\n"):
            for s in family.samples:  # the reference reader agrees on every line that parses
                name = s.name if s.name in self.samples else s.name.removesuffix("_total")  # it names counters so
                assert self.samples[name][tuple(sorted(s.labels.items()))] == s.value or s.value != s.value

    def with_values(self) -> set[str]:
        return {name for name in self.types if any(v == v for v in self.samples.get(name, {}).values())}

    def label_names(self, name: str) -> set[str]:
        return {k for labels in self.samples.get(name, {}) for k, _ in labels}


def _labels(text: str) -> tuple[tuple[str, str], ...] | None:
    pos, pairs = 0, []
    while pos < len(text):
        m = _LABEL.match(text, pos)
        if m is None:
            return None
        pairs.append((m.group(1), bytes(m.group(2), "utf-8").decode("unicode_escape")))
        pos = m.end()
    return tuple(sorted(pairs))


def slow_origin() -> Iterator[int]:
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    srv.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            threading.Thread(target=respond, args=(conn,), daemon=True).start()

    def respond(conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                time.sleep(0.005)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            except OSError:
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield srv.getsockname()[1]
    stop.set()
    thread.join(2)
    srv.close()


@pytest.fixture
def origin() -> Iterator[int]:
    yield from slow_origin()


def test_ours_against_promex_on_the_same_haproxy(haproxy_factory, haproxy_bin, origin: int) -> None:
    hap = haproxy_factory(CFG.replace("{p5}", str(origin)), nports=7)
    hap.cmd("set server be_app/drain1 state drain")
    wait_for(lambda: "L7STS" in hap.cmd("show stat"), 15, "checks did not settle")
    for path in ("/", "/down", "/"):
        hap.get(0, path)
    # Both average over the last 1024 requests, but until there were 1024 promex divides by 1024
    # anyway (show stat by the number seen): fill be_slow's window so the two must agree there.
    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(lambda _: hap.get(0, "/slow"), range(WINDOW + 50))) == {200}

    def promex() -> Page:
        with urllib.request.urlopen(f"http://127.0.0.1:{hap.ports[4]}/metrics", timeout=10) as resp:
            return Page(resp.read().decode())

    config = build_config({"haproxy": {"address": hap.admin}})
    store = new_store(config, SYSTEM_CLOCK)
    poller = Poller(config, store)
    before = promex()
    assert poller.poll_once()
    after = promex()
    ours = Page(b"".join(p.text for p in store.parts()).decode())
    table = documented()

    # 1. every promex family with a value is ours too, with its type and label names, or a documented difference
    unexplained = []
    for name in sorted(before.with_values()):
        if name not in ours.types:
            kind, detail = "missing", ""
        elif ours.types[name] != before.types[name]:
            kind, detail = "type", f"{before.types[name]} vs ours {ours.types[name]}"
        elif ours.label_names(name) != before.label_names(name):
            kind, detail = "labels", f"{sorted(before.label_names(name))} vs ours {sorted(ours.label_names(name))}"
        else:
            continue
        SEEN.setdefault(name, set()).add(haproxy_bin.name)
        if table.get(name) != kind:
            unexplained.append(f"{name}: {kind} {detail}")
    assert unexplained == [], f"not in docs/promex-differences.md ({haproxy_bin.version}): {unexplained}"

    # 2. counters between promex's two reads; _seconds gauges equal while nothing moves them
    compared = {"counter": 0, "seconds": 0, "averages": 0}
    for name, kind in before.types.items():
        if name not in ours.types or ours.types[name] != kind:
            continue
        for labels, low in before.samples.get(name, {}).items():
            high = after.samples.get(name, {}).get(labels)
            if high is None or low != low or high != high:
                continue  # NaN in promex: an empty cell, which gives no series here
            if kind != "counter" and not (name.endswith("_seconds") and low == high):
                continue
            mine = ours.samples.get(name, {}).get(labels)
            assert mine is not None, f"{name}{dict(labels)} is in promex's page, not in ours"
            if kind == "counter":
                assert low <= mine <= high, f"{name}{dict(labels)}: promex {low}..{high}, ours {mine}"
                compared["counter"] += 1
            elif "_average_seconds" in name and ("proxy", "be_slow") not in labels:
                continue  # a window promex has not filled yet: its average is biased low, show stat's not
            else:
                assert mine == pytest.approx(low, abs=1e-9), f"{name}{dict(labels)}: promex {low}, ours {mine}"
                compared["averages" if "_average_seconds" in name else "seconds"] += 1
    assert compared["counter"] > 200 and compared["seconds"] > 20 and compared["averages"] >= 8, compared
    seen = sorted(n for n, versions in SEEN.items() if haproxy_bin.name in versions)
    print(f"HAProxy {haproxy_bin.version}: {len(before.with_values())} promex families with a value, "
          f"{len(before.with_values()) - len(seen)} the same in ours; samples compared {compared}; differences {seen}")
    slow = ours.samples["haproxy_backend_response_time_average_seconds"][(("proxy", "be_slow"),)]
    assert 0.004 < slow < 1.0, f"5 ms responses must read as about 0.005 s, got {slow}"  # the unit, again


def local_updates(text: str) -> dict[str, int]:
    """{table: localupdate} from ``show peers``, read here: the ``table:`` lines under the peers."""
    return {name: int(n) for name, n in re.findall(r"^ +table:\S+ id=(\S+) .*?\blocalupdate=(\d+)", text, flags=re.M)}


def test_local_updates_as_show_peers_and_promex_say(haproxy_factory, haproxy_bin, origin: int) -> None:
    """haproxy_sticktable_local_updates: a shared table's is show peers' localupdate (and promex's,
    3.4+), a table no peers section shares has 0 (promex's too)."""
    hap = haproxy_factory(CFG.replace("{p5}", str(origin)), nports=7)
    for _ in range(3):
        hap.get(0)  # tracked in both tables, whatever the answer (the checks need not have settled)

    def settled() -> bool:  # HAProxy counts a local update when a task takes the pending ones
        first = local_updates(hap.cmd("show peers"))
        return first.get("st_shared", 0) > 0 and first == local_updates(hap.cmd("show peers"))

    wait_for(settled, 10, "show peers never showed a local update of st_shared")
    direct = local_updates(hap.cmd("show peers"))
    assert set(direct) == {"st_shared"}  # st_alone is in no peers section
    with urllib.request.urlopen(f"http://127.0.0.1:{hap.ports[4]}/metrics?scope=sticktable", timeout=10) as resp:
        promex = Page(resp.read().decode())
    config = build_config({"haproxy": {"address": hap.user}})
    store = new_store(config, SYSTEM_CLOCK)
    assert Poller(config, store).poll_once()
    ours = Page(b"".join(p.text for p in store.parts()).decode())
    assert local_updates(hap.cmd("show peers")) == direct  # nothing moved meanwhile
    name = "haproxy_sticktable_local_updates"
    want = {(("name", "st_shared"), ("type", "ip")): direct["st_shared"], (("name", "st_alone"), ("type", "ip")): 0}
    assert ours.types[name] == "gauge" and ours.samples[name] == want
    if haproxy_bin.name == "3.4":
        assert promex.types[name] == "gauge" and promex.samples[name] == want
    else:
        assert name not in promex.types


# promex's query parameters, each version's set (promex_parse_uri): 2.6 and 2.8 know scope and no-maint.
QUERIES = ["scope=server", "scope=frontend&scope=backend", "scope=global", "scope=listener", "scope=",
           "scope=server&no-maint", "no-maint", "scope=sticktable"]
QUERIES_3 = ["metrics=haproxy_server_status,haproxy_backend_bytes_in_total,haproxy_process_nbthread",
             "scope=server&metrics=-haproxy_server_status", "scope=resolver",
             "extra-counters", "scope=frontend&scope=server&extra-counters"]
MODULE_COUNTER = "haproxy_<scope>_<module counter>"  # the table's row for promex's extra counters' names


def renamed(name: str, theirs: Page, mine: Page) -> bool:
    """A promex module counter we serve under the same name with _total (the table's row)."""
    return theirs.types.get(name) == "counter" and mine.types.get(name + "_total") == "counter" and bool(
        mine.label_names(name + "_total") & {"mod"})
REFUSED = ["scope=bogus", "scope", "scope=server=1"]
OWN = ("haproxy_up", "haproxy_exporter_", "process_")  # the exporter's own: always served


def test_promex_query_parameters_select_what_promex_selects(haproxy_factory, haproxy_bin, origin: int) -> None:
    hap = haproxy_factory(CFG.replace("{p5}", str(origin)), nports=7)
    wait_for(lambda: "MAINT" in hap.cmd("show stat") and "L7OK" in hap.cmd("show stat"), 15, "checks did not settle")
    config = build_config({"haproxy": {"address": hap.admin}})
    store = new_store(config, SYSTEM_CLOCK)
    poller = Poller(config, store)
    assert poller.poll_once()

    def promex(query: str) -> tuple[int, Page | None]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{hap.ports[4]}/metrics?{query}", timeout=10) as resp:
                return resp.status, Page(resp.read().decode())
        except urllib.error.HTTPError as exc:
            return exc.code, None

    def ours(query: str) -> tuple[int, Page | None]:
        response = parts_response(store.parts(), Request("GET", "/metrics", query, {}))
        body = b"".join(response.body)
        return response.status, Page(body.decode()) if response.status == 200 else None

    major = int(haproxy_bin.version.split(".")[0])
    for query in REFUSED:
        assert promex(query)[0] == ours(query)[0] == 400, query
    _, full = promex("scope=*")
    assert full is not None
    table = documented()
    for query in QUERIES + (QUERIES_3 if major >= 3 else []):
        status, theirs = promex(query)
        got_status, mine = ours(query)
        assert status == got_status == 200 and theirs is not None and mine is not None, query
        mine_haproxy = {n for n in mine.types if not n.startswith(OWN)}
        # every family promex selects, we select (or it is a documented difference of names)
        missing = [n for n in theirs.with_values() if n not in mine.types and table.get(n) != "missing"]
        if any(renamed(n, theirs, mine) for n in missing):
            SEEN.setdefault(MODULE_COUNTER, set()).add(haproxy_bin.name)
            assert table.get(MODULE_COUNTER) == "name", f"{query}: module counters renamed, not in the table"
            missing = [n for n in missing if not renamed(n, theirs, mine)]
        assert missing == [], f"{query}: promex serves, we do not: {missing}"
        # nothing promex knows and left out
        extra = sorted(n for n in mine_haproxy if n in full.types and n not in theirs.types)
        assert extra == [], f"{query}: we serve what promex leaves out: {extra}"
        # the servers are promex's servers (no-maint)
        def servers(page: Page) -> set[tuple[str, str]]:
            return {(dict(labels).get("proxy", ""), dict(labels).get("server", "")) for n, by in page.samples.items()
                    if n.startswith("haproxy_server_") for labels in by}
        assert servers(mine) == servers(theirs), query
    _, maintless = ours("no-maint")
    assert maintless is not None and ("be_app", "maint1") not in {
        (dict(labels)["proxy"], dict(labels)["server"]) for labels in maintless.samples.get("haproxy_server_weight", {})}
    _, everything = ours("")
    assert everything is not None and ("be_app", "maint1") in {
        (dict(labels)["proxy"], dict(labels)["server"]) for labels in everything.samples.get("haproxy_server_weight", {})}


def test_every_documented_difference_is_real() -> None:
    """Runs after the side-by-side runs above (same module): a row nobody saw is stale."""
    if not SEEN:
        pytest.skip("the side-by-side test did not run (no HAProxy with promex here)")
    stale = [name for name in documented() if name not in SEEN]
    assert stale == [], f"rows of docs/promex-differences.md no version showed: {stale}"

