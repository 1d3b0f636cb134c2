"""OpenMetrics served: the negotiation of ``Accept`` picks the form as Prometheus' own client
does (q-values honoured, wildcards, unknown versions, ``escaping=`` echoed), and the response of a
real page, plain, gzip or a promex selection, reads with prometheus_client's OpenMetrics parser as
the same samples as the text response with its text parser."""

from __future__ import annotations

import gzip as stdlib_gzip

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as read_openmetrics
from prometheus_client.parser import text_string_to_metric_families as read_text

from exporter.exposition.page import Part
from exporter.web.negotiate import OPENMETRICS, TEXT_0_0_4, exposition
from exporter.web.routes import Request, parts_response
from unit.test_golden import CASES, published

PROMETHEUS_3 = ("application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"
                "application/openmetrics-text;version=0.0.1;q=0.5,"
                "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2")
PROMETHEUS_2 = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
                "text/plain;version=0.0.4;q=0.5,*/*;q=0.1")  # Prometheus 2.42's


def _samples(families) -> dict:
    out = {}
    for family in families:
        for s in family.samples:
            key = (s.name, tuple(sorted(s.labels.items())))
            assert key not in out, key
            out[key] = s.value
    return out


def _types(families) -> dict:
    """Name → (type, help); an OpenMetrics info family (named without _info) as the gauge it is in text."""
    return {(f.name + "_info" if f.type == "info" else f.name): ("gauge" if f.type == "info" else f.type, f.documentation)
            for f in families}


def _request(accept: str | None, encoding: str | None = None, query: str = "") -> Request:
    headers = {k: v for k, v in (("accept", accept), ("accept-encoding", encoding)) if v is not None}
    return Request("GET", "/metrics", query, headers)


def _served(case: str, accept: str | None, encoding: str | None = None, query: str = "") -> tuple[str, str]:
    page = published(case)
    response = parts_response([page, Part.of(b"# HELP haproxy_up Up.\n# TYPE haproxy_up gauge\nhaproxy_up 1\n")],
                              _request(accept, encoding, query))
    body = b"".join(response.body)
    headers = dict(response.headers)
    if headers.get("Content-Encoding") == "gzip":
        body = stdlib_gzip.decompress(body)
    return headers["Content-Type"], body.decode()


@pytest.mark.parametrize("case", sorted(CASES))
def test_openmetrics_page_reads_as_the_text_page(case: str) -> None:
    content_type, om = _served(case, PROMETHEUS_3)
    assert content_type == "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8"
    assert om.endswith("\n# EOF\n") and om.count("# EOF") == 1
    _, text = _served(case, None)
    om_families, text_families = list(read_openmetrics(om)), list(read_text(text))
    assert _samples(om_families) == _samples(text_families)
    # Same families, types and help; a counter's family is named without _total in both parsers.
    assert _types(om_families) == _types(text_families)
    assert any(f.type == "counter" for f in om_families)
    assert any(f.type == "info" for f in om_families)  # haproxy_process_build_info and the like
    assert "_created" not in om


@pytest.mark.parametrize("case", ["2.6.12", "3.3.0"])
@pytest.mark.parametrize("query", ["", "scope=server&no-maint", "scope=frontend&metrics=-haproxy_frontend_bytes_in_total"])
def test_openmetrics_gzip_and_selections_are_the_plain_form(case: str, query: str) -> None:
    _, plain = _served(case, PROMETHEUS_3, query=query)
    _, zipped = _served(case, PROMETHEUS_3, "gzip", query=query)
    assert zipped == plain
    list(read_openmetrics(plain))  # parses, # EOF included


