"""The exporter against a real HAProxy: exported values equal what ``show stat``/``show info`` say.

HAProxy keeps counting while we read (checks run, the CLI connection itself counts), so the test
reads the socket directly just before and just after the exporter's poll and requires every
exported value to lie between the two readings; unchanged cells must match exactly.
"""

from __future__ import annotations

from exposition import samples, value
from support import stat_rows

from exporter.config import build_config
from exporter.poll.poller import Poller
from exporter.poll.snapshot import Store
from exporter.sources import values
from exporter.sources.info import naming as info_naming
from exporter.sources.stat import naming
from integration.conftest import EXPECTED_STATUS

SCOPE = {"0": "frontend", "1": "backend", "2": "server", "3": "listener"}


def poll(address: str) -> tuple[bool, str]:
    store = Store(30)
    ok = Poller(build_config({"haproxy": {"address": address}}), store).poll_once()
    return ok, b"".join(p.text for p in store.parts()).decode()


def labels_of(row):
    scope = SCOPE[row["type"]]
    extra = {"server": {"server": row["svname"]}, "listener": {"listener": row["svname"]}}.get(scope, {})
    return scope, {"proxy": row["pxname"], **extra}


def between(exported, before, after, scale):
    lo, hi = sorted((int(before) * scale, int(after) * scale))
    return lo - 1e-9 <= exported <= hi + 1e-9


def sandwich(hap, address):
    before = {(r["pxname"], r["svname"], r["type"]): r for r in hap.stat()}
    ok, text = poll(address)
    after = {(r["pxname"], r["svname"], r["type"]): r for r in hap.stat()}
    assert ok
    return before, samples(text), after, text


# Set back to 0 while a check runs (seen on 3.4 in CI: 200, then 0 in our read, then 200 again).
RESET_BY_A_RUNNING_CHECK = frozenset({"check_code", "check_duration", "agent_code", "agent_duration"})


def test_every_stat_value_equals_show_stat(states_haproxy):
    before, got, after, _ = sandwich(states_haproxy, states_haproxy.admin)
    compared = 0
    assert {k[2] for k in before} == {"0", "1", "2", "3"}
    for key, row in before.items():
        scope, labels = labels_of(row)
        for metric in naming.STAT_METRICS:
            cell = row.get(metric.column, "")
            exported = value(got, metric.name_for(scope), **labels)
            if cell == "" and after[key].get(metric.column, "") == "":
                assert exported is None, (key, metric.column)
                continue
            scale = 0.001 if metric.scale == values.MS else 1
            assert exported is not None, (key, metric.column)
            if metric.column in RESET_BY_A_RUNNING_CHECK and exported == 0:
                continue  # a check started between the reads (every 300 ms here): HAProxy 3.4 shows 0 meanwhile
            assert between(exported, cell, after[key][metric.column], scale), (key, metric.column, exported, cell)
            compared += 1
        for column, code in naming.HTTP_RESPONSE_CODES:
            if row.get(column):
                exported = value(got, f"haproxy_{scope}_http_responses_total", code=code, **labels)
                assert between(exported, row[column], after[key][column], 1), (key, column)
    assert compared > 300


def test_state_series_match_the_status_strings(states_haproxy):
    before, got, after, _ = sandwich(states_haproxy, states_haproxy.admin)
    for (proxy, server), (status, state) in EXPECTED_STATUS.items():
        row = before[(proxy, server, "2")]
        assert row["status"] == status == after[(proxy, server, "2")]["status"]
        for s in naming.SERVER_STATES:
            assert value(got, "haproxy_server_status", proxy=proxy, server=server, state=s) == (s == state), \
                (proxy, server, s)
        check = row["check_status"]
        for code in naming.CHECK_STATES:
            v = value(got, "haproxy_server_check_status", proxy=proxy, server=server, state=code)
            if not check:
                assert v is None  # no check (or paused in MAINT): no check series at all
            else:
                assert v == (code == check.lstrip("* ")), (proxy, server, code)
    # backends: UP while any usable server has weight, DOWN otherwise
    assert value(got, "haproxy_backend_status", proxy="be_app", state="UP") == 1
    assert value(got, "haproxy_backend_status", proxy="be_down", state="DOWN") == 1
    assert value(got, "haproxy_frontend_status", proxy="fe_web", state="UP") == 1
    assert value(got, "haproxy_listener_status", proxy="fe_web", listener="web", state="OPEN") == 1
    # computed aggregates agree with the rows HAProxy printed
    assert value(got, "haproxy_backend_agg_server_status", proxy="be_app", state="UP") == 3
    assert value(got, "haproxy_backend_agg_server_status", proxy="be_app", state="MAINT") == 1


# Levels that the reading itself moves by one: each read is a CLI connection, a stream and a task
# of HAProxy's, sometimes running when HAProxy counts them (seen with Run_queue on 2.8).
BUSY_WHILE_READ = {"Run_queue", "Tasks", "CurrConns", "Jobs", "CurrStreams", "Niced_tasks"}


def test_every_info_field_equals_show_info(states_haproxy):
    from support import raw_command

    def info():
        return dict(line.split(": ", 1) for line in raw_command(states_haproxy.admin, "show info").splitlines()
                    if ": " in line)

    before = info()
    ok, text = poll(states_haproxy.admin)
    after = info()
    got = samples(text)
    compared = 0
    for metric in info_naming.INFO_METRICS:
        if metric.field not in before or (metric.fallback_for and metric.fallback_for in before):
            continue
        exported = value(got, metric.name)
        lo, hi = sorted((int(before[metric.field]), int(after[metric.field])))
        if metric.field in BUSY_WHILE_READ:
            lo, hi = lo - 1, hi + 1
        scale = 0.001 if metric.scale == values.MS else metric.scale
        assert lo * scale - 1e-9 <= exported <= hi * scale + 1e-9, metric.field
        compared += 1
    assert compared > 50
    assert value(got, "haproxy_process_build_info", version=before["Version"], release_date=before["Release_date"]) == 1
    # The description as the config writes it (states.cfg), read back from HAProxy's CSV quoting.
    assert value(got, "haproxy_process_info", node="itest-node", description='quotes "here", commas') == 1
    assert value(got, "haproxy_process_description", desc='quotes "here", commas') == 1
    assert value(got, "haproxy_process_node", node="itest-node") == 1
    assert value(got, "haproxy_up") == 1


def test_level_user_tcp_socket(states_haproxy):
    """ipv4@ address, level user: everything but addr/cookie/algo (blanked by HAProxy) is there."""
    address = f"ipv4@127.0.0.1:{states_haproxy.ports[3]}"
    ok, text = poll(address)
    assert ok
    got = samples(text)
    user_rows = stat_rows(states_haproxy.cmd("show stat", ("127.0.0.1", states_haproxy.ports[3])))
    up1 = next(r for r in user_rows if r["svname"] == "up1")
    assert up1["addr"] == ""  # HAProxy blanks it at level user
    assert value(got, "haproxy_server_info", proxy="be_app", server="up1", proxy_id=up1["iid"],
                 server_id=up1["sid"], addr="", mode="http", cookie="", tracked="") == 1
    assert value(got, "haproxy_server_status", proxy="be_app", server="up1", state="UP") == 1
