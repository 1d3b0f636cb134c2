import csv
import io

import pytest

from exporter.runtime.errors import ParseError
from exporter.sources.stat.parse import BACKEND, FRONTEND, LISTENER, SERVER, parse_stat
from layouts import STAT_WIDTH, old_stat


def _reference_rows(text):
    """Independent reading of the same CSV with the csv module's DictReader."""
    header, _, body = text.partition("\n")
    names = header[2:].rstrip(",").split(",")
    return [dict(zip(names, r)) for r in csv.reader(io.StringIO(body)) if r]


@pytest.mark.parametrize("version", ["2.6.12", "3.2.0", "3.3.0"])
def test_captures_read_by_header_name(fixtures, version):
    text = (fixtures / version / "show-stat.csv").read_text()
    table = parse_stat(text)
    ref = _reference_rows(text)
    rows = [r for t in (FRONTEND, BACKEND, SERVER, LISTENER) for r in table.rows[t]]
    assert len(rows) == len(ref)
    by_key = {(r[0], r[1], r[table.index["type"]]): r for r in rows}
    for want in ref:
        got = by_key[(want["pxname"], want["svname"], want["type"])]
        for name, value in want.items():
            assert got[table.index[name]] == value, (version, name)
    # module columns after "-" are addressable by name
    assert "h1_open_connections" in table.index
    assert table.index["-"] < table.index["h1_open_connections"]


def test_row_types(fixtures):
    table = parse_stat((fixtures / "2.6.12" / "show-stat.csv").read_text())
    assert [r[1] for r in table.rows[FRONTEND]] == ["FRONTEND"]
    assert [r[1] for r in table.rows[LISTENER]] == ["sock-1"]
    assert {r[1] for r in table.rows[BACKEND]} == {"BACKEND"}
    assert [r[1] for r in table.rows[SERVER]] == ["a1", "a2", "a3", "b1", "b2", "b3", "x1"]


def test_column_positions_differ_between_versions_but_names_agree(fixtures):
    t26 = parse_stat((fixtures / "2.6.12" / "show-stat.csv").read_text())
    t33 = parse_stat((fixtures / "3.3.0" / "show-stat.csv").read_text())
    assert t26.index["agg_server_status"] == 100
    assert t26.index["-"] != t33.index["-"]
    assert t33.index["resbout"] > 100 and "resbout" not in t26.index


@pytest.mark.parametrize("version", sorted(STAT_WIDTH))
def test_older_layouts(version):
    table = parse_stat(old_stat(version))
    assert len(table.columns) == STAT_WIDTH[version]
    assert len(table.rows[SERVER]) == 7
    assert ("wrew" in table.index) == (version != "1.8")
    assert "-" not in table.index


def test_quoted_cells_with_commas_and_quotes():
    header = "# pxname,svname,status,last_chk,type,scur,\n"
    row = 'be,s1,DOWN,"Layer7 \\"bad\\", status",2,3,\n'.replace('\\"', '""')
    table = parse_stat(header + row)
    r = table.rows[SERVER][0]
    assert r[table.index["last_chk"]] == 'Layer7 "bad", status'
    assert r[table.index["scur"]] == "3"


def test_header_only_is_an_empty_table():
    table = parse_stat("# pxname,svname,type,\n")
    assert all(not rows for rows in table.rows.values())


@pytest.mark.parametrize("text,reason", [
    ("Permission denied\n", "permission_denied"),
    ("Unknown command, but maybe one of the following ones is a better match:\n", "unknown_command"),
    ("<!DOCTYPE html><html>\n", "unexpected_response"),
    ("", "unexpected_response"),
    ("# foo,bar,\n1,2,\n", "malformed_header"),
])
def test_not_a_csv_answer(text, reason):
    with pytest.raises(ParseError) as err:
        parse_stat(text)
    assert err.value.reason == reason


def test_row_cut_mid_way_rejects_the_whole_answer(fixtures):
    text = (fixtures / "2.6.12" / "show-stat.csv").read_text()
    cut = text[: text.index("be_b,b2") + 40]
    with pytest.raises(ParseError) as err:
        parse_stat(cut)
    assert err.value.reason == "malformed_row"