@pytest.mark.parametrize("accept, kind, content_type", [
    (None, TEXT_0_0_4, "text/plain; version=0.0.4; charset=utf-8"),
    ("", TEXT_0_0_4, "text/plain; version=0.0.4; charset=utf-8"),
    (PROMETHEUS_3, OPENMETRICS, "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8"),
    (PROMETHEUS_2, OPENMETRICS, "application/openmetrics-text; version=1.0.0; charset=utf-8"),
    ("application/openmetrics-text; version=1.0.0", OPENMETRICS, "application/openmetrics-text; version=1.0.0; charset=utf-8"),
    ("application/openmetrics-text;version=0.0.1", OPENMETRICS, "application/openmetrics-text; version=0.0.1; charset=utf-8"),
    # No version: 0.0.1, as client_golang answers.
    ("application/openmetrics-text", OPENMETRICS, "application/openmetrics-text; version=0.0.1; charset=utf-8"),
    ("APPLICATION/OpenMetrics-Text; Version=1.0.0", OPENMETRICS, "application/openmetrics-text; version=1.0.0; charset=utf-8"),
    # Unknown versions are not offers.
    ("application/openmetrics-text;version=2.0.0", TEXT_0_0_4, "text/plain; version=0.0.4; charset=utf-8"),
    ("text/plain;version=9.9.9", TEXT_0_0_4, "text/plain; version=0.0.4; charset=utf-8"),
    # Wildcards get text; OpenMetrics only when named.
    ("*/*", TEXT_0_0_4, "text/plain; version=0.0.4; charset=utf-8"),
    ("application/*", OPENMETRICS, "application/openmetrics-text; version=1.0.0; charset=utf-8"),
    ("text/html,application/xhtml+xml,*/*;q=0.8", TEXT_0_0_4, "text/plain; version=0.0.4; charset=utf-8"),
    # q-values: the highest wins, q=0 refuses, a malformed q drops its element.
    ("application/openmetrics-text;version=1.0.0;q=0.3,text/plain;q=0.5", TEXT_0_0_4,
     "text/plain; version=0.0.4; charset=utf-8"),
    ("text/plain;q=0.5,application/openmetrics-text;version=1.0.0;q=0.9", OPENMETRICS,
     "application/openmetrics-text; version=1.0.0; charset=utf-8"),
    ("application/openmetrics-text;q=0,*/*", TEXT_0_0_4, "text/plain; version=0.0.4; charset=utf-8"),
    ("application/openmetrics-text;version=1.0.0;q=2", TEXT_0_0_4, "text/plain; version=0.0.4; charset=utf-8"),
    ("application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.7",
     OPENMETRICS, "application/openmetrics-text; version=0.0.1; charset=utf-8"),
    # Equal q: the element written first.
    ("text/plain;version=0.0.4,application/openmetrics-text;version=1.0.0", TEXT_0_0_4,
     "text/plain; version=0.0.4; charset=utf-8"),
    # escaping: each of Prometheus' schemes is echoed, an unknown one ignored; text 1.0.0 is our text.
    ("text/plain;version=1.0.0;escaping=allow-utf-8", TEXT_0_0_4,
     "text/plain; version=0.0.4; charset=utf-8; escaping=allow-utf-8"),
    ("application/openmetrics-text;version=1.0.0;escaping=underscores", OPENMETRICS,
     "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=underscores"),
    ("application/openmetrics-text;version=1.0.0;escaping=dots", OPENMETRICS,
     "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=dots"),
    ("application/openmetrics-text;version=1.0.0;escaping=values", OPENMETRICS,
     "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=values"),
    ("application/openmetrics-text;version=1.0.0;escaping=bogus", OPENMETRICS,
     "application/openmetrics-text; version=1.0.0; charset=utf-8"),
    ("application/json", TEXT_0_0_4, "text/plain; version=0.0.4; charset=utf-8"),
    ("garbage, ;;, /", TEXT_0_0_4, "text/plain; version=0.0.4; charset=utf-8"),
])
def test_negotiation(accept: str | None, kind: str, content_type: str) -> None:
    assert exposition(accept) == (kind, content_type)


@pytest.mark.parametrize("escaping", ["underscores", "dots", "values", "allow-utf-8"])
def test_every_escaping_leaves_the_page_as_it_is(escaping: str) -> None:
    _, plain = _served("3.3.0", "application/openmetrics-text;version=1.0.0")
    content_type, escaped = _served("3.3.0", f"application/openmetrics-text;version=1.0.0;escaping={escaping}")
    assert escaped == plain and content_type.endswith(f"; escaping={escaping}")


def test_parts_are_each_converted_and_eof_ends_the_page() -> None:
    _, om = _served("2.6.12", "application/openmetrics-text;version=1.0.0", "gzip")
    assert om.index("# EOF") == len(om) - len("# EOF\n")
    assert "# TYPE haproxy_up gauge" in om
