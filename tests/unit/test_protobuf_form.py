"""The protobuf form of a page: delimited MetricFamily messages that the protobuf library, with the
message classes of client_model's metrics.proto, reads as the same samples as the text page,
parts (the exporter's status, the process figures) included; made once per page, unchanged pieces
reused by identity, the gzip stream valid, promex's selections kept."""

from __future__ import annotations

import gzip as stdlib_gzip

import pytest
from exposition import samples as text_samples
from hypothesis import given
from hypothesis import strategies as st
from models import build_families
from prometheus_client.parser import text_string_to_metric_families as read_text
from protobuf_oracle import families, metadata, native_buckets, samples
from support import answering

from exporter.config import build_config
from exporter.exposition.families import Family, LabelSet, format_float, histogram_family
from exporter.exposition.native import NativeHistogram
from exporter.exposition.page import Page, Part, Piece
from exporter.exposition.protobuf import encode_family, encode_text, varint, zigzag
from exporter.exposition.render import render, render_pieces
from exporter.poll.poller import Poller
from exporter.poll.snapshot import LivePart, Store
from exporter.poll.status import process_metrics_text
from exporter.runtime.errors import ParseError
from exporter.sources.info.parse import parse_info
from exporter.sources.stat.parse import parse_stat
from exporter.web.negotiate import OPENMETRICS, PROTOBUF, PROTOBUF_TYPE, TEXT_0_0_4, exposition
from exporter.web.routes import Request, parts_response
from unit.test_fuzz import FAST, LABEL_TEXT, SLOW, expected, info_answers, same, stat_answers
from unit.test_golden import CASES, FIXTURES, published

# Prometheus 2.42's Accept with --enable-feature=native-histograms (scrape/scrape.go, v2.42.0).
PROMETHEUS_2_NATIVE = ("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,"
                       "application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75,"
                       "text/plain;version=0.0.4;q=0.5,*/*;q=0.1")


def _text_metadata(text: str) -> dict[str, tuple[str, str]]:
    return {f.name + ("_total" if f.type == "counter" else ""): (f.type, f.documentation) for f in read_text(text)}


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_fixture_reads_the_same_in_both_forms(case: str) -> None:
    page = published(case)
    pb = page.protobuf()
    assert samples(pb.text) == text_samples(page.text.decode())
    assert metadata(pb.text) == _text_metadata(page.text.decode())


def _parts(case: str) -> list[Page | Part]:
    """What /metrics serves after a poll of a fixture's answers: its page, the status lines the
    poll wrote (haproxy_up, per-command success and durations...) and the process figures, as the
    CLI's store serves them."""
    version, files, tables = CASES[case]
    answers = {command: (FIXTURES / version / name).read_text() if name else "" for command, name in files.items()}
    store = Store(30, live=LivePart(process_metrics_text))
    poller = Poller(build_config({"stick_tables": tables}), store, connect=answering(lambda c: answers.get(c, "")))
    assert poller.poll_once()
    return store.parts()


def _served(parts: list[Page | Part], accept: str | None, encoding: str | None = None,
            query: str = "") -> tuple[str, bytes]:
    """The response's Content-Type and body, decompressed."""
    headers = {k: v for k, v in (("accept", accept), ("accept-encoding", encoding)) if v is not None}
    response = parts_response(parts, Request("GET", "/metrics", query, headers))
    body = b"".join(response.body)
    sent = dict(response.headers)
    return sent["Content-Type"], stdlib_gzip.decompress(body) if sent.get("Content-Encoding") == "gzip" else body


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_response_reads_the_same_as_the_text_response(case: str) -> None:
    parts = _parts(case)
    content_type, body = _served(parts, PROMETHEUS_2_NATIVE)
    assert content_type == PROTOBUF_TYPE
    _, text = _served(parts, None)
    assert samples(body) == text_samples(text.decode())
    # The status lines and the process figures are in both (the comparison covered them).
    assert ("haproxy_up", ()) in samples(body) and ("process_cpu_seconds_total", ()) in samples(body)
    assert any(name == "haproxy_exporter_command_success" for name, _ in samples(body))


@pytest.mark.parametrize("query", ["", "scope=server&no-maint", "scope=frontend&metrics=-haproxy_frontend_bytes_in_total"])
def test_gzip_and_selections_are_the_plain_form(query: str) -> None:
    parts = _parts("3.3.0")
    _, plain = _served(parts, PROMETHEUS_2_NATIVE, query=query)
    _, zipped = _served(parts, PROMETHEUS_2_NATIVE, "gzip", query=query)
    assert zipped == plain
    _, text = _served(parts, None, query=query)
    assert samples(plain) == text_samples(text.decode())


