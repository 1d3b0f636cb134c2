"""Property-based tests of the parsers of show info, show resolvers, show map/acl, show errors,
show ssl cert, show ssl ocsp-response, show ssl ocsp-updates and show proc: any text gives a
result or a ParseError, never another exception, and what the source's model builds from a
result renders to an exposition Prometheus reads.

"Reads" is checked with two independent readers: prometheus_client's parser (no error, no
series twice) and Go's float syntax for every value, as Prometheus parses a scrape (a value
that overflows a float64 makes it refuse the whole page; prometheus_client reads it as +Inf).
``promtool check metrics`` checks one rendered page per parser.  show stat, show peers and
stick-table dumps have their own suites; numbers wider than HAProxy prints (400 or 5,000
digits) are tests/unit/test_values.py's.

Texts are real answers captured from HAProxy 2.6 to 3.4 (tests/fixtures), near-misses of them
(a slice replaced by noise, cut off, lines dropped or repeated, a number changed) and noise.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest
from exposition import samples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import promtool_check_metrics

from exporter.exposition.families import Family
from exporter.exposition.render import render_bytes
from exporter.runtime.errors import ParseError
from exporter.sources.certificates.model import certificate_families
from exporter.sources.certificates.parse import parse_cert, parse_cert_list
from exporter.sources.errors.model import error_families
from exporter.sources.errors.parse import parse_errors
from exporter.sources.info.model import info_families
from exporter.sources.info.parse import parse_info
from exporter.sources.maps.model import acl_families, map_families
from exporter.sources.maps.parse import parse_acls, parse_maps
from exporter.sources.ocsp.model import ocsp_families
from exporter.sources.ocsp.parse import OcspId, parse_ocsp_list, parse_ocsp_response
from exporter.sources.ocsp_updates.model import ocsp_update_families
from exporter.sources.ocsp_updates.parse import parse_ocsp_updates
from exporter.sources.proc.model import master_families
from exporter.sources.proc.parse import parse_proc
from exporter.sources.resolvers.model import resolver_families
from exporter.sources.resolvers.parse import parse_resolvers
from exporter.sources.values import ModelStats

FIXTURES = Path(__file__).parent.parent / "fixtures"
VERSIONS = ("2.6.12", "2.8.25", "3.2.0", "3.4.0")
# Modest: eleven parsers at 120 examples each stay within a few seconds.
EXAMPLES = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def captured(*names: str) -> list[str]:
    """Every capture of these answers, of every version that has them."""
    found = [(FIXTURES / version / name).read_text() for version in VERSIONS for name in names
             if (FIXTURES / version / name).is_file()]
    found += [(FIXTURES / "faults" / name).read_text() for name in names if (FIXTURES / "faults" / name).is_file()]
    assert found, names
    return found


@dataclass(frozen=True)
class Parser:
    parse: Callable[[str], Any]
    model: Callable[[Any], list[Family]] | None  # None: a list the source only iterates
    answers: tuple[str, ...]


OCSP_ID = OcspId("304d3009", "/etc/haproxy/certs/a b \"q\".pem", "695D")
PARSERS = {
    "show info": Parser(parse_info, lambda r: info_families(r, ModelStats()),
                        tuple(captured("show-info.txt", "user-show-info.txt"))),
    "show resolvers": Parser(parse_resolvers, lambda r: resolver_families(r, ModelStats()),
                             tuple(captured("show-resolvers.txt"))),
    "show map": Parser(parse_maps, lambda r: map_families(r, ModelStats()), tuple(captured("show-map.txt"))),
    "show acl": Parser(parse_acls, lambda r: acl_families(r, ModelStats()), tuple(captured("show-acl.txt"))),
    "show errors": Parser(parse_errors, lambda r: error_families(r, received=1_764_684_760.0),
                          tuple(captured("show-errors.txt", "show-errors-empty.txt"))),
    "show ssl cert": Parser(parse_cert_list, None, tuple(captured("show-ssl-cert.txt"))),
    "show ssl cert <file>": Parser(parse_cert, lambda r: certificate_families([r], ModelStats()), tuple(captured(
        "show-ssl-cert-listed.txt", "show-ssl-cert-chain.txt", "show-ssl-cert-many.txt", "show-ssl-cert-quoted.txt",
        "show-ssl-cert-indir.txt", "user-show-ssl-cert.txt"))),
    "show ssl ocsp-response": Parser(parse_ocsp_list, None, tuple(captured("show-ssl-ocsp-response.txt"))),
    "show ssl ocsp-response <id>": Parser(
        parse_ocsp_response, lambda r: ocsp_families([(OCSP_ID, r)], ModelStats()),
        tuple(captured("show-ssl-ocsp-response-good.txt", "show-ssl-ocsp-response-revoked.txt",
                       "user-show-ssl-ocsp-response.txt"))),
    "show ssl ocsp-updates": Parser(parse_ocsp_updates, lambda r: ocsp_update_families(r, ModelStats()), tuple(
        captured("show-ssl-ocsp-updates.txt", "show-ssl-ocsp-updates-empty.txt", "user-show-ssl-ocsp-updates.txt"))),
    "show proc": Parser(parse_proc, master_families, tuple(
        (FIXTURES / version / "master" / name).read_text() for version in VERSIONS
        for name in ("show-proc.txt", "show-proc-failed-reload.txt") if (FIXTURES / version / "master" / name).is_file())),
}

# Text biased towards the characters the answers use for structure.
FRAMING = st.sampled_from(list(':#"\\\n\r=|()[]/*, \t-.0123456789') + [
    "\x00", "é", "€", "\u2028", "\ufeff", "\x85", "GMT", "Dec", "+0530", "entry_cnt=", " nameserver ", "  sent: ",
    "Resolvers section ", "# workers", "# old workers", "Cert Status: ", "Filename: ", "[failed: ", "0d00h00m01s"])
# No lone surrogates: the client decodes answers with errors="replace", so none reaches a parser.
NOISY = st.lists(st.one_of(FRAMING, st.characters(blacklist_categories=("Cs",))), max_size=120).map("".join)
# A number in place of one HAProxy printed: up to 20 digits, a sign, zero, or far more digits than
# HAProxy ever prints (refused as invalid values or malformed lines, never an exception).
NUMBER = st.one_of(st.integers(-(2**63), 2**64 - 1).map(str), st.sampled_from(["0", "00", "-0", "-1", "+1"]),
                   st.integers(21, 5000).map(lambda digits: "9" * digits))
_DIGITS = re.compile(r"[0-9]+")


@st.composite
def near_misses(draw: st.DrawFn, answers: tuple[str, ...]) -> str:
    """A real answer with a slice replaced, cut off, lines dropped or repeated, or a number changed."""
    base = draw(st.sampled_from(answers))
    lines = base.split("\n")
    how = draw(st.sampled_from(["replace", "cut", "drop", "repeat", "number"]))
    if how == "replace":
        at, length = draw(st.integers(0, len(base))), draw(st.integers(0, 40))
        return base[:at] + draw(NOISY) + base[at + length:]
    if how == "cut":
        return base[:draw(st.integers(0, len(base)))]
    if how == "drop":
        drop = draw(st.sets(st.integers(0, len(lines) - 1), max_size=4))
        return "\n".join(line for i, line in enumerate(lines) if i not in drop)
    if how == "repeat":
        at = draw(st.integers(0, len(lines) - 1))
        return "\n".join(lines[:at + 1] + lines[at:at + draw(st.integers(1, 3))] + lines[at + 1:])
    numbers = list(_DIGITS.finditer(base))
    if not numbers:
        return base
    m = draw(st.sampled_from(numbers))
    return base[:m.start()] + draw(NUMBER) + base[m.end():]


def texts(parser: Parser) -> st.SearchStrategy[str]:
    return st.one_of(NOISY, near_misses(parser.answers))


# Go's strconv.ParseFloat, as Prometheus's text parser calls it: a decimal or hex float, Inf or NaN.
_GO_FLOAT = re.compile(r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf(?:inity)?|nan)", re.I)


def value_texts(page: str) -> list[str]:
    """Each sample line's value, read off the text (the renderer writes no timestamps)."""
    return [line.rpartition(" ")[2] for line in page.split("\n") if line and not line.startswith("#")]


