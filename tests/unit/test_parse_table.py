"""``show table`` parsers on real captures (2.6.12, 3.2.0, 3.3.0) and on large generated dumps.

The ``sticktable-keys-*`` captures were taken on 2.6.12 with the config beside them: string keys
were set with ``set table`` and through HTTP headers holding spaces, ``=``, backslashes, a tab,
UTF-8 and invalid UTF-8; binary keys through ``req.hdr(x-b),b64dec``.  The expected key texts
below are the values that were sent, not what the parser produced.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from exporter.runtime.errors import ParseError
from exporter.sources.sticktables.parse import TableInfo, key_text, parse_table_dump, parse_table_summary

FIX = Path(__file__).parent.parent / "fixtures"
VERSIONS = ("2.6.12", "3.2.0", "3.3.0")


def read(name: str) -> str:
    return (FIX / name).read_text()


@pytest.mark.parametrize("version", VERSIONS)
def test_summary_on_captures(version: str) -> None:
    expected = [TableInfo("fe_main", "ip", 1048576, 1)]
    assert parse_table_summary(read(f"{version}/show-table.txt")) == expected
    # The summary is not restricted on a level-user socket.
    assert parse_table_summary(read(f"{version}/user-show-table.txt")) == expected


def test_summary_all_key_types() -> None:
    tables = parse_table_summary(read("2.6.12/sticktable-keys-summary.txt"))
    assert [(t.name, t.type, t.size) for t in tables] == [
        ("t_arr", "ip", 1024), ("t_ip6", "ipv6", 1024), ("t_int", "integer", 1024),
        ("t_bin", "binary", 1024), ("t_str", "string", 1024),
    ]
    assert [t.used for t in tables] == [0, 2, 2, 3, 8]


def test_summary_without_tables_and_peers_names() -> None:
    assert parse_table_summary("") == []
    assert parse_table_summary("\n") == []
    text = "# table: mypeers/st_src, type: ipv6, size:200, used:3\n"
    assert parse_table_summary(text) == [TableInfo("mypeers/st_src", "ipv6", 200, 3)]


@pytest.mark.parametrize("version", VERSIONS)
def test_dump_on_captures(version: str) -> None:
    dump = parse_table_dump(read(f"{version}/show-table-fe_main.txt"))
    assert dump.table == TableInfo("fe_main", "ip", 1048576, 1)
    [entry] = dump.entries
    assert entry.key == "127.0.0.1"
    assert entry.use == 0
    assert entry.shard == (None if version == "2.6.12" else 0)  # shard= appeared in 2.7
    bytes_out = "0" if version == "3.3.0" else "1519"  # 3.3 changed what bytes_out counts
    assert entry.data == [("gpc0", "", "7"), ("conn_rate", "10000", "7"), ("http_req_rate", "10000", "7"),
                          ("bytes_out_cnt", "", bytes_out)]
    assert 599000 < entry.exp <= 600000


def test_dump_array_types() -> None:
    dump = parse_table_dump(read("2.6.12/show-table-arrays.txt"))
    [entry] = dump.entries
    assert entry.exp == 59994
    assert entry.data == [
        ("server_id", "", "0"), ("conn_cur", "", "0"), ("http_req_cnt", "", "3"),
        ("server_key", "", "-"), ("http_fail_cnt", "", "0"), ("gpt0", "", "0"), ("gpt1", "", "42"),
        ("gpc0", "", "3"), ("gpc1", "", "3"), ("gpc0_rate", "10000", "3"), ("gpc1_rate", "10000", "3"),
    ]
    assert entry.value("gpt1") == "42" and entry.value("gpt2") is None and entry.value("gpc") is None
    assert all(entry.value(name) == value for name, _, value in entry.data)  # the lazy lookup agrees


def test_dump_filters() -> None:
    assert parse_table_dump(read("2.6.12/show-table-filter-gpc0-gt-1000.txt")).entries == []
    assert len(parse_table_dump(read("2.6.12/show-table-filter-gpc0-gt-2.txt")).entries) == 1
    assert len(parse_table_dump(read("2.6.12/show-table-key.txt")).entries) == 1


@pytest.mark.parametrize("name,reason", [
    ("2.6.12/show-table-nosuch.txt", "no_such_table"),
    ("2.6.12/show-table-filter-not-stored.txt", "bad_filter"),
    ("2.6.12/show-table-arrays-filter.txt", "bad_filter"),
    ("2.6.12/user-show-table-fe_main.txt", "permission_denied"),
    ("3.2.0/user-show-table-fe_main.txt", "permission_denied"),
    ("3.3.0/user-show-table-fe_main.txt", "permission_denied"),
])
def test_dump_errors_on_captures(name: str, reason: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_table_dump(read(name))
    assert info.value.reason == reason


def test_permission_denied_answer_text() -> None:
    """The level-user answer says why in the one log line."""
    with pytest.raises(ParseError, match="insufficient privileges.*level operator"):
        parse_table_dump(read("2.6.12/user-show-table-fe_main.txt"))


STRING_KEYS = {  # what was sent → key text expected in the label
    "a\\ b": "a b",
    'a"b\\\\c': 'a"b\\\\c',  # a backslash of the key is doubled in the label
    'b"q}{': 'b"q}{',
    "caf\\xC3\\xA9": "café",
    "sp\\ ace\\=eq\\\\bs": "sp ace=eq\\\\bs",
    "tab\\there": "tab\there",
    "x\\=y": "x=y",
    "\\xFF\\xFE": "\\xff\\xfe",  # not UTF-8: \xNN (backslashreplace) keeps the label valid UTF-8
}


def test_string_keys_escaped_by_haproxy() -> None:
    dump = parse_table_dump(read("2.6.12/sticktable-keys-t_str.txt"))
    assert dump.table.type == "string"
    assert {e.key: key_text(e.key, "string") for e in dump.entries} == STRING_KEYS
    by_key = {key_text(e.key, "string"): e for e in dump.entries}
    assert by_key["x=y"].value("gpc0") == "6"
    assert by_key['a"b\\\\c'].value("gpt0") == "1"
    assert by_key["a b"].data[2] == ("http_req_rate", "10000", "0")


def test_key_text_other_escapes() -> None:
    assert key_text("a\\nb\\rc\\ed", "string") == "a\nb\rc\x1bd"
    assert key_text("plain", "string") == "plain"
    assert key_text("\\x41\\xZZ", "string") == "AxZZ"


@pytest.mark.parametrize("table,keys", [
    ("t_bin", ["0000000000000000", "00FF0A2041000000", "0102030405060708"]),
    ("t_int", ["7", "4294967295"]),
    ("t_ip6", ["::1", "::ffff:127.0.0.1"]),
])
def test_other_key_types_as_printed(table: str, keys: list[str]) -> None:
    dump = parse_table_dump(read(f"2.6.12/sticktable-keys-{table}.txt"))
    assert [key_text(e.key, dump.table.type) for e in dump.entries] == keys


@pytest.mark.parametrize("text", [
    "# table: t, type: ip, size:10, used:1\ngarbage\n",
    "# table: t, type: ip, size:10, used:1\n0x1: key=1 use=x exp=1\n",
    "# table: t, type: ip, size:10, used:1\n0x1: key=1 use=0 exp=1 gpc0\n",
    "# table: t, type: ip, size:10, used:1\n0x1: key=1 use=0 exp=1 conn_rate(1s)=3\n",
    "# table: t, type: ip, size:10, used:1\n0x1 key=1\n",
    "# table: t, type: ip, size:10, used:1\n0x1: key=1 use=0 exp=1 Bad-Name=1\n",
    "# table: t, type: ip, size:10, used:1\n0x1: key=1 exp=1 use=0\n",
    "Unknown command, but maybe one of the following ones is a better match:\n",
    "Permission denied\n",
    "",
    bytes(range(256)).decode("latin-1"),
])
def test_bad_dumps_raise_parse_error_only(text: str) -> None:
    with pytest.raises(ParseError):
        parse_table_dump(text)


def test_tolerated_variations() -> None:
    """A trailing space, an unknown future field and a comment line do not break the dump."""
    text = ("# table: t, type: ip, size:10, used:1\n# a comment from a later version\n"
            "0x1: key=1.2.3.4 use=2 exp=10 shard=3 glitch_cnt=1 new_rate(250)=4 \n")
    [entry] = parse_table_dump(text).entries
    assert (entry.key, entry.use, entry.exp, entry.shard) == ("1.2.3.4", 2, 10, 3)
    assert entry.data == [("glitch_cnt", "", "1"), ("new_rate", "250", "4")]


def test_bad_summaries_raise_parse_error_only() -> None:
    for text in ("Permission denied\n", "# table: t, type: ip, size:1, used:0\nnot a table\n",
                 bytes(range(256)).decode("latin-1")):
        with pytest.raises(ParseError):
            parse_table_summary(text)


def generated_dump(n: int, seed: int = 7) -> tuple[str, dict[str, tuple[int, int, int]]]:
    """A dump shaped like HAProxy's, with known values per key: (gpc0, http_req_rate, exp)."""
    rng = random.Random(seed)
    lines = [f"# table: big, type: string, size:{2 * n}, used:{n}"]
    expected = {}
    for i in range(n):
        gpc0, rate, exp = rng.randrange(10**6), rng.randrange(10**4), rng.randrange(60000)
        key, label = (f"user\\ {i}\\=x", f"user {i}=x") if i % 3 == 0 else (f"u{i}", f"u{i}")
        lines.append(f"0x{0x55d0000000 + 64 * i:x}: key={key} use={i % 2} exp={exp} gpt0=0 gpc0={gpc0} "
                     f"http_req_rate(10000)={rate} server_key=-")
        expected[label] = (gpc0, rate, exp)
    return "\n".join(lines) + "\n", expected


def test_large_generated_dump() -> None:
    text, expected = generated_dump(100_000)
    dump = parse_table_dump(text)
    assert len(dump.entries) == 100_000 == dump.table.used
    got = {key_text(e.key, "string"): (int(e.value("gpc0") or -1), int(e.value("http_req_rate") or -1), e.exp)
           for e in dump.entries}
    assert got == expected
