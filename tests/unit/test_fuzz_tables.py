"""Property-based tests for the readings of tables of values: ``show stat`` (the split and the csv
reading), ``show peers``, stick-table dumps and the value rules they share.

Any input gives a result or a ParseError (never another exception), and whatever the models
build from it renders to a page prometheus_client reads back with every value a finite float, no
counter below zero and no series twice.  (prometheus_client reads a 400-digit integer as
``inf``; Prometheus's own parser refuses the page: the finite check is what stands for it.)
Where an independent writer exists, the reading is held to it: CSV written as HAProxy quotes it
(csv_enc_append), stick-table keys escaped as HAProxy prints them (dump_text).
"""

from __future__ import annotations

import math
from pathlib import Path

from exposition import label_bytes, samples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from exporter.exposition.families import Family, LabelSet
from exporter.exposition.render import render
from exporter.runtime.errors import ParseError
from exporter.sources.peers.model import peer_families
from exporter.sources.peers.parse import parse_peers
from exporter.sources.stat.model import stat_families
from exporter.sources.stat.parse import parse_stat
from exporter.sources.sticktables.config import StickTableConfig
from exporter.sources.sticktables.model import entry_families, local_updates_family, summary_families
from exporter.sources.sticktables.parse import TableInfo, key_text, parse_table_dump, parse_table_summary
from exporter.sources.values import COUNTER, GAUGE, MIB, MS, ModelStats, number_text, plain_column, scaled_text

FIXTURES = Path(__file__).parent.parent / "fixtures"
STAT_TEXT = (FIXTURES / "faults" / "show-stat.csv").read_text()
HEADER = STAT_TEXT.split("\n", 1)[0][2:].rstrip(",").split(",")
PEERS_TEXT = (FIXTURES / "3.4.0" / "show-peers.txt").read_text()[:-1]  # as the client gives it

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Numbers that are almost numbers, and numbers no HAProxy prints.
NUMBERISH = st.one_of(
    st.integers(-2**70, 2**70).map(str),
    st.integers(1, 5000).map(lambda n: "9" * n),
    st.integers(1, 500).map(lambda n: "-" + "1" * n),
    st.sampled_from(["", "-", "-0", "+1", "1e5", "1.5", "0x10", " 1", "1_0", "١٢", "²", "NaN", "inf", "00"]),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=6),
)
SAFE_TEXT = st.characters(blacklist_categories=("Cs",))


def read_back(text: str) -> list[tuple[str, str, dict[str, str], float]]:
    """(family type, sample name, labels, value) of every sample, through prometheus_client's
    parser; ``samples`` (tests/exposition.py) also fails on a series written twice."""
    samples(text)
    return [(family.type, s.name, s.labels, s.value)
            for family in text_string_to_metric_families(text) for s in family.samples]


def valid_page(families: list[Family]) -> list[tuple[str, str, dict[str, str], float]]:
    got = read_back(render(families))
    for kind, name, labels, value in got:
        assert math.isfinite(value), (name, labels, value)  # Prometheus refuses what float64 cannot hold
        assert kind != "counter" or value >= 0, (name, labels, value)
    return got


# ---------------------------------------------------------------- the value rules

@FAST
@given(NUMBERISH, st.sampled_from([COUNTER, GAUGE]), st.sampled_from([1, MS, MIB]))
def test_a_value_is_a_finite_number_prometheus_reads_or_none(cell: str, kind: str, scale: float) -> None:
    text = number_text(cell, kind)
    if text is not None:
        assert text == cell and len(text.lstrip("-")) <= 20 and text.lstrip("-").isdigit() and text.isascii()
        assert not (kind == COUNTER and text.startswith("-"))
    scaled = scaled_text(cell, scale, kind)
    assert (scaled is None) == (text is None)
    if scaled is not None:
        fam = Family("haproxy_x_total" if kind == COUNTER else "haproxy_x", kind, "h", [(LabelSet(()), scaled)], scope="global")
        [(_, _, _, value)] = valid_page([fam])
        assert value == int(cell) * scale or math.isclose(value, int(cell) * scale, rel_tol=1e-12)


@FAST
@given(st.lists(NUMBERISH, max_size=8))
def test_the_plain_column_path_takes_exactly_the_cells_the_cell_path_takes_as_they_are(cells: list[str]) -> None:
    """show stat's fast path (a whole column at once) agrees with the cell by cell reading."""
    plain = plain_column(cells, "".join(cells))
    by_cell = any(cells) and all(number_text(c, COUNTER) == c for c in cells if c)
    assert plain == by_cell


# ---------------------------------------------------------------- show stat

