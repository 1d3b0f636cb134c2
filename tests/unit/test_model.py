"""The metric model on captured real outputs, read back through prometheus_client's parser."""

import csv
import io
import math

import pytest
from exposition import samples, types, value
from layouts import old_info, old_stat
from models import build_families

from exporter.exposition.render import render
from exporter.sources import values
from exporter.sources.info import naming as info_naming
from exporter.sources.info.parse import parse_info
from exporter.sources.stat import naming
from exporter.sources.stat.parse import parse_stat

SCOPE = {"0": "frontend", "1": "backend", "2": "server", "3": "listener"}


def exposition(info_text, stat_text):
    families, stats = build_families(parse_info(info_text) if info_text else None,
                                     parse_stat(stat_text) if stat_text else None)
    return render(families), stats


def csv_rows(text):
    header, _, body = text.partition("\n")
    names = header[2:].rstrip(",").split(",")
    return [dict(zip(names, r)) for r in csv.reader(io.StringIO(body)) if r]


def labels_for(row):
    scope = SCOPE[row["type"]]
    if scope == "server":
        return scope, {"proxy": row["pxname"], "server": row["svname"]}
    if scope == "listener":
        return scope, {"proxy": row["pxname"], "listener": row["svname"]}
    return scope, {"proxy": row["pxname"]}


@pytest.mark.parametrize("version", ["2.6.12", "3.2.0", "3.3.0"])
def test_every_mapped_cell_is_exported_with_its_value(fixtures, version):
    stat_text = (fixtures / version / "show-stat.csv").read_text()
    text, _ = exposition(None, stat_text)
    got = samples(text)
    checked = 0
    for row in csv_rows(stat_text):
        scope, labels = labels_for(row)
        for metric in naming.STAT_METRICS:
            cell = row.get(metric.column, "")
            exported = value(got, metric.name_for(scope), **labels)
            if cell == "":
                assert exported is None, (metric.column, labels)  # empty cell: no series, not NaN
                continue
            expected = int(cell) / 1000 if metric.scale == values.MS else int(cell)
            assert exported == pytest.approx(expected, abs=1e-12), (metric.column, labels)
            checked += 1
        for column, code in naming.HTTP_RESPONSE_CODES:
            if row.get(column):
                assert value(got, f"haproxy_{scope}_http_responses_total", code=code, **labels) == int(row[column])
    assert checked > 100


def test_module_columns_are_exported_by_name(fixtures):
    stat_text = (fixtures / "2.6.12" / "show-stat.csv").read_text()
    got = samples(exposition(None, stat_text)[0])
    fe = next(r for r in csv_rows(stat_text) if r["svname"] == "FRONTEND")
    # With promex's extra counters' mod label (the module's name: the column's prefix)
    assert value(got, "haproxy_frontend_h1_bytes_in_total", proxy="fe_main", mod="h1") == int(fe["h1_bytes_in"])
    assert value(got, "haproxy_frontend_h1_open_connections", proxy="fe_main", mod="h1") == int(
        fe["h1_open_connections"])


def test_unknown_future_column_becomes_a_gauge_by_name():
    text = "# pxname,svname,type,scur,brand_new_metric,\nfe,FRONTEND,0,3,42,\n"
    got = samples(exposition(None, text)[0])
    assert value(got, "haproxy_frontend_brand_new_metric", proxy="fe") == 42
    assert value(got, "haproxy_frontend_current_sessions", proxy="fe") == 3


# Expected state for every status string HAProxy prints (reference sheet §1.4), written out here
# independently of the code under test.
SERVER_STATUS = {
    "UP": "UP", "UP 1/3": "UP", "DOWN": "DOWN", "DOWN 1/2": "DOWN", "NOLB": "NOLB", "NOLB 1/3": "NOLB",
    "DRAIN": "DRAIN", "DRAIN 2/3": "DRAIN", "DOWN (agent)": "DOWN", "DRAIN (agent)": "DRAIN",
    "MAINT": "MAINT", "MAINT (via be_a/a3)": "MAINT", "MAINT (resolution)": "MAINT", "no check": "UP",
}
BACKEND_STATUS = {"UP": "UP", "DOWN": "DOWN", "UP (2/3)": "UP", "DOWN (0/3)": "DOWN", "UP (6/6)": "UP"}
FRONTEND_STATUS = {"OPEN": "UP", "STOP": "DOWN", "PAUSED": "DOWN", "FULL": "UP"}
LISTENER_STATUS = {"OPEN": "OPEN", "WAITING": "WAITING", "FULL": "FULL"}
CHECK_STATUS = {"L7OK": "L7OK", "* L7OK": "L7OK", "L4CON": "L4CON", "* L4TOUT": "L4TOUT", "L7OKC": "L7OKC",
                "L7STS": "L7STS", "PROCOK": "PROCOK", "HANA": "HANA", "INI": None, "UNK": None}


