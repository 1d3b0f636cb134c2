"""``show resolvers`` on captures of 2.6.12 and 3.2.0: promex 3.0's names and labels on every version."""

from __future__ import annotations

from pathlib import Path

import pytest
from exposition import samples, types, value
from support import resolver_counters

from exporter.exposition.render import render
from exporter.runtime.errors import ParseError
from exporter.sources.resolvers.model import resolver_families
from exporter.sources.resolvers.parse import parse_resolvers
from exporter.sources.values import ModelStats

FIXTURES = Path(__file__).parent.parent / "fixtures"


def captured(version: str) -> str:
    text = (FIXTURES / version / "show-resolvers.txt").read_text()
    return text


@pytest.mark.parametrize("version", ["2.6.12", "3.2.0"])
def test_every_nameserver_and_counter(version: str) -> None:
    text = captured(version)
    counters = parse_resolvers(text)
    assert ("dns1", "ns1") in counters and ("dns1", "ns2") in counters
    out = render(resolver_families(counters, ModelStats()))
    got = samples(out)
    # Compare with the capture read line by line by the test's own reader.
    expected = resolver_counters(text)
    for (section, nameserver, name), count in expected.items():
        assert value(got, f"haproxy_resolver_{name}", resolver=section, nameserver=nameserver) == count
    assert len(expected) >= 30
    assert set(types(out).values()) == {"gauge"}  # promex's type for all of them


def test_no_resolvers_section_is_no_series() -> None:
    assert parse_resolvers("") == {}


def test_an_error_answer_is_refused() -> None:
    with pytest.raises(ParseError) as caught:
        parse_resolvers("Unknown command, but maybe one of the following ones is a better match:\n  help\n")
    assert caught.value.reason == "unknown_command"