def haproxy_csv_cell(text: str) -> str:
    """A cell as HAProxy writes it (csv_enc_append): quoted when it holds a line break, a comma or a
    quote, quotes doubled.  Written here from HAProxy's source, not from the csv module."""
    if any(char in text for char in '\n\r,"'):
        return '"' + text.replace('"', '""') + '"'
    return text


# show stat cells: integers, numbers no HAProxy prints (a few long ones: a row has 80 cells), any text
STAT_CELL = st.one_of(st.integers(-2**70, 2**70).map(str),
                      st.sampled_from(["", "-1", "9" * 21, "9" * 400, "9" * 5000, "-" + "9" * 20, "1.5", "١٢"]))
CELL_TEXT = st.text(st.one_of(st.sampled_from(list('\n\r,"x 0-')), SAFE_TEXT), max_size=8)
NAME = st.text(st.one_of(st.sampled_from(list('\n\r,"_.')), st.characters(blacklist_categories=("Cs",),
                                                                           blacklist_characters="\x00")),
               min_size=1, max_size=8)


@st.composite
def quoted_tables(draw: st.DrawFn) -> tuple[str, list[list[str]]]:
    """A show stat answer on the real header, cells of any text written as HAProxy quotes them."""
    rows = []
    for _ in range(draw(st.integers(1, 3))):
        row = [draw(st.one_of(STAT_CELL, CELL_TEXT).filter(lambda c: "\x00" not in c)) for _ in HEADER]
        row[0], row[1] = draw(NAME), draw(NAME)
        row[HEADER.index("type")] = draw(st.sampled_from("0123"))
        rows.append(row)
    body = "".join(",".join(map(haproxy_csv_cell, row)) + ",\n" for row in rows)
    return "# " + ",".join(HEADER) + ",\n" + body, rows


@SLOW
@given(quoted_tables())
def test_show_stat_reads_back_every_cell_haproxy_wrote_and_renders_a_valid_page(
        answer: tuple[str, list[list[str]]]) -> None:
    """Whatever a cell holds (line breaks, CR, commas, quotes, numbers no HAProxy prints), the
    reading gives it back, every row stays a row, and the page is valid."""
    text, rows = answer
    table = parse_stat(text)
    read = [[column[r] for column in table.data] for r in range(len(rows))]
    assert read == rows
    valid_page(stat_families(table, ModelStats()))


@FAST
@given(st.text(st.one_of(st.sampled_from(list(',"\n\r0-')), SAFE_TEXT), max_size=300))
def test_show_stat_raises_nothing_but_parse_error(body: str) -> None:
    text = "# pxname,svname,type,scur,stot,status,\n" + body
    try:
        table = parse_stat(text)
    except ParseError:
        return
    valid_page(stat_families(table, ModelStats()))


# ---------------------------------------------------------------- show peers

def mutations(base: str) -> st.SearchStrategy[str]:
    """A real answer with a slice replaced, cut at any character (with a newline after, or not),
    or lines dropped or repeated."""
    lines = base.split("\n")
    noise = st.text(st.one_of(st.sampled_from(list(" =:()\n-0123456789")), SAFE_TEXT), max_size=40)
    return st.one_of(
        st.tuples(st.integers(0, len(base)), st.integers(0, 40), noise).map(
            lambda t: base[:t[0]] + t[2] + base[t[0] + t[1]:]),
        st.tuples(st.integers(0, len(base)), st.sampled_from(["", "\n", "\n\n"])).map(lambda t: base[:t[0]] + t[1]),
        st.lists(st.integers(0, len(lines) - 1), max_size=4).map(
            lambda drop: "\n".join(line for i, line in enumerate(lines) if i not in drop)),
        st.tuples(st.integers(0, len(lines) - 1), st.integers(1, 3)).map(
            lambda t: "\n".join(lines[:t[0]] + [lines[t[0]]] * t[1] + lines[t[0] + 1:])),
        st.integers(1, 20).map(lambda n: base.replace("tx_hbt=1", "tx_hbt=" + "9" * (n * 50))),
    )


FULL = parse_peers(PEERS_TEXT)


@FAST
@given(mutations(PEERS_TEXT))
def test_show_peers_of_anything_near_a_real_answer(text: str) -> None:
    try:
        peers = parse_peers(text)
    except ParseError as exc:
        assert exc.reason in ("truncated", "malformed", "unexpected_response", "unknown_command",
                              "permission_denied"), exc.reason
        return
    stats = ModelStats()
    valid_page(peer_families(peers, stats))
    tables = [TableInfo(name, "ip", 10, 1) for name in ("st_src", "st_other", "st_none")]
    family, _ = local_updates_family(tables, peers)
    valid_page([family])