@pytest.mark.parametrize("accept, kind", [
    (PROMETHEUS_2_NATIVE, PROTOBUF),
    # The example (q-values on every element).
    ("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,"
     "text/plain;version=0.0.4;q=0.3,*/*;q=0.1", PROTOBUF),
    ("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.2,"
     "text/plain;version=0.0.4;q=0.3", TEXT_0_0_4),
    ("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0,*/*", TEXT_0_0_4),
    # Debug encodings, another message, no proto=: not ours.
    ("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text", TEXT_0_0_4),
    ("application/vnd.google.protobuf;proto=io.prometheus.client.Metric;encoding=delimited", TEXT_0_0_4),
    ("application/vnd.google.protobuf", TEXT_0_0_4),
    # A wildcard never gets binary.
    ("*/*", TEXT_0_0_4),
    ("application/*", OPENMETRICS),
    ("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.5,"
     "application/openmetrics-text;version=1.0.0;q=0.6", OPENMETRICS),
])
def test_negotiation(accept: str, kind: str) -> None:
    assert exposition(accept)[0] == kind


def test_escaping_is_echoed() -> None:
    accept = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;escaping=underscores"
    assert exposition(accept) == (PROTOBUF, PROTOBUF_TYPE + "; escaping=underscores")


def test_the_form_is_made_once_and_unchanged_pieces_are_not_encoded_again() -> None:
    page = published("3.3.0")
    pb = page.protobuf()
    assert page.protobuf() is pb
    assert stdlib_gzip.decompress(pb.gz) == pb.text
    assert stdlib_gzip.decompress(b"".join(pb.chunks(True))) == pb.text
    # The next page of the same families: its pieces are the last page's (the renderer's memo).
    nxt = Page.of_pieces(page.pieces)
    nxt.pb_keep = page.pb_keep
    again = nxt.protobuf()
    assert again is not pb
    assert all(a.text is b.text for a, b in zip(again.pieces, pb.pieces))


def test_promex_selections_keep_the_same_pieces() -> None:
    page = published("3.3.0")
    keep = lambda piece: piece.scope == "backend"  # noqa: E731
    text = b"".join(page.chunks(False, keep)).decode()
    pb = page.protobuf()
    assert samples(b"".join(pb.chunks(False, keep))) == text_samples(text)
    assert samples(stdlib_gzip.decompress(b"".join(pb.chunks(True, keep)))) == text_samples(text)


def test_servers_in_maintenance_are_a_message_of_their_own() -> None:
    rows = [LabelSet((("proxy", "be"), ("server", f"s{n}"))) for n in range(4)]
    family = Family("haproxy_server_up", "gauge", "Up.", zip(rows, ["1", "1", "0", "0"]), scope="server")
    family.maint_from = 2
    pieces = render_pieces([family])
    assert [p.maint for p in pieces] == [False, True]
    page = Page.of_pieces(pieces)
    messages = families(page.protobuf().text)
    assert [len(m.metric) for m in messages] == [2, 2] and {m.name for m in messages} == {"haproxy_server_up"}
    no_maint = b"".join(page.protobuf().chunks(False, lambda p: not p.maint))
    assert samples(no_maint) == text_samples(b"".join(page.chunks(False, lambda p: not p.maint)).decode())


def test_a_histogram_carries_its_classic_and_native_buckets() -> None:
    rows = [LabelSet((("proxy", "be"),)), LabelSet((("proxy", "b2"),))]
    natives = [NativeHistogram(3, zero=1, buckets={-80: 2, -79: 1, -70: 4, 5: 1}), None]
    family = histogram_family("haproxy_backend_t_seconds", "Times.", rows, [0.1, 1.0], [[3, 7, 8], [0, 1, 1]],
                              [2.5, 0.5], scope="backend", native=natives)
    data = encode_family(family)
    (message,) = families(data)
    first, second = (m.histogram for m in message.metric)
    assert (first.schema, first.zero_count, first.sample_count, first.sample_sum) == (3, 1, 8, 2.5)
    assert first.zero_threshold == 2.0 ** -128
    assert native_buckets(first) == {-80: 2, -79: 1, -70: 4, 5: 1}
    assert [(s.offset, s.length) for s in first.positive_span] == [(-80, 2), (8, 1), (74, 1)]
    assert [(b.upper_bound, b.cumulative_count) for b in first.bucket] == [(0.1, 3), (1.0, 7)]
    assert not second.HasField("schema") and not second.positive_span  # classic only
    text = render_pieces([family])[0].text.decode()
    assert samples(data) == text_samples(text)


def test_small_gaps_are_filled_as_client_golang_fills_them() -> None:
    natives = [NativeHistogram(2, buckets={0: 1, 3: 2, 4: 1, 8: 5})]
    family = histogram_family("h", "H.", [LabelSet((("a", "b"),))], [1.0], [[1, 9]], [1.0], scope="backend",
                              native=natives)
    (h,) = (m.histogram for m in families(encode_family(family))[0].metric)
    assert [(s.offset, s.length) for s in h.positive_span] == [(0, 5), (3, 1)]
    assert list(h.positive_delta) == [1, -1, 0, 2, -1, 4]