def assert_prometheus_reads(page: str) -> None:
    samples(page)  # prometheus_client's reader: a syntax error or a series twice fails here
    for text in value_texts(page):
        assert _GO_FLOAT.fullmatch(text), f"not a float to Go: {text!r}"
        number = float(text)
        assert math.isfinite(number) or text.lower().lstrip("+-") in ("inf", "infinity", "nan"), \
            f"{text[:40]!r} overflows a float64: Prometheus would refuse the page"


def page(families: list[Family]) -> str:
    """The page as the poll publishes it: the renderer leaves out (and counts) a series twice."""
    return render_bytes(families).decode()


def check(parser: Parser, text: str) -> None:
    try:
        result = parser.parse(text)
    except ParseError as exc:
        assert exc.reason and isinstance(exc.reason, str)
        return
    if parser.model is not None:
        assert_prometheus_reads(page(parser.model(result)))


@pytest.mark.parametrize("command", sorted(PARSERS))
def test_any_text_is_a_result_or_a_parse_error_and_renders_to_a_page_prometheus_reads(command: str) -> None:
    parser = PARSERS[command]

    @EXAMPLES
    @given(texts(parser))
    def run(text: str) -> None:
        check(parser, text)

    run()


def first_parsed(answers: tuple[str, ...], parse: Callable[[str], Any]) -> str:
    """The first capture that is an answer (not an older HAProxy's "Unknown command", not a refusal)."""
    for answer in answers:
        try:
            parse(answer)
        except ParseError:
            continue
        return answer
    raise AssertionError("no captured answer parses")


@pytest.mark.parametrize("command", sorted(name for name, p in PARSERS.items() if p.model is not None))
def test_each_captured_answer_renders_to_a_page_promtool_accepts(command: str) -> None:
    """Prometheus's own linter on one real answer per parser (the check above is its stand-in)."""
    parser = PARSERS[command]
    assert parser.model is not None
    rendered = page(parser.model(parser.parse(first_parsed(parser.answers, parser.parse))))
    assert value_texts(rendered), "the captured answer renders no series"
    assert promtool_check_metrics(rendered) == []


def test_the_value_check_catches_what_prometheus_refuses() -> None:
    """The check can fail: a 400-digit value (Go's ParseFloat: out of range) and a bare word."""
    with pytest.raises(AssertionError, match="overflows a float64"):
        assert_prometheus_reads("# TYPE a gauge\na " + "9" * 400 + "\n")
    with pytest.raises(AssertionError, match="not a float to Go"):
        assert_prometheus_reads("# TYPE a gauge\na \u0661\n")  # an Arabic-Indic 1: Python reads it, Go does not
    assert_prometheus_reads("# TYPE a gauge\na 1e308\nb +Inf\n")
