"""``show map`` / ``show acl`` on captures of 2.6.12, 2.8.25, 3.2.0 and 3.4.0: one series per file
with HAProxy's entry_cnt, inline ACLs added up, errors refused."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from exposition import samples, types, value

from exporter.exposition.render import render
from exporter.runtime.errors import ParseError
from exporter.sources.maps.model import acl_families, map_families
from exporter.sources.maps.parse import parse_acls, parse_maps
from exporter.sources.values import ModelStats

FIXTURES = Path(__file__).parent.parent / "fixtures"
VERSIONS = ["2.6.12", "2.8.25", "3.2.0", "3.4.0"]
D = "/tmp/hrx-capture"  # where the captures' files were


def counts(text: str) -> list[tuple[str, int]]:
    """(file, entry_cnt) per line, read here independently of the parser."""
    out = []
    for line in text.split("\n")[1:]:
        if line:
            out.append((line.split("(", 1)[1].split(")", 1)[0], int(line.rsplit("entry_cnt=", 1)[1])))
    return out


@pytest.mark.parametrize("version", VERSIONS)
def test_every_map_file_and_its_count(version: str) -> None:
    text = (FIXTURES / version / "show-map.txt").read_text()
    stats = ModelStats()
    got = samples(render(map_families(parse_maps(text), stats)))
    expected = counts(text)
    assert {k[1][0][1]: v for k, v in got.items()} == dict(expected)
    assert value(got, "haproxy_map_entries", file=f"{D}/hosts.map") == 4  # 3 in the file, 1 added
    assert value(got, "haproxy_map_entries", file=f"{D}/geo.map") == 2
    if not version.startswith("2."):
        assert value(got, "haproxy_map_entries", file="virt@vmap") == 0
        assert value(got, "haproxy_map_entries", file=f"{D}/missing.map") == 0  # opt@: the file, no prefix
    assert not stats.ignored


@pytest.mark.parametrize("version", VERSIONS)
def test_acl_files_each_and_inline_lists_added_up(version: str) -> None:
    text = (FIXTURES / version / "show-acl.txt").read_text()
    out = render(acl_families(parse_acls(text), ModelStats()))
    got = samples(out)
    listed = counts(text)
    assert value(got, "haproxy_acl_entries", file=f"{D}/block.acl") == 3  # 4 in the file, 1 deleted
    files = {f: n for f, n in listed if f}
    assert {k[1][0][1]: v for k, v in got.items() if k[0] == "haproxy_acl_entries"} == files
    inline = [n for f, n in listed if not f]
    assert value(got, "haproxy_acl_inline_lists") == len(inline) >= 5  # 3 acl lines, httpclient's
    assert value(got, "haproxy_acl_inline_entries") == sum(inline)
    assert set(types(out).values()) == {"gauge"}


def test_no_map_is_an_empty_family_and_only_httpclient_acls() -> None:
    assert parse_maps("# id (file) description\n") == []
    acls = parse_acls("# id (file) description\n0 () acl 'var' file 'httpclient' line 0. curr_ver=0 "
                      "next_ver=0 entry_cnt=1\n")
    got = samples(render(acl_families(acls, ModelStats())))
    assert value(got, "haproxy_acl_inline_lists") == 1
    assert not [k for k in got if k[0] == "haproxy_acl_entries"]


def test_a_path_with_spaces_and_parentheses() -> None:
    line = "3 (/etc/my maps/a (old).map) pattern loaded from file '/etc/my maps/a (old).map' used by map " \
           "at file 'h.cfg' line 1. curr_ver=1 next_ver=2 entry_cnt=100000"
    (found,) = parse_maps("# id (file) description\n" + line + "\n")
    assert (found.id, found.file, found.entries) == (3, "/etc/my maps/a (old).map", 100000)


def test_a_file_listed_twice_keeps_the_first_and_says_so() -> None:
    text = "# id (file) description\n" + "".join(
        f"{i} (/m.map) pattern loaded from file '/m.map' used by map at file 'h.cfg' line {i}. "
        f"curr_ver=0 next_ver=0 entry_cnt={i * 10}\n" for i in (1, 2))
    stats = ModelStats()
    got = samples(render(map_families(parse_maps(text), stats)))
    assert value(got, "haproxy_map_entries", file="/m.map") == 10
    assert stats.ignored == {("haproxy_map_entries", "duplicate_file"): 1}


@pytest.mark.parametrize("answer, reason", [
    ("Permission denied\n", "permission_denied"),  # 3.4 below level admin
    ("Unknown command, but maybe one of the following ones is a better match:\n  help\n", "unknown_command"),
    ("", "unexpected_response"),
])
def test_an_error_answer_is_refused(answer: str, reason: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_maps(answer)
    assert caught.value.reason == reason


def test_a_line_that_is_not_a_list_is_malformed() -> None:
    with pytest.raises(ParseError) as caught:
        parse_acls("# id (file) description\n0 (/a.acl) something entry_cnt=x\n")
    assert caught.value.reason == "malformed"
    assert re.search("line 2", str(caught.value))