def test_wire_primitives() -> None:
    assert [varint(n) for n in (0, 1, 127, 128, 300, 2 ** 63)] == [
        b"\x00", b"\x01", b"\x7f", b"\x80\x01", b"\xac\x02", b"\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01"]
    assert [zigzag(n) for n in (0, -1, 1, -2, 2, -(2 ** 31))] == [0, 1, 2, 3, 4, 2 ** 32 - 1]


def test_a_text_part_with_escapes_and_a_histogram_reads_back() -> None:
    text = ('# HELP a_total Help with \\\\ and \\n.\n# TYPE a_total counter\n'
            'a_total{x="q\\"uote",y="back\\\\slash\\n"} 3\n'
            '# HELP g G.\n# TYPE g gauge\ng NaN\n'
            '# HELP h H.\n# TYPE h histogram\nh_bucket{le="0.5"} 1\nh_bucket{le="+Inf"} 2\nh_sum 1.5\nh_count 2\n'
            'u 1\n')
    data = encode_text(text.encode())
    got, want = samples(data), text_samples(text)
    assert got.keys() == want.keys()
    assert all(got[k] == want[k] or (got[k] != got[k] and want[k] != want[k]) for k in want)  # NaN is NaN
    assert metadata(data)["a_total"] == ("counter", "Help with \\ and \n.")
    assert metadata(data)["u"] == ("untyped", "")


def test_pieces_without_a_source_are_read_from_their_text() -> None:
    piece = Piece("g", b"# HELP g G.\n# TYPE g gauge\ng{a=\"1\"} 2\n", "global")
    assert samples(Page.of_pieces([piece]).protobuf().text) == {("g", (("a", "1"),)): 2.0}



def test_the_poll_prepares_the_protobuf_form_only_once_a_scrape_asked_for_it() -> None:
    answers = {"show info": (FIXTURES / "3.3.0" / "show-info.txt").read_text(),
               "show stat": (FIXTURES / "3.3.0" / "show-stat.csv").read_text()}
    store = Store(30)
    poller = Poller(build_config({}), store, connect=answering(lambda c: answers.get(c, "")))
    assert poller.poll_once()
    first = store.published
    assert first.page._pb is None and "_pb" not in first.status.__dict__  # nobody asked: the poll made none
    asked = first.page.protobuf()  # a scrape asks: made then
    assert poller.poll_once()
    second = store.published
    assert second.page is not first.page and second.page._pb is not None  # made by the poll, before publishing
    assert "_pb" in second.status.__dict__  # and its status lines
    assert samples(second.page.protobuf().text) == samples(asked.text)
    # The same rows: every piece's messages are the last page's, not encoded again.
    assert all(a.text is b.text for a, b in zip(second.page.protobuf().pieces, asked.pieces))


@FAST
@given(st.lists(st.tuples(LABEL_TEXT, LABEL_TEXT), min_size=1, max_size=5),
       st.lists(st.one_of(st.integers(-2**63, 2**64), st.floats(allow_nan=True)), min_size=1, max_size=5))
def test_any_label_text_and_value_read_back_from_protobuf(values: list[tuple[str, str]], numbers: list[float]) -> None:
    fam = Family("haproxy_fuzz_total", "counter", 'help with "quotes", \\ and\nnewline', scope="global")
    for i, (a, b) in enumerate(values):
        fam.add(LabelSet((("proxy", a),)).extend("server", b + str(i)), format_float(float(numbers[i % len(numbers)])))
    data = Page.of_pieces(render_pieces([fam])).protobuf().text
    assert same(samples(data), expected([fam]))
    assert metadata(data)["haproxy_fuzz_total"][1] == fam.help
    assert same(samples(encode_text(render([fam]).encode())), expected([fam]))  # the text parts' way too


@SLOW
@given(info_answers(), stat_answers())
def test_every_model_page_reads_back_from_protobuf(info_text: str, stat_text: str) -> None:
    try:
        info, table = parse_info(info_text), parse_stat(stat_text)
    except ParseError:
        return  # rejected as a whole is a valid outcome; the point is what gets served
    families, _ = build_families(info, table)
    assert same(samples(Page.of_pieces(render_pieces(families)).protobuf().text), expected(families))


def test_a_fault_of_the_protobuf_form_does_not_withhold_the_text_page(monkeypatch, caplog) -> None:
    answers = {"show info": (FIXTURES / "3.3.0" / "show-info.txt").read_text(),
               "show stat": (FIXTURES / "3.3.0" / "show-stat.csv").read_text()}
    store = Store(30)
    poller = Poller(build_config({}), store, connect=answering(lambda c: answers.get(c, "")))
    assert poller.poll_once()
    store.published.page.protobuf()  # a scrape asked: the next polls make the form

    def broken(*args: object, **kwargs: object) -> bytes:
        raise RuntimeError("a bug")

    monkeypatch.setattr("exporter.exposition.protobuf.encode_family", broken)
    first = store.published.page
    assert poller.poll_once()
    assert store.published.page is not first and store.published.page.text == first.text
    assert "the protobuf form of the page failed" in caplog.text
