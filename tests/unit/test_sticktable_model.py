"""Stick-table families from parsed dumps, read back with prometheus_client's own parser."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from exporter.exposition.render import render
from exporter.sources.sticktables.config import StickTableConfig
from exporter.sources.sticktables.model import entry_families, select_entries, summary_families
from exporter.sources.sticktables.naming import DEFAULT_SORT_ORDER
from exporter.sources.sticktables.parse import TableInfo, parse_table_dump, parse_table_summary

FIX = Path(__file__).parent.parent / "fixtures"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def labels(**kw: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(kw.items()))


def dump(name: str):  # type: ignore[no-untyped-def]
    return parse_table_dump((FIX / name).read_text())


def test_summary_families_promex_names() -> None:
    tables = parse_table_summary((FIX / "2.6.12/sticktable-keys-summary.txt").read_text())
    got = samples(render(summary_families(tables)))
    assert got[("haproxy_sticktable_size", labels(name="t_str", type="string"))] == 1024
    assert got[("haproxy_sticktable_used", labels(name="t_str", type="string"))] == 8
    assert got[("haproxy_sticktable_used", labels(name="t_arr", type="ip"))] == 0
    assert got[("haproxy_sticktable_utilization_ratio", labels(name="t_bin", type="binary"))] == 3 / 1024
    assert len(got) == 15


def test_summary_labels_match_the_promex_capture() -> None:
    promex = samples("".join(line + "\n" for line in (FIX / "2.6.12/promex-metrics.txt").read_text().split("\n")
                             if "sticktable" in line))
    ours = samples(render(summary_families([TableInfo("fe_main", "ip", 102400, 1)])))
    assert set(promex) <= set(ours)
    assert all(ours[k] == v for k, v in promex.items())


def test_entry_series_for_array_table() -> None:
    fams, stats = entry_families([(StickTableConfig("fe_gpc"), dump("2.6.12/show-table-arrays.txt"))])
    got = samples(render(fams))
    k = {"table": "fe_gpc", "key": "127.0.0.1"}
    expected = {
        ("haproxy_sticktable_entry_server_id", labels(**k)): 0,
        ("haproxy_sticktable_entry_conn_cur", labels(**k)): 0,
        ("haproxy_sticktable_entry_http_req_cnt", labels(**k)): 3,
        ("haproxy_sticktable_entry_http_fail_cnt", labels(**k)): 0,
        ("haproxy_sticktable_entry_gpt", labels(index="0", **k)): 0,
        ("haproxy_sticktable_entry_gpt", labels(index="1", **k)): 42,
        ("haproxy_sticktable_entry_gpc", labels(index="0", **k)): 3,
        ("haproxy_sticktable_entry_gpc", labels(index="1", **k)): 3,
        ("haproxy_sticktable_entry_gpc_rate", labels(index="0", period="10s", **k)): 3,
        ("haproxy_sticktable_entry_gpc_rate", labels(index="1", period="10s", **k)): 3,
        ("haproxy_sticktable_entry_use", labels(**k)): 0,
        ("haproxy_sticktable_entry_expire_seconds", labels(**k)): 59.994,
        ("haproxy_sticktable_entries_seen", labels(table="fe_gpc")): 1,
        ("haproxy_sticktable_entries_exported", labels(table="fe_gpc")): 1,
        ("haproxy_sticktable_entries_dropped", labels(table="fe_gpc")): 0,
    }
    assert got == expected  # server_key=- (no server) gives no series
    assert stats.invalid_values == 0


def test_legacy_gpc0_and_rates_with_period() -> None:
    fams, _ = entry_families([(StickTableConfig("fe_main"), dump("3.2.0/show-table-fe_main.txt"))])
    got = samples(render(fams))
    k = {"table": "fe_main", "key": "127.0.0.1"}
    assert got[("haproxy_sticktable_entry_gpc", labels(index="0", **k))] == 7
    assert got[("haproxy_sticktable_entry_http_req_rate", labels(period="10s", **k))] == 7
    assert got[("haproxy_sticktable_entry_conn_rate", labels(period="10s", **k))] == 7
    assert got[("haproxy_sticktable_entry_bytes_out_cnt", labels(**k))] == 1519


def test_weird_string_keys_survive_the_exposition() -> None:
    """Every key the parser decoded comes back unchanged through the exposition's label escaping."""
    table = dump("2.6.12/sticktable-keys-t_str.txt")
    fams, _ = entry_families([(StickTableConfig("t_str"), table)])
    got = samples(render(fams))
    keys = {dict(lab)["key"] for (name, lab) in got if name == "haproxy_sticktable_entry_gpc"}
    assert keys == {"a b", 'a"b\\\\c', 'b"q}{', "café", "sp ace=eq\\\\bs", "tab\there", "x=y", "\\xff\\xfe"}
    assert got[("haproxy_sticktable_entry_gpc", labels(table="t_str", key="x=y", index="0"))] == 6


