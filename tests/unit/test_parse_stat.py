import csv
import io
from pathlib import Path

import pytest
from exposition import samples, value
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from layouts import STAT_WIDTH, old_stat

from exporter.exposition.render import render
from exporter.runtime.answer import Answer
from exporter.runtime.errors import ParseError
from exporter.sources.stat import parse
from exporter.sources.stat.model import stat_families
from exporter.sources.stat.parse import BACKEND, FRONTEND, LISTENER, SERVER, _split_cells, parse_header, parse_stat
from exporter.sources.values import ModelStats


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
        for name, wanted in want.items():
            assert got[table.index[name]] == wanted, (version, name)
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


def test_a_line_break_inside_a_quoted_cell_is_kept():
    """HAProxy quotes a cell holding a line break (csv_enc_append); the csv reading keeps it, and
    the rows after it are still rows of their own."""
    header = "# pxname,svname,status,last_chk,type,scur,cookie,\n"
    rows = ('be,s1,DOWN,"two\nlines",2,3,"c\r\nd",\n'
            'be,s2,UP,"",2,4,,\n')
    table = parse_stat(header + rows)
    s1, s2 = table.rows[SERVER]
    assert s1[table.index["last_chk"]] == "two\nlines"
    assert s1[table.index["cookie"]] == "c\r\nd"
    assert (s1[table.index["scur"]], s2[table.index["scur"]], s2[table.index["svname"]]) == ("3", "4", "s2")
    families = stat_families(table, ModelStats())
    got = samples(render(families))  # prometheus_client's parser reads the escaped label back
    assert value(got, "haproxy_server_info", proxy="be", server="s1", cookie="c\r\nd") == 1
    assert value(got, "haproxy_server_current_sessions", proxy="be", server="s2") == 4


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


# ---------------------------------------------------------------- the split path and the csv module

def csv_reading(text):
    """The reading of the csv module, the body read as a file (a quoted cell may hold a newline), as
    the parser did it before it split the whole answer at once: the oracle the split path is held
    to.  Returns (rows by type, unknown types) or the reason of the ParseError the answer must raise."""
    lines = text.split("\n")
    if not lines[0].startswith("# "):
        return "not a header"
    width = len(lines[0][2:].rstrip(",").split(",")) if lines[0].endswith(",") else len(lines[0][2:].split(","))
    names = lines[0][2:].split(",")
    names = names[:-1] if names and names[-1] == "" else names
    type_idx = names.index("type") if "type" in names else None
    rows, unknown = {t: [] for t in (FRONTEND, BACKEND, SERVER, LISTENER)}, {}
    try:
        for row in csv.reader(io.StringIO("\n".join(lines[1:]), newline=""), strict=True):
            if not row:
                continue  # an empty line
            if row[-1] == "":
                row.pop()
            if len(row) != width:
                return "malformed_row"
            kind = row[type_idx] if type_idx is not None else {"FRONTEND": "0", "BACKEND": "1"}.get(row[1], "2")
            if kind in rows:
                rows[kind].append(row)
            else:
                unknown[kind] = unknown.get(kind, 0) + 1
    except csv.Error:
        return "malformed_row"
    return rows, unknown


def reads_as_csv(text, block: int | None = None) -> None:
    want = csv_reading(text)
    try:
        table = parse_stat(text if block is None else Answer.of(text, block))
    except ParseError as exc:
        assert want in ("not a header", exc.reason), (exc.reason, want)
        return
    assert not isinstance(want, str), want
    assert (table.rows, table.unknown_types) == want


FIXTURES = Path(__file__).parent.parent / "fixtures"
# Every captured answer (the states-N files are extracts of a few columns, not answers).
CAPTURES = sorted(p for p in FIXTURES.rglob("*.csv") if p.read_text().startswith("# pxname,svname,qcur,"))


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_every_capture_is_split_in_one_go_and_reads_as_the_csv_module_reads_it(path):
    text = path.read_text()
    header, _, body = text.partition("\n")
    width = len(parse_header(header))
    body = body.rstrip("\n")
    assert _split_cells(Answer.of(body), width) is not None  # the fast path is the one real answers take
    reads_as_csv(text)
    table = parse_stat(text)
    columns = table.all_columns()
    for kind, numbers in table.kinds.items():  # a column of all rows, picked by row number, is the row's cell
        for number, row in zip(numbers, table.rows[kind]):
            assert [column[number] for column in columns] == row