def _status_csv():
    lines = ["# pxname,svname,status,check_status,agent_status,type,"]
    for i, status in enumerate(SERVER_STATUS):
        lines.append(f"be,s{i},{status},,,2,")
    for i, status in enumerate(BACKEND_STATUS):
        lines.append(f"be{i},BACKEND,{status},,,1,")
    for i, status in enumerate(FRONTEND_STATUS):
        lines.append(f"fe{i},FRONTEND,{status},,,0,")
    for i, status in enumerate(LISTENER_STATUS):
        lines.append(f"fe0,l{i},{status},,,3,")
    for i, status in enumerate(CHECK_STATUS):
        lines.append(f"chk,c{i},UP,{status},{status},2,")
    return "\n".join(lines) + "\n"


def test_state_sets_for_every_status_string():
    got = samples(exposition(None, _status_csv())[0])

    def current(name, states, **labels):
        ones = [s for s in states if value(got, name, state=s, **labels) == 1]
        assert all(value(got, name, state=s, **labels) in (0, 1) for s in states)
        assert len(ones) <= 1
        return ones[0] if ones else None

    for i, (status, state) in enumerate(SERVER_STATUS.items()):
        assert current("haproxy_server_status", naming.SERVER_STATES, proxy="be", server=f"s{i}") == state, status
    for i, (status, state) in enumerate(BACKEND_STATUS.items()):
        assert current("haproxy_backend_status", ("UP", "DOWN"), proxy=f"be{i}") == state, status
    for i, (status, state) in enumerate(FRONTEND_STATUS.items()):
        assert current("haproxy_frontend_status", ("UP", "DOWN"), proxy=f"fe{i}") == state, status
    for i, state in enumerate(LISTENER_STATUS.values()):
        assert current("haproxy_listener_status", naming.LISTENER_STATES, proxy="fe0", listener=f"l{i}") == state
    for i, (status, state) in enumerate(CHECK_STATUS.items()):
        for name in ("haproxy_server_check_status", "haproxy_server_agent_status"):
            assert current(name, naming.CHECK_STATES, proxy="chk", server=f"c{i}") == state, status


def test_no_check_status_means_no_check_series(fixtures):
    got = samples(exposition(None, (fixtures / "2.6.12" / "show-stat.csv").read_text())[0])
    # a3 is in MAINT: HAProxy leaves check_status empty, so no series at all
    assert not any(k[0] == "haproxy_server_check_status" and ("server", "a3") in k[1] for k in got)
    assert value(got, "haproxy_server_check_status", proxy="be_a", server="a1", state="L4CON") == 1


def test_aggregates_count_servers_per_state(fixtures):
    stat_text = (fixtures / "2.6.12" / "show-stat.csv").read_text()
    got = samples(exposition(None, stat_text)[0])
    rows = [r for r in csv_rows(stat_text) if r["type"] == "2" and r["pxname"] == "be_a"]
    assert [r["status"] for r in rows] == ["DOWN", "DOWN", "MAINT"]
    assert value(got, "haproxy_backend_agg_server_status", proxy="be_a", state="DOWN") == 2
    assert value(got, "haproxy_backend_agg_server_status", proxy="be_a", state="MAINT") == 1
    assert value(got, "haproxy_backend_agg_server_status", proxy="be_a", state="UP") == 0
    assert value(got, "haproxy_backend_agg_check_status", proxy="be_a", state="L4CON") == 2


def test_info_metrics_and_labels(fixtures):
    text, _ = exposition(None, (fixtures / "2.6.12" / "show-stat.csv").read_text())
    got = samples(text)
    assert value(got, "haproxy_server_info", proxy="be_b", server="b1", proxy_id="4", server_id="1",
                 addr="127.0.0.1:28201", mode="http", cookie="b1", tracked="") == 1
    assert value(got, "haproxy_backend_info", proxy="be_b", proxy_id="4", mode="http", algo="leastconn",
                 cookie="SRV") == 1
    assert value(got, "haproxy_server_info", proxy="be_extra", server="x1", proxy_id="5", server_id="1",
                 addr="127.0.0.1:28301", mode="http", cookie="", tracked="be_a/a3") == 1