def test_server_key_info() -> None:
    text = ("# table: be_app, type: ip, size:10, used:2\n"
            "0x1: key=10.0.0.1 use=1 exp=500 server_id=2 server_key=srv2\n"
            "0x2: key=10.0.0.2 use=0 exp=1500 server_id=0 server_key=-\n")
    fams, _ = entry_families([(StickTableConfig("be_app"), parse_table_dump(text))])
    got = samples(render(fams))
    info = {k: v for k, v in got.items() if k[0] == "haproxy_sticktable_entry_server_key_info"}
    assert info == {("haproxy_sticktable_entry_server_key_info",
                     labels(table="be_app", key="10.0.0.1", server="srv2")): 1}
    assert got[("haproxy_sticktable_entry_use", labels(table="be_app", key="10.0.0.1"))] == 1
    assert got[("haproxy_sticktable_entry_expire_seconds", labels(table="be_app", key="10.0.0.2"))] == 1.5


def test_unknown_type_kept_and_invalid_values_counted() -> None:
    text = ("# table: t, type: integer, size:10, used:1\n"
            "0x1: key=5 use=0 exp=0 gpc0=x future_cnt=4 future_rate(500)=2 9bad=1 conn_cnt=3\n")
    fams, stats = entry_families([(StickTableConfig("t"), parse_table_dump(text))])
    got = samples(render(fams))
    assert got[("haproxy_sticktable_entry_future_cnt", labels(table="t", key="5"))] == 4
    assert got[("haproxy_sticktable_entry_future_rate", labels(table="t", key="5", period="500ms"))] == 2
    assert got[("haproxy_sticktable_entry_conn_cnt", labels(table="t", key="5"))] == 3
    assert not [k for k in got if k[0] == "haproxy_sticktable_entry_gpc"]
    assert stats.invalid_values == 1


def big_dump(n: int, ties: bool = False):  # type: ignore[no-untyped-def]
    lines = [f"# table: big, type: integer, size:{n}, used:{n}"]
    for i in range(n):
        rate = 7 if ties else (i * 7919) % n  # a permutation of 0..n-1
        lines.append(f"0x{i:x}: key={i} use=0 exp={i} conn_cur={i % 5} http_req_rate(10000)={rate}")
    return parse_table_dump("\n".join(lines) + "\n")


def test_cap_keeps_the_highest_and_counts_the_rest() -> None:
    n, cap = 5000, 100
    table = big_dump(n)
    fams, _ = entry_families([(StickTableConfig("big", max_entries=cap, sort_by="http_req_rate"), table)])
    got = samples(render(fams))
    rates = [v for (name, _), v in got.items() if name == "haproxy_sticktable_entry_http_req_rate"]
    assert sorted(rates) == list(range(n - cap, n))
    assert got[("haproxy_sticktable_entries_seen", labels(table="big"))] == n
    assert got[("haproxy_sticktable_entries_exported", labels(table="big"))] == cap
    assert got[("haproxy_sticktable_entries_dropped", labels(table="big"))] == n - cap
    series_per_entry = 4  # use, expire_seconds, conn_cur, http_req_rate
    assert len([k for k in got if k[0].startswith("haproxy_sticktable_entry_")]) == cap * series_per_entry


