"""The OpenMetrics form of a page, derived from the text page the poll prepared: only counters'
metadata changes, unchanged pieces keep their bytes and deflate blocks, the gzip stays valid, and
prometheus_client's OpenMetrics parser reads it as the text parser reads the text page."""

from __future__ import annotations

import gzip as stdlib_gzip

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as read_openmetrics
from prometheus_client.parser import text_string_to_metric_families as read_text

from exporter.exposition.openmetrics import EOF, convert, convert_piece
from exporter.exposition.page import Page, Piece
from unit.test_golden import CASES, published


def _samples(families) -> dict:
    out = {}
    for family in families:
        for s in family.samples:
            key = (s.name, tuple(sorted(s.labels.items())))
            assert key not in out, key
            out[key] = s.value
    return out


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_fixture_reads_the_same_in_both_forms(case: str) -> None:
    page = published(case)
    om = page.openmetrics().text.decode() + EOF.decode()
    text = page.text.decode()
    om_families, text_families = list(read_openmetrics(om)), list(read_text(text))
    assert _samples(om_families) == _samples(text_families)
    # An info family is named without _info in OpenMetrics; its samples keep the name.
    om_types = {(f.name + "_info", "gauge") if f.type == "info" else (f.name, f.type): f.documentation
                for f in om_families}
    assert om_types == {(f.name, f.type): f.documentation for f in text_families}
    infos = {f.name for f in om_families if f.type == "info"}
    assert "haproxy_process_build" in infos
    assert all(s.value == 1 for f in om_families if f.type == "info" for s in f.samples)
    assert "_created" not in om


def test_the_openmetrics_page_is_made_once_per_page_and_shares_unchanged_pieces() -> None:
    page = published("3.3.0")
    om = page.openmetrics()
    assert page.openmetrics() is om
    same = [a for a, b in zip(page.pieces, om.pieces) if a is b]
    assert same and len(same) < len(page.pieces)  # gauges kept as they are, counters' heads changed
    assert stdlib_gzip.decompress(om.gz) == om.text
    assert stdlib_gzip.decompress(b"".join(om.chunks(True))) == om.text


def test_a_large_page_takes_unchanged_blocks_and_its_gzip_is_valid() -> None:
    pieces = [Piece(f"m{n}_total", f"# HELP m{n}_total Help \"q\".\n# TYPE m{n}_total counter\n".encode()
                    + b"".join(f'm{n}_total{{i="{i}"}} {i}\n'.encode() for i in range(20000)), "global")
              for n in range(4)]
    pieces += [Piece("g", b"# HELP g G.\n# TYPE g gauge\n" + b"g 1\n" * 1, "global")]
    page = Page.of_pieces(pieces)
    om = page.openmetrics()
    assert om.pieces[-1] is page.pieces[-1]
    assert stdlib_gzip.decompress(b"".join(om.chunks(True))) == om.text
    assert om.text.startswith(b'# HELP m0 Help \\"q\\".\n# TYPE m0 counter\nm0_total{i="0"} 0\n')
    keep = lambda piece: piece.name in ("m1_total", "g")  # noqa: E731
    assert stdlib_gzip.decompress(b"".join(om.chunks(True, keep))) == b"".join(om.chunks(False, keep))


def test_convert_rewrites_only_the_metadata() -> None:
    text = (b"# HELP a_total A \"x\" \\\\.\n# TYPE a_total counter\na_total 1\n"
            b"# HELP b B.\n# TYPE b counter\nb 2\n# HELP c C.\n# TYPE c gauge\nc 3\n")
    assert convert(text) == (b"# HELP a A \\\"x\\\" \\\\.\n# TYPE a counter\na_total 1\n"
                             b"# HELP b B.\n# TYPE b unknown\nb 2\n# HELP c C.\n# TYPE c gauge\nc 3\n")
    plain = b"# HELP c C.\n# TYPE c gauge\nc 3\n"
    assert convert(plain) is plain
    tail = b'a_total{x="1"} 3\n'
    assert convert_piece(tail) is tail
    assert convert_piece(b"# HELP a_total A.\n# TYPE a_total counter\na_total 1\n") == \
        b"# HELP a A.\n# TYPE a counter\na_total 1\n"
    list(read_openmetrics(convert(text).decode() + EOF.decode()))


def test_the_poll_prepares_the_openmetrics_form_only_once_a_scrape_asked_for_it() -> None:
    from support import answering

    from exporter.config import build_config
    from exporter.poll.poller import Poller
    from exporter.poll.snapshot import Store
    from unit.test_golden import FIXTURES

    answers = {"show info": (FIXTURES / "3.3.0" / "show-info.txt").read_text(),
               "show stat": (FIXTURES / "3.3.0" / "show-stat.csv").read_text()}
    store = Store(30)
    poller = Poller(build_config({}), store, connect=answering(lambda c: answers.get(c, "")))
    assert poller.poll_once()
    first = store.published.page
    assert first._om is None  # nobody asked: the poll made none
    assert poller.poll_once()
    second = store.published.page
    assert second is not first and second._om is None
    asked = second.openmetrics()  # a scrape asks: made then
    assert poller.poll_once()
    third = store.published.page
    assert third._om is not None  # made by the poll, before publishing
    assert third.openmetrics().text == asked.text
    assert stdlib_gzip.decompress(b"".join(third.openmetrics().chunks(True))) == asked.text


@pytest.mark.parametrize("case", sorted(CASES))
def test_changes_says_which_pieces_the_conversion_changes(case: str) -> None:
    from exporter.exposition.openmetrics import changes

    for piece in published(case).pieces:
        assert changes(piece.text) == (convert_piece(piece.text) != piece.text), piece.text[:200]
    assert changes(b'# HELP g A "q".\n# TYPE g gauge\ng 1\n') and not changes(b"g 1\n")


def test_an_info_gauge_becomes_an_openmetrics_info_only_when_every_sample_is_1() -> None:
    info = b'# HELP a_info Build.\n# TYPE a_info gauge\na_info{v="1"} 1\na_info{v="2"} 1\n'
    assert convert(info) == b'# HELP a Build.\n# TYPE a info\na_info{v="1"} 1\na_info{v="2"} 1\n'
    assert convert_piece(info) == convert(info)
    not_one = b'# HELP b_info B.\n# TYPE b_info gauge\nb_info{v="1"} 1\nb_info{v="2"} 2\n'
    assert convert(not_one) == not_one and convert_piece(not_one) is not_one
    no_suffix = b"# HELP info I.\n# TYPE info gauge\ninfo 1\n"
    assert convert(no_suffix) == no_suffix
    family = list(read_openmetrics(convert(info).decode() + "# EOF\n"))[0]
    assert (family.name, family.type, [s.name for s in family.samples]) == ("a", "info", ["a_info", "a_info"])