def test_captures_cover_every_version():
    assert {p.relative_to(FIXTURES).parts[0] for p in CAPTURES} >= {"2.6.12", "2.8.25", "3.2.0", "3.3.0", "3.4.0"}


HEADER = "# pxname,svname,type,scur,status,\n"


@pytest.mark.parametrize("body,why", [
    ('be,s1,2,"3",UP,\n', "a quoted cell"),
    ("be,s1,2,3,UP\n", "no trailing comma (the csv module still reads it)"),
    ("be,s1,2,3,UP,x\n", "a cell after the trailing comma"),
    ("be,s1,2,3,UP,,\nbe,s2,2,3,\n", "one row a cell too long, the next a cell too short"),
    ("be,s1,2,3,UP,\n\nbe,s2,2,4,UP,\n", "an empty line between rows"),
    ("be,s1,2,3\r,UP,\n", "a carriage return"),
    ("be,s1,2,3\x00,UP,\n", "a NUL"),
    ("be,s1,7,3,UP,\nbe,s2,2,3,UP,\n", "a row type this parser does not know"),
])
def test_answers_the_split_cannot_read_alike_are_read_by_the_csv_module(body, why):
    reads_as_csv(HEADER + body)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(st.sampled_from(["", "0", "12", "UP", '"', '""', ",", "\r", "\x00", "x y", "\n", "2", "7"]),
                         min_size=3, max_size=7).map(",".join), max_size=6)
       .map(lambda rows: HEADER + "".join(row + ",\n" for row in rows)), st.sampled_from([None, 1, 20]))
def test_near_miss_answers_read_as_the_csv_module_reads_them(text, block):
    """In one string and in blocks of a line or a few (a quoted line break may end a block: the
    csv module then reads the cell on across it)."""
    reads_as_csv(text, block)


@pytest.mark.parametrize("block", [1, 150, 1000])
def test_answers_split_in_many_blocks_read_as_in_one(block):
    """Real answers come in blocks of about 600 rows (runtime/answer.py); the captures are smaller
    than one block, so here the blocks are made a few rows long (1: a row each)."""
    for path in CAPTURES:
        reads_as_csv(path.read_text(), block)
    text = (FIXTURES / "2.6.12" / "show-stat.csv").read_text()
    header, *rows = text.rstrip("\n").split("\n")
    for n in range(len(rows)):  # a row a cell short anywhere, in any block: the csv module's reading
        reads_as_csv("\n".join([header, *rows[:n], rows[n][:-2] + ",", *rows[n + 1:]]) + "\n", block)
        body = Answer.of("\n".join(rows[:n] + [rows[n][:-2]] + rows[n + 1:]), block)
        assert parse._split_cells(body, len(parse_header(header))) is None


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.sampled_from(["0", "12", "UP", "DOWN", ""]), min_size=5, max_size=5), min_size=1, max_size=8),
       st.lists(st.tuples(st.integers(0, 7), st.integers(0, 4), st.sampled_from(["0", "13", "MAINT", "x"])), max_size=4),
       st.sampled_from([None, 1, 2, 50]), st.booleans())
def test_a_table_read_against_the_last_one_reads_the_same_and_keeps_its_unchanged_columns(rows, edits, block,
                                                                                            another_row):
    """``previous`` (the last poll's columns) changes nothing in what is read: a column equal to its
    previous one is that very list, any other a list of its own; a table of another size ignores it."""
    def answer(cells):
        return "# pxname,svname,type,scur,status,\n" + "".join(",".join(["be", f"s{n}", "2", *row[3:]]) + ",\n"
                                                                for n, row in enumerate(cells))

    before = parse_stat(answer(rows))
    after_rows = [list(row) for row in rows]
    for row, column, new in edits:
        if row < len(after_rows) and column >= 3:
            after_rows[row][column] = new
    if another_row:
        after_rows.append(list(rows[0]))
    text = answer(after_rows)
    alone = parse_stat(text if block is None else Answer.of(text, block))
    against = parse_stat(text if block is None else Answer.of(text, block), previous=before.data)
    assert against.data == alone.data and against.kinds == alone.kinds
    for old, new in zip(before.data, against.data):
        assert (new is old) == (new == old and not another_row)