def test_default_sort_prefers_request_rate() -> None:
    chosen = select_entries(big_dump(1000).entries, 10, None)
    assert chosen.sort_by == "http_req_rate"
    assert sorted(int(e.value("http_req_rate") or 0) for e in chosen.kept) == list(range(990, 1000))


def test_sort_by_use_exp_and_ties_keep_haproxy_order() -> None:
    entries = big_dump(300, ties=True).entries
    assert [e.key for e in select_entries(entries, 3, "exp").kept] == ["299", "298", "297"]
    assert [e.key for e in select_entries(entries, 3, "http_req_rate").kept] == ["0", "1", "2"]


def test_sort_by_not_stored_falls_back_and_says_so() -> None:
    entries = big_dump(50).entries
    chosen = select_entries(entries, 5, "gpc0")
    assert chosen.sort_missing and chosen.sort_by == "http_req_rate"
    fams, stats = entry_families([(StickTableConfig("big", max_entries=5, sort_by="gpc0"), big_dump(50))])
    assert stats.sort_missing == ["big"]
    assert not select_entries(entries, 50, "gpc0").sort_missing  # under the cap nothing is ranked


def test_tables_share_families() -> None:
    a = parse_table_dump("# table: a, type: ip, size:9, used:1\n0x1: key=1.1.1.1 use=0 exp=1 gpc0=1\n")
    b = parse_table_dump("# table: b, type: ip, size:9, used:1\n0x2: key=1.1.1.1 use=0 exp=1 gpc0=2\n")
    fams, _ = entry_families([(StickTableConfig("a"), a), (StickTableConfig("b"), b)])
    text = render(fams)
    assert text.count("# TYPE haproxy_sticktable_entry_gpc gauge") == 1
    got = samples(text)
    assert got[("haproxy_sticktable_entry_gpc", labels(table="b", key="1.1.1.1", index="0"))] == 2


def test_promtool_accepts_the_output() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed")
    tables = parse_table_summary((FIX / "2.6.12/sticktable-keys-summary.txt").read_text())
    fams, _ = entry_families([(StickTableConfig("t_str"), dump("2.6.12/sticktable-keys-t_str.txt")),
                              (StickTableConfig("fe_gpc"), dump("2.6.12/show-table-arrays.txt"))])
    text = render(summary_families(tables) + fams)
    result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def _oracle(rows: list[tuple[int, int, dict[str, str]]], cap: int, sort_by: str | None) -> list[int]:
    """Which rows (by position) are exported, written from the documented rule, not from the code:
    all under the cap; over it, the highest by sort_by (the default order's first stored numeric
    type when sort_by is not stored or not given; a missing value, or one that is not a number of
    at most 20 digits, ranks last), ties in the dump's order."""
    if len(rows) <= cap:
        return list(range(len(rows)))
    first = rows[0][2]
    if sort_by not in ("use", "exp") and sort_by not in first:
        numeric = [name for name, v in first.items() if v.isdigit()]
        sort_by = next((n for n in DEFAULT_SORT_ORDER if n in numeric), numeric[0] if numeric else None)

    def rank(i: int) -> int:
        use, exp, data = rows[i]
        if sort_by is None:
            return 0
        text = str(use) if sort_by == "use" else str(exp) if sort_by == "exp" else data.get(sort_by, "")
        return int(text) if text.lstrip("-").isdigit() and len(text.lstrip("-")) <= 20 else -1

    return sorted(range(len(rows)), key=lambda i: -rank(i))[:cap]  # sorted() is stable: ties in order


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), st.sampled_from(["0", "1", "2", "7", "x", "9" * 21]),
                          st.sampled_from(["0", "5", "5"])), min_size=1, max_size=60),
       st.integers(1, 70), st.sampled_from([None, "use", "exp", "gpc0", "http_req_rate", "conn_cur"]))
