"""promex's query parameters: the parser, with promex's semantics and errors (promex_parse_uri)."""

from __future__ import annotations

import pytest

from exporter.exposition.page import Piece
from exporter.web.promex_query import SCOPES, QueryError, parameters, parse


def span(name: str, maint: bool = False, extra: bool = False) -> Piece:
    """A piece of the family ``name``, in the scope promex's names say (``haproxy_<scope>_``; the
    master's figures and others promex has no scope for are process-wide: global)."""
    word = name.split("_")[1]
    return Piece(name, b"", word if word in SCOPES else "global", maint, extra)


def test_a_query_without_promex_parameters_is_the_whole_page() -> None:
    assert parse("") is None
    assert parse("target=a&foo") is None


@pytest.mark.parametrize("query", ["scope=bogus", "scope", "scope&scope=server", "metrics", "scope=server=x",
                                   "scope=%zz", "no%2-maint&scope=server"])
def test_what_promex_refuses_is_refused(query: str) -> None:
    with pytest.raises(QueryError):
        parse(query)


def test_scopes_replace_the_default_and_add_up() -> None:
    got = parse("scope=frontend&scope=server")
    assert got is not None and got.scopes == {"frontend", "server"}
    assert parse("scope=").scopes == set()
    assert parse("scope=server&scope=").scopes == set()  # empty clears what came before
    assert parse("scope=*").scopes == set(SCOPES)
    assert parse("scope=sticktables").scopes == {"sticktable"}  # modules match by prefix
    assert parse("scope=resolver&scope=bogus").scopes == {"resolver"}  # promex lets it pass
    assert parse("scope=ser%76er").scopes == {"server"}
    assert parse("scope=server#scope=frontend").scopes == {"server"}


def test_which_pieces_a_selection_keeps() -> None:
    got = parse("scope=server&scope=backend&no-maint")
    assert got is not None
    assert got.keeps(span("haproxy_server_status")) and got.keeps(span("haproxy_backend_bytes_in_total"))
    assert not got.keeps(span("haproxy_server_status", maint=True))
    assert not got.keeps(span("haproxy_frontend_bytes_in_total")) and not got.keeps(span("haproxy_process_nbthread"))
    assert not got.keeps(span("haproxy_server_h1_bytes_in_total", extra=True))  # extra counters only when asked
    assert parse("extra-counters").keeps(span("haproxy_server_h1_bytes_in_total", extra=True))
    assert parse("no-maint").keeps(span("haproxy_master_reloads_total"))  # master: global
    assert not parse("scope=global").keeps(span("haproxy_sticktable_used"))


def test_metrics_filter_includes_excludes_and_the_last_mention_wins() -> None:
    only = parse("metrics=haproxy_server_status,,haproxy_backend_bytes_in_total")
    assert only is not None and only.keeps(span("haproxy_server_status"))
    assert not only.keeps(span("haproxy_server_weight"))
    without = parse("metrics=-haproxy_server_status,-")
    assert without is not None and not without.keeps(span("haproxy_server_status"))
    assert without.keeps(span("haproxy_server_weight"))  # only exclusions: the rest stays
    flipped = parse("metrics=-haproxy_server_status&metrics=haproxy_server_status")
    assert flipped is not None and flipped.keeps(span("haproxy_server_status"))
    assert not flipped.keeps(span("haproxy_server_weight"))


@pytest.mark.parametrize("query,pairs", [
    ("", [("", None)]),
    ("no-maint", [("no-maint", None)]),  # a key alone has no value, unlike an empty one
    ("scope=", [("scope", "")]),
    ("scope=server&scope=backend", [("scope", "server"), ("scope", "backend")]),
    ("metrics=a+b,c%2Cd", [("metrics", "a b,c,d")]),  # '+' is a space, percent-encoding decoded
    ("ex%74ra-counters", [("extra-counters", None)]),  # keys are decoded too
    ("scope=server#scope=backend", [("scope", "server")]),  # '#' ends the query
    ("a&&b=1", [("a", None), ("", None), ("b", "1")]),
])
def test_parameters_in_order_decoded_as_promex_does(query: str, pairs: list[tuple[str, str | None]]) -> None:
    assert parameters(query) == pairs


@pytest.mark.parametrize("query", ["scope=a=b", "x=%", "x=%4", "%g0=1", "scope=%zz#"])
def test_parameters_refuse_what_promex_refuses(query: str) -> None:
    with pytest.raises(QueryError):
        parameters(query)