@FAST
@given(st.integers(0, len(PEERS_TEXT)))
def test_a_cut_answer_never_reads_as_part_of_a_peer(cut: int) -> None:
    """Cut at any character and given a closing newline: refused, or every peer read is the whole
    answer's, with all it says (a cut inside the last line of the last peer loses only that line)."""
    prefix = PEERS_TEXT[:cut]
    try:
        peers = parse_peers(prefix if prefix.endswith("\n") else prefix + "\n")
    except ParseError:
        return
    assert len(peers) in (0, 2, 4)  # whole sections only
    for got, full in zip(peers, FULL):
        assert (got.section, got.name, got.local) == (full.section, full.name, full.local)
        if not got.local:
            assert got.fields == full.fields and got.tables == full.tables


@FAST
@given(st.text(st.one_of(st.sampled_from(list(" \n=:()0x-[]")), SAFE_TEXT), max_size=300))
def test_show_peers_raises_nothing_but_parse_error(text: str) -> None:
    try:
        peers = parse_peers(text)
    except ParseError:
        return
    valid_page(peer_families(peers, ModelStats()))


# ---------------------------------------------------------------- stick tables

def dump_text(key: bytes) -> str:
    """A string key as HAProxy prints it (dump_text in src/tools.c), written here from its source."""
    out = []
    for byte in key:
        char = chr(byte)
        if 0x20 < byte < 0x7F and char not in "\\=":
            out.append(char)
        elif char in "\t\n\r\x1b\\ =":
            out.append("\\" + {"\t": "t", "\n": "n", "\r": "r", "\x1b": "e"}.get(char, char))
        else:
            out.append(f"\\x{byte:02X}")
    return "".join(out)


KEY = st.binary(min_size=1, max_size=12).filter(lambda b: b"\x00" not in b)  # a string key ends at NUL
RAW_BYTES = st.one_of(KEY, st.sampled_from([b"\xff", b"\\xff", b"\\\\", b"caf\xc3\xa9", b"\xc3(", b"\\x41", b"A"]))


@FAST
@given(st.lists(RAW_BYTES, min_size=1, max_size=12, unique=True))
def test_string_keys_get_labels_that_read_back_to_their_bytes(keys: list[bytes]) -> None:
    labels = [key_text(dump_text(key), "string") for key in keys]
    assert [label_bytes(label) for label in labels] == keys  # so no two keys share a label
    for label in labels:
        label.encode("utf-8")


@st.composite
def table_dumps(draw: st.DrawFn) -> tuple[str, dict[bytes, str]]:
    keys = draw(st.lists(RAW_BYTES, min_size=1, max_size=8, unique=True))
    lines = [f"# table: t, type: string, size:100, used:{len(keys)}"]
    values = {}
    for n, key in enumerate(keys):
        values[key] = draw(NUMBERISH.filter(lambda c: " " not in c and "\n" not in c and "\r" not in c))
        rate = draw(NUMBERISH.filter(lambda c: " " not in c and "\n" not in c and "\r" not in c))
        lines.append(f"0x{n:x}: key={dump_text(key)} use={n} exp=1000 gpc0={values[key]} "
                     f"http_req_rate(10000)={rate}")
    return "\n".join(lines) + "\n", values


@FAST
@given(table_dumps())
def test_a_dump_of_any_keys_and_values_renders_one_valid_series_per_key(dump: tuple[str, dict[bytes, str]]) -> None:
    text, values = dump
    parsed = parse_table_dump(text)
    families, stats = entry_families([(StickTableConfig("t"), parsed)])
    got = valid_page(families)
    use = {label_bytes(labels["key"]): value for _, name, labels, value in got
           if name == "haproxy_sticktable_entry_use"}
    assert set(use) == set(values)  # every key, each its own series
    gpc = {label_bytes(labels["key"]): value for _, name, labels, value in got
           if name == "haproxy_sticktable_entry_gpc"}
    assert set(gpc) == {key for key, cell in values.items() if number_text(cell) is not None}
    assert all(float(gpc[key]) == float(int(values[key])) for key in gpc)


@FAST
@given(st.one_of(
    st.text(st.one_of(st.sampled_from(list(" =:()\\\n#,0x-")), SAFE_TEXT), max_size=300),
    st.text(st.one_of(st.sampled_from(list(" =:()\\\n#,0x-")), SAFE_TEXT), max_size=300).map(
        lambda t: "# table: t, type: string, size:10, used:1\n0x1: key=" + t),
    st.integers(15, 5000).map(lambda n: "# table: t, type: ip, size:10, used:1\n0x1: key=1 use=" + "9" * n + " exp=1\n"),
))
def test_stick_table_answers_raise_nothing_but_parse_error(text: str) -> None:
    try:
        tables = parse_table_summary(text)
        valid_page(summary_families(tables))
    except ParseError:
        pass
    try:
        parsed = parse_table_dump(text)
    except ParseError:
        return
    families, _ = entry_families([(StickTableConfig("t"), parsed)])
    valid_page(families)
