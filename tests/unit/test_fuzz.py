"""Property-based tests: no input makes a parser raise anything but ParseError, and every
exposition the exporter renders reads back with prometheus_client's parser to the same values.

Examples stay modest (the suite must stay fast); the strategies aim at the edges that matter:
HAProxy's framing characters, CSV quoting, numbers that are almost numbers, label text with
quotes, backslashes, newlines and non-ASCII.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from exposition import samples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from models import build_families

from exporter.exposition.families import Family, LabelSet
from exporter.exposition.render import render
from exporter.runtime.errors import ParseError
from exporter.sources.info.parse import parse_info
from exporter.sources.stat.parse import parse_stat
from exporter.sources.sticktables import parse as parse_table

FIXTURES = Path(__file__).parent.parent / "fixtures" / "faults"
INFO_TEXT = (FIXTURES / "show-info.txt").read_text()[:-1]
STAT_TEXT = (FIXTURES / "show-stat.csv").read_text()[:-1]
HEADER = STAT_TEXT.split("\n", 1)[0][2:].rstrip(",").split(",")

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Text biased towards the characters the formats use for structure.
FRAMING = st.sampled_from(list(',:#"\\\n\r= \t-.0123456789') + ["\x00", "é", "€", "\u2028", "\ufeff"])
# No lone surrogates: the client decodes answers with errors="replace", so none can reach a parser.
NOISY = st.lists(st.one_of(FRAMING, st.characters(blacklist_categories=("Cs",))), max_size=200).map("".join)
LABEL_TEXT = st.lists(st.one_of(st.sampled_from(['"', "\\", "\n", "\\n", '\\"', "{", "}", "=", ",", "é", "日本"]),
                                st.characters(blacklist_categories=("Cs",))), max_size=30).map("".join)


def mutated(base: str) -> st.SearchStrategy[str]:
    """A real answer with a slice replaced, cut off, or lines dropped: near-misses, not noise."""
    lines = base.split("\n")
    return st.one_of(
        st.tuples(st.integers(0, len(base)), st.integers(0, 40), NOISY).map(
            lambda t: base[: t[0]] + t[2] + base[t[0] + t[1]:]),
        st.integers(0, len(base)).map(lambda n: base[:n]),
        st.lists(st.integers(0, len(lines) - 1), max_size=4).map(
            lambda drop: "\n".join(line for i, line in enumerate(lines) if i not in drop)),
    )


def only_parse_errors(parse, text: str) -> None:
    try:
        parse(text)
    except ParseError as exc:
        assert exc.reason and isinstance(exc.reason, str)


# ---------------------------------------------------------------- parsers raise only ParseError

@FAST
@given(st.one_of(NOISY, mutated(INFO_TEXT)))
def test_parse_info_raises_only_parse_error(text: str) -> None:
    only_parse_errors(parse_info, text)


@FAST
@given(st.one_of(NOISY, mutated(STAT_TEXT), NOISY.map(lambda t: "# pxname,svname," + t)))
def test_parse_stat_raises_only_parse_error(text: str) -> None:
    only_parse_errors(parse_stat, text)


TABLE_TEXT = (
    "# table: fe_main, type: ip, size:1024, used:2\n"
    "0x55bc28071e58: key=127.0.0.1 use=0 exp=599672 shard=0 gpc0=7 conn_rate(10000)=7 server_key=-\n"
    "0x55bc28071f00: key=a\\ b\\=c\\xC3\\xA9 use=1 exp=1000 http_req_cnt=12 gpc(2)=1,2\n"
)


@FAST
@given(st.one_of(NOISY, mutated(TABLE_TEXT), NOISY.map(lambda t: "# table: t, type: string, size:1, used:1\n" + t)))
def test_parse_table_raises_only_parse_error(text: str) -> None:
    only_parse_errors(parse_table.parse_table_summary, text)
    only_parse_errors(parse_table.parse_table_dump, text)


@FAST
@given(NOISY, st.sampled_from(["string", "ip", "ipv6", "integer", "binary"]))
def test_key_text_never_raises_and_is_valid_utf8(key: str, key_type: str) -> None:
    text = parse_table.key_text(key, key_type)
    text.encode("utf-8")  # a label value must be encodable


# ---------------------------------------------------------------- exposition round trip

def read_back(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    # the parser returns ints for integer text; Prometheus reads float64
    return {key: float(v) for key, v in samples(text).items()}


def expected(families: list[Family]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out: dict = {}
    for fam in families:
        for labels, value in fam.samples:
            key = (fam.name, tuple(sorted(labels.pairs)))
            assert key not in out, f"the model produced a duplicate series {key}"
            out[key] = float(value)
    return out


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])) for k in a)


@FAST
@given(st.lists(st.tuples(LABEL_TEXT, LABEL_TEXT), min_size=1, max_size=5),
       st.lists(st.one_of(st.integers(-2**63, 2**64), st.floats(allow_nan=True)), min_size=1, max_size=5))
def test_label_values_survive_the_round_trip(values: list[tuple[str, str]], numbers: list[float]) -> None:
    from exporter.exposition.families import format_float

    fam = Family("haproxy_fuzz_total", "counter", 'help with "quotes", \\ and\nnewline', scope="global")
    for i, (a, b) in enumerate(values):
        labels = LabelSet((("proxy", a),)).extend("server", b + str(i))  # extend() is the model's path
        fam.add(labels, format_float(float(numbers[i % len(numbers)])))
    got = read_back(render([fam]))
    assert same(got, expected([fam]))
    assert {dict(k[1])["proxy"] for k in got} == {a for a, _ in values}


CELL = st.one_of(
    st.integers(-2**63, 2**64).map(str),
    st.sampled_from(["", "-", "UP", "DOWN 1/2", "no check", "MAINT (via a/b)", "L7OK", "nan", "1e5", " 1",
                     "+1", "0x10", "１２", "٣", "18446744073709551616", "-0", "00"]),
    st.text(st.characters(blacklist_characters=',\n\r"\x00', blacklist_categories=("Cs",)), max_size=8),
)
NAME = st.text(st.characters(blacklist_characters=',\n\r"\x00', blacklist_categories=("Cs",)),
               min_size=1, max_size=12)


@st.composite
def stat_answers(draw: st.DrawFn) -> str:
    """A show stat answer on the real 2.6 header with drawn names and cells in every column."""
    rows = []
    for _ in range(draw(st.integers(1, 6))):
        row = [draw(CELL) for _ in HEADER]
        row[0], row[1] = draw(NAME), draw(st.one_of(NAME, st.sampled_from(["FRONTEND", "BACKEND"])))
        row[HEADER.index("type")] = draw(st.sampled_from("0123"))
        rows.append(",".join(row) + ",")
    return "# " + ",".join(HEADER) + ",\n" + "\n".join(rows) + "\n"


@st.composite
def info_answers(draw: st.DrawFn) -> str:
    lines = []
    for line in INFO_TEXT.split("\n"):
        name, sep, _ = line.partition(": ")
        if not sep:
            continue
        value_text = draw(st.one_of(CELL, st.just(line.partition(": ")[2]))) if name not in ("Name",) else "HAProxy"
        if name in ("node", "description", "Version", "Release_date"):
            value_text = draw(st.text(st.characters(blacklist_characters="\n\r", blacklist_categories=("Cs",)),
                                      max_size=20))
        lines.append(f"{name}: {value_text}")
    return "\n".join(lines) + "\n"


@SLOW
@given(info_answers(), stat_answers())
def test_every_rendered_exposition_reads_back_to_the_same_values(info_text: str, stat_text: str) -> None:
    try:
        info, table = parse_info(info_text), parse_stat(stat_text)
    except ParseError:
        return  # rejected as a whole is a valid outcome; the point is what gets rendered
    families, _ = build_families(info, table)
    assert same(read_back(render(families)), expected(families))


def test_the_round_trip_catches_a_broken_escape() -> None:
    """The round-trip check above can fail: an unescaped quote does not read back."""
    fam = Family("haproxy_x", "gauge", "h", scope="global")
    bad = LabelSet((("proxy", "a"),))
    bad.text = 'proxy="a"b"'
    fam.add(bad, "1")
    with pytest.raises(ValueError):  # the reference reader refuses the line
        read_back(render([fam]))