@pytest.mark.parametrize("version", ["2.6.12", "3.2.0", "3.3.0"])
def test_show_info_fields(fixtures, version):
    info_text = (fixtures / version / "show-info.txt").read_text()
    info = parse_info(info_text)
    got = samples(exposition(info_text, None)[0])
    for metric in info_naming.INFO_METRICS:
        if metric.field not in info or (metric.fallback_for and metric.fallback_for in info):
            continue
        name = metric.name
        if metric.kind == naming.COUNTER:
            name = name  # sample names keep _total
        expected = int(info[metric.field]) * (metric.scale if metric.scale >= 1 else 1)
        if metric.scale < 1:
            expected = int(info[metric.field]) / 1000
        assert value(got, name) == pytest.approx(expected), metric.field
    assert value(got, "haproxy_process_build_info", version=info["Version"],
                 release_date=info["Release_date"]) == 1


@pytest.mark.parametrize("version", ["1.8", "2.0", "2.4"])
def test_older_layouts_export_what_they_have(version):
    text, stats = exposition(old_info(version), old_stat(version))
    got = samples(text)
    assert value(got, "haproxy_server_bytes_in_total", proxy="be_a", server="a1") == 0
    assert value(got, "haproxy_server_status", proxy="be_a", server="a3", state="MAINT") == 1
    assert (value(got, "haproxy_frontend_failed_header_rewriting_total", proxy="fe_main") is None) == (version == "1.8")
    # before 2.4 only the MB fields exist: exported in bytes under the same name
    pool = value(got, "haproxy_process_pool_allocated_bytes")
    assert pool is not None
    if version != "2.4":
        assert pool == int(parse_info(old_info(version))["PoolAlloc_MB"]) * 1024 * 1024
    assert stats.invalid_values == 0


def test_garbage_cells_are_skipped_and_counted():
    text = "# pxname,svname,type,scur,stot,\nfe,FRONTEND,0,12abc,7,\n"
    out, stats = exposition(None, text)
    got = samples(out)
    assert value(got, "haproxy_frontend_current_sessions", proxy="fe") is None
    assert value(got, "haproxy_frontend_sessions_total", proxy="fe") == 7
    assert stats.invalid_values == 1


def test_label_values_are_escaped():
    text = '# pxname,svname,type,scur,\n"we""ird\\\\px",FRONTEND,0,1,\n'
    got = samples(exposition(None, text)[0])
    assert value(got, "haproxy_frontend_current_sessions", proxy='we"ird\\\\px') == 1


def test_drop_in_names_and_types_match_promex(fixtures):
    """Every family HAProxy's built-in exporter printed for a similar config is ours too, with the
    same type, except where promex printed only NaN (we print no series for an empty cell)."""
    ours_text, _ = exposition((fixtures / "2.6.12" / "show-info.txt").read_text(),
                              (fixtures / "2.6.12" / "show-stat.csv").read_text())
    ours = types(ours_text)
    promex_text = (fixtures / "2.6.12" / "promex-metrics.txt").read_text()
    promex = types(promex_text)
    promex_samples = samples(promex_text)
    known_gaps = {
        "haproxy_server_check_code",  # promex prints 0 for an empty (L4) check code; we print nothing
        "haproxy_sticktable_size", "haproxy_sticktable_used",  # from show table, tested with the stick tables
        "haproxy_process_failed_resolutions",  # typed gauge by us: promex's counter lacks _total
    }
    for name, kind in promex.items():
        if name in known_gaps:
            continue
        all_nan = all(math.isnan(v) for (n, _), v in promex_samples.items() if n.startswith(name))
        if all_nan:
            continue
        assert name in ours, name
        assert ours[name] == kind, name
    assert ours["haproxy_process_failed_resolutions"] == "gauge"


def test_two_frontend_rows_of_one_name_make_one_series_each() -> None:
    """Found by fuzzing: frontends are named by pxname alone, so a second type-0 row of the same
    proxy (whatever its svname) must not make a second series, nor a column of the wrong length."""
    header = "# pxname,svname,qcur,scur,type,\n"
    text = header + "fe,FRONTEND,1,5,0,\nfe,OTHER,2,6,0,\n"
    families, _ = build_families(None, parse_stat(text))
    got = samples(render(families))
    assert value(got, "haproxy_frontend_current_queue", proxy="fe") == 1  # the first row
    assert value(got, "haproxy_frontend_current_sessions", proxy="fe") == 5