def test_a_dump_read_with_its_cap_keeps_what_the_rule_says(rows, cap, sort_by) -> None:
    """The dump is ranked while read (only the kept entries are made): the same entries, in the
    same order, as the rule applied to the whole table."""
    table = [(use, exp, {"gpc0": gpc0, "http_req_rate": rate}) for use, exp, gpc0, rate in rows]
    text = "# table: t, type: integer, size:100, used:9\n" + "".join(
        f"0x{i:x}: key={i} use={use} exp={exp} gpc0={d['gpc0']} http_req_rate(10000)={d['http_req_rate']}\n"
        for i, (use, exp, d) in enumerate(table))
    want = [str(i) for i in _oracle(table, cap, sort_by)]
    dump = parse_table_dump(text, max_entries=cap, sort_by=sort_by)
    assert [e.key for e in dump.entries] == want
    assert dump.seen == len(rows)
    assert dump.sort_missing == (len(rows) > cap and sort_by == "conn_cur")
    assert [e.key for e in select_entries(parse_table_dump(text).entries, cap, sort_by).kept] == want


# ---------------------------------------------------------------- local updates (show peers)

def peers_answer(version: str) -> str:
    return (FIX / version / "show-peers.txt").read_text()[:-1]  # as the client gives it


@pytest.mark.parametrize("version", ["2.6.12", "2.8.25", "3.2.0", "3.4.0"])
def test_local_updates_of_shared_tables_from_show_peers_and_0_for_the_others(version: str) -> None:
    """Each table's localupdate under the peers sharing it (the capture's own numbers, read here with
    a pattern of the test's), 0 for a table no peers section shares."""
    import re

    from exporter.sources.peers.parse import parse_peers
    from exporter.sources.sticktables.model import local_updates_family

    text = peers_answer(version)
    direct = {name: int(n) for name, n in re.findall(r"table:\S+ id=(\S+) update=\d+ localupdate=(\d+)", text)}
    assert set(direct) == {"st_src", "st_other"}
    tables = [TableInfo("st_src", "ip", 1024, 1), TableInfo("st_other", "ip", 1024, 0),
              TableInfo("st_alone", "string", 100, 3)]
    family, invalid = local_updates_family(tables, parse_peers(text))
    got = samples(render([family]))
    assert invalid == 0 and len(got) == 3
    for table in tables:
        assert got[("haproxy_sticktable_local_updates", labels(name=table.name, type=table.type))] == \
            direct.get(table.name, 0)
    assert direct["st_src"] > 0  # a number moved by the capture's traffic, not a 0 everywhere


def test_a_shared_table_without_its_number_is_no_series_not_0() -> None:
    """0 means "in no peers section"; a shared table whose localupdate= is missing or no number is
    left out and counted, never reported as 0."""
    from exporter.sources.peers.parse import Peer
    from exporter.sources.sticktables.model import local_updates_family

    peers = [Peer("s", "a", False, "active", tables={"t1": {"update": "3"}, "t2": {"localupdate": "x"},
                                                        "t3": {"localupdate": "7"}}),
             Peer("s", "me", True, "inactive", tables={"t1": {"update": "3"}, "t2": {"localupdate": "x"},
                                                        "t3": {"localupdate": "7"}})]
    tables = [TableInfo(name, "ip", 10, 1) for name in ("t1", "t2", "t3", "t4")]
    family, invalid = local_updates_family(tables, peers)
    got = samples(render([family]))
    assert invalid == 2
    assert got == {("haproxy_sticktable_local_updates", labels(name="t3", type="ip")): 7,
                   ("haproxy_sticktable_local_updates", labels(name="t4", type="ip")): 0}
