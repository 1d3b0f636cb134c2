"""Classic histograms (exporter/exposition/families.py ``histogram_family``) as the page writes them.

The oracles are independent of the renderer: samples written out by hand from the numbers given,
prometheus_client's parser and its own rendering of the same histogram (``HistogramMetricFamily``),
promtool (Prometheus' linter), and the same family over plain columns (its label sets made one by
one), which takes the renderer's general path instead of the product's.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from support import require

from exporter.exposition.families import (
    BACKEND,
    GLOBAL,
    HISTOGRAM,
    NO_LABELS,
    Family,
    LabelSet,
    bucket_bounds,
    go_float,
    histogram_family,
)
from exporter.exposition.page import Page
from exporter.exposition.render import Dropped, render, render_bytes, render_pieces, to_client_families
from exporter.poll.process import merge_families
from exporter.reuse import PollMemo
from exporter.web.promex_query import parse

NAME = "haproxy_backend_response_seconds"
HELP = "Time to the response's headers"
BOUNDS = (0.005, 0.25, 1, 2.5)
APP = LabelSet((("proxy", "be_app"), ("server", "web2")))
WEB = LabelSet((("proxy", "be_app"), ("server", 'web"1')))  # a value the page must escape
API = LabelSet((("proxy", "be_api"), ("server", "api1")))
COUNTS = {APP: [3, 10, 12, 12, 15], WEB: [0, 0, 1, 7, 7], API: [1, 1, 1, 1, 2]}
SUMS = {APP: 4.75, WEB: 12.0, API: 0.5}


def histogram(rows: list[LabelSet], counts: dict[LabelSet, list[int]] = COUNTS) -> Family:
    return histogram_family(NAME, HELP, rows, BOUNDS, [counts[row] for row in rows], [SUMS[row] for row in rows],
                            scope=BACKEND)


def parsed(text: str) -> list[tuple[str, str, str, list[tuple[str, dict[str, str], float]]]]:
    """Every family as prometheus_client's parser reads it: name, type, help, samples in order."""
    return [(f.name, f.type, f.documentation, [(s.name, s.labels, s.value) for s in f.samples])
            for f in text_string_to_metric_families(text)]


def reference(families: list[Family]) -> str:
    """prometheus_client's own rendering of the families (to_client_families)."""

    class Snapshot:
        def collect(self) -> object:
            return to_client_families(families)

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Snapshot())
    return generate_latest(registry).decode()


def plain_twin(family: Family) -> Family:
    """The family over plain columns: each sample's label set made, lists instead of a product."""
    assert family.suffixes is not None
    return Family.of_columns(family.name, family.kind, family.help, list(family.labels), list(family.values),
                             scope=family.scope, suffixes=list(family.suffixes))


def test_a_histogram_reads_back_as_the_numbers_it_was_given() -> None:
    text = render_bytes([histogram([APP, WEB])]).decode()
    app, web = {"proxy": "be_app", "server": "web2"}, {"proxy": "be_app", "server": 'web"1'}
    want = [
        (f"{NAME}_bucket", {**app, "le": "0.005"}, 3), (f"{NAME}_bucket", {**app, "le": "0.25"}, 10),
        (f"{NAME}_bucket", {**app, "le": "1"}, 12), (f"{NAME}_bucket", {**app, "le": "2.5"}, 12),
        (f"{NAME}_bucket", {**app, "le": "+Inf"}, 15), (f"{NAME}_sum", app, 4.75), (f"{NAME}_count", app, 15),
        (f"{NAME}_bucket", {**web, "le": "0.005"}, 0), (f"{NAME}_bucket", {**web, "le": "0.25"}, 0),
        (f"{NAME}_bucket", {**web, "le": "1"}, 1), (f"{NAME}_bucket", {**web, "le": "2.5"}, 7),
        (f"{NAME}_bucket", {**web, "le": "+Inf"}, 7), (f"{NAME}_sum", web, 12), (f"{NAME}_count", web, 7),
    ]
    assert parsed(text) == [(NAME, "histogram", HELP, want)]
    assert text.startswith(f"# HELP {NAME} {HELP}\n# TYPE {NAME} histogram\n")
    assert text.count("# TYPE") == 1
    # Bounds and sums as Go's client writes them: no ".0" on an integral number.
    assert f'{NAME}_bucket{{proxy="be_app",server="web\\"1",le="1"}} 1\n' in text
    assert f'{NAME}_sum{{proxy="be_app",server="web\\"1"}} 12\n' in text
    assert f'{NAME}_count{{proxy="be_app",server="web2"}} 15\n' in text


def test_every_sample_line_is_a_sample_of_the_family() -> None:
    """poll.max_series counts len(family.values): every line of a histogram, buckets, sum and count."""
    family = histogram([APP, WEB, API])
    lines = [line for line in render([family]).splitlines() if not line.startswith("#")]
    assert len(family) == len(lines) == 3 * (len(BOUNDS) + 3)


def normalized(text: str) -> tuple[list[str], list[tuple[str, str, str, list[tuple[str, list[tuple[str, str]], float]]]]]:
    """A page's comment lines in order, and its families' samples with labels sorted, the samples
    sorted: prometheus_client writes ``le`` first (Go's client last, as this exporter does), _count
    before _sum, and every value as a float."""
    comments = [line for line in text.splitlines() if line.startswith("#")]
    return comments, [(name, kind, doc, sorted((s, sorted(labels.items()), float(value)) for s, labels, value in samples))
                      for name, kind, doc, samples in parsed(text)]


def test_a_histogram_renders_as_prometheus_client_renders_it() -> None:
    families = [histogram([APP, WEB, API]), histogram_family("x_seconds", "no labels", [NO_LABELS], [1],
                                                             [[2, 5]], [0.125], scope=GLOBAL)]
    ours, theirs = normalized(render_bytes(families).decode()), normalized(reference(families))
    assert ours == theirs
    assert sum(len(samples) for _, _, _, samples in ours[1]) == 3 * (len(BOUNDS) + 3) + 4


def test_promtool_accepts_a_histogram() -> None:
    promtool = require(shutil.which("promtool"), "promtool (Debian package prometheus)")
    families = [histogram([APP, WEB, API]), histogram_family("haproxy_x_seconds", "h", [NO_LABELS], [0.5, 1e6],
                                                             [[1, 2, 2]], [3.5], scope=GLOBAL)]
    done = subprocess.run([promtool, "check", "metrics"], input=render_bytes(families), capture_output=True, timeout=60)
    out = (done.stdout + done.stderr).decode()
    assert done.returncode == 0 and not out.strip(), out


def test_a_repeated_row_is_left_out_whole_and_noted() -> None:
    dropped = Dropped()
    text = render_bytes([histogram([APP, WEB, APP], {**COUNTS, APP: [3, 10, 12, 12, 15]})], dropped).decode()
    assert text == render_bytes([histogram([APP, WEB])]).decode()  # the first of each series is kept
    assert (dropped.series, dropped.samples) == (len(BOUNDS) + 3, len(BOUNDS) + 3)
    assert dropped.examples == [f"series {NAME}"]
    # a row's _sum and _count share its label set: different series, nothing dropped
    fine = Dropped()
    render_bytes([histogram([APP, WEB])], fine)
    assert (fine.series, fine.families) == (0, 0)


def test_the_series_of_a_repeated_row_are_dropped_even_when_their_numbers_differ() -> None:
    again = LabelSet(APP.pairs)  # another object, the same labels
    counts = {**COUNTS, again: [9, 9, 9, 9, 9]}
    dropped = Dropped()
    family = histogram_family(NAME, HELP, [APP, again], BOUNDS, [counts[APP], counts[again]], [1.0, 2.0], scope=BACKEND)
    text = render_bytes([family], dropped).decode()
    samples = parsed(text)[0][3]
    assert len(samples) == len(BOUNDS) + 3 and all(value != 9 for _, _, value in samples)
    assert dropped.series == len(BOUNDS) + 3


def test_the_memo_gives_the_same_bytes_until_a_count_changes() -> None:
    memo: PollMemo = PollMemo()
    first = render_pieces([histogram([APP, WEB])], memo=memo)
    # the next poll: new lists of the same numbers over the same label sets
    again = render_pieces([histogram([APP, WEB], {row: list(counts) for row, counts in COUNTS.items()})], memo=memo)
    assert memo.reused == 1 and memo.made == 0
    assert [piece.text for piece in again] == [piece.text for piece in first]
    assert again[0].text is first[0].text
    changed = render_pieces([histogram([APP, WEB], {**COUNTS, WEB: [0, 0, 1, 8, 8]})], memo=memo)
    assert memo.made == 1
    assert changed[0].text == render_bytes([histogram([APP, WEB], {**COUNTS, WEB: [0, 0, 1, 8, 8]})])
    assert b'le="2.5"} 8\n' in changed[0].text and changed[0].text != first[0].text


def test_the_suffixes_are_part_of_what_the_memo_compares() -> None:
    memo: PollMemo = PollMemo()
    family = histogram([APP])
    render_pieces([family], memo=memo)
    assert family.suffixes is not None
    other = family.with_columns(family.labels, family.values, ["_bucket"] * (len(BOUNDS) + 1) + ["_count", "_sum"])
    text = render_pieces([other], memo=memo)[0].text
    assert memo.made == 1
    assert f'{NAME}_count{{proxy="be_app",server="web2"}} 4.75\n'.encode() in text


def test_a_row_without_labels() -> None:
    family = histogram_family("x_seconds", "h", [NO_LABELS], [0.005, 1], [[1, 2, 2]], [1.5], scope=GLOBAL)
    assert render_bytes([family]) == (b'# HELP x_seconds h\n# TYPE x_seconds histogram\n'
                                      b'x_seconds_bucket{le="0.005"} 1\nx_seconds_bucket{le="1"} 2\n'
                                      b'x_seconds_bucket{le="+Inf"} 2\nx_seconds_sum 1.5\nx_seconds_count 2\n')
    assert render([family]) == render_bytes([family]).decode()


def test_no_bounds_is_one_bucket() -> None:
    family = histogram_family("x", "h", [APP], [], [[4]], [0.0], scope=BACKEND)
    assert render([family]).splitlines()[2:] == ['x_bucket{proxy="be_app",server="web2",le="+Inf"} 4',
                                                 'x_sum{proxy="be_app",server="web2"} 0',
                                                 'x_count{proxy="be_app",server="web2"} 4']


def test_a_scope_query_sends_a_histogram_whole_as_one_piece() -> None:
    gauge = Family.of_columns("haproxy_process_x", "gauge", "g", [NO_LABELS], ["1"], scope=GLOBAL)
    hist = histogram([APP, WEB])
    pieces = render_pieces([gauge, hist])
    assert [piece.name for piece in pieces] == ["haproxy_process_x", NAME]
    page = Page.of_pieces(pieces)
    for query, want in (("scope=backend", render_bytes([hist])), ("scope=frontend", b""),
                        (f"metrics={NAME}", render_bytes([hist])), ("scope=global", render_bytes([gauge]))):
        selection = parse(query)
        assert selection is not None
        assert b"".join(page.chunks(False, selection.keeps)) == want, query


def test_an_old_workers_histogram_joins_the_current_ones() -> None:
    """Through a master CLI, an old worker's families join the current worker's (merge_families)."""
    worker = (("worker", "41"),)
    old = histogram_family(NAME, HELP, [LabelSet(APP.pairs + worker)], BOUNDS, [[0, 1, 1, 1, 2]], [0.5], scope=BACKEND)
    merged = merge_families([histogram([APP, WEB])], [old])
    assert len(merged) == 1 and merged[0].kind == HISTOGRAM
    text = render_bytes(merged).decode()
    samples = parsed(text)[0][3]
    assert len(samples) == 3 * (len(BOUNDS) + 3)
    old_labels = {"proxy": "be_app", "server": "web2", "worker": "41"}
    assert samples[-len(BOUNDS) - 3:] == [
        (f"{NAME}_bucket", {**old_labels, "le": "0.005"}, 0), (f"{NAME}_bucket", {**old_labels, "le": "0.25"}, 1),
        (f"{NAME}_bucket", {**old_labels, "le": "1"}, 1), (f"{NAME}_bucket", {**old_labels, "le": "2.5"}, 1),
        (f"{NAME}_bucket", {**old_labels, "le": "+Inf"}, 2), (f"{NAME}_sum", old_labels, 0.5),
        (f"{NAME}_count", old_labels, 2)]
    assert parsed(text)[0][3][:-len(BOUNDS) - 3] == parsed(render_bytes([histogram([APP, WEB])]).decode())[0][3]


def test_a_family_of_another_type_under_the_name_is_not_joined() -> None:
    gauge = Family.of_columns(NAME, "gauge", "g", [APP], ["1"], scope=BACKEND)
    merged = merge_families([histogram([APP])], [gauge])
    dropped = Dropped()
    text = render_bytes(merged, dropped).decode()
    assert text == render_bytes([histogram([APP])]).decode()
    assert dropped.families == 1


def test_the_reference_refuses_rows_labelled_differently() -> None:
    """prometheus_client's histogram has one list of label names: a row with others would be
    written under the first row's names, so the reference says so instead."""
    mixed = histogram_family("x", "h", [APP, NO_LABELS], [1], [[1, 1], [2, 2]], [1.0, 2.0], scope=BACKEND)
    with pytest.raises(ValueError):
        reference([mixed])


def test_the_bounds_are_written_as_go_writes_them() -> None:
    # strconv.FormatFloat(f, 'g', -1, 64), as client_golang writes le (and 1, 0, -1 as such)
    cases = {1: "1", 0.0025: "0.0025", 0.005: "0.005", 2.5: "2.5", 10: "10", 100000: "100000", 123456: "123456",
             999999.5: "999999.5", 1e6: "1e+06", 1.5e6: "1.5e+06", 1234567: "1.234567e+06", 0.0001: "0.0001",
             0.00001: "1e-05", 1.5e-7: "1.5e-07", 1e16: "1e+16", 1e21: "1e+21", 0: "0", -1: "-1",
             -2.5e6: "-2.5e+06"}
    assert {value: go_float(value) for value in cases} == cases
    assert go_float(-0.0) == "0"


def test_one_group_per_bounds() -> None:
    assert bucket_bounds([0.5, 1]) is bucket_bounds((0.5, 1.0))
    assert bucket_bounds([0.5, 1]).values == ("0.5", "1", "+Inf")


@pytest.mark.parametrize("bounds", [(1, 1), (2, 1), (0.5, float("inf")), (float("nan"),)])
def test_bounds_must_be_finite_and_increase(bounds: tuple[float, ...]) -> None:
    with pytest.raises(ValueError):
        bucket_bounds(bounds)


def test_columns_of_other_lengths_are_refused() -> None:
    with pytest.raises(ValueError):
        histogram_family("x", "h", [APP], BOUNDS, [[1, 2]], [1.0], scope=BACKEND)  # too few counts
    with pytest.raises(ValueError):
        histogram_family("x", "h", [APP, WEB], BOUNDS, [COUNTS[APP]], [1.0], scope=BACKEND)
    family = histogram([APP])
    with pytest.raises(ValueError):
        family.with_columns(family.labels, family.values)  # without its suffixes
    with pytest.raises(TypeError):
        family.add(APP, "1")


ROW_NAMES = st.lists(st.sampled_from(["a", "b", 'q"', "\\", ""]), min_size=1, max_size=5)


@settings(max_examples=80, deadline=None)
@given(ROW_NAMES, st.lists(st.floats(0.001, 1e7, allow_nan=False), max_size=4, unique=True), st.data())
def test_any_histogram_renders_as_its_plain_twin(names: list[str], bounds: list[float], data: st.DataObject) -> None:
    """Any rows (repeated, needing escaping, without labels) and bounds: the product's writer and
    the general path write the same page and drop the same series; the page has no series twice."""
    bounds.sort()
    rows = [NO_LABELS if not name else LabelSet((("proxy", name),)) for name in names]
    counts = [sorted(data.draw(st.lists(st.integers(0, 10**12), min_size=len(bounds) + 1, max_size=len(bounds) + 1)))
              for _ in rows]
    sums = data.draw(st.lists(st.floats(0, 1e9, allow_nan=False), min_size=len(rows), max_size=len(rows)))
    family = histogram_family("h", "x", rows, bounds, counts, sums, scope=BACKEND)
    got, want = Dropped(), Dropped()
    text = render_bytes([family], got)
    assert text == render_bytes([plain_twin(family)], want)
    assert (got.series, got.examples) == (want.series, want.examples)
    seen = set()
    for _, _, _, samples in parsed(text.decode()):
        for name, labels, _ in samples:
            key = (name, tuple(sorted(labels.items())))
            assert key not in seen
            seen.add(key)
    assert len(seen) == len(set(names)) * (len(bounds) + 3)
    if len(set(names)) == len(names):
        assert render([family]) == render([plain_twin(family)]) == text.decode()


def test_the_openmetrics_form_of_a_histogram_reads_as_its_text() -> None:
    """prometheus_client's OpenMetrics parser checks a histogram's rules (+Inf present, buckets
    cumulative, _count equal to the +Inf bucket): the log histograms keep them in that form too."""
    from prometheus_client.openmetrics.parser import text_string_to_metric_families as read_openmetrics

    from exporter.exposition.openmetrics import EOF

    page = Page.of_pieces(render_pieces([histogram([APP, WEB, API])]))
    om = page.openmetrics().text.decode() + EOF.decode()
    families = list(read_openmetrics(om))
    assert [(f.name, f.type) for f in families] == [(NAME, "histogram")]
    assert sorted((s.name, sorted(s.labels.items()), s.value) for s in families[0].samples) == \
        sorted((s, sorted(labels.items()), float(v)) for _, _, _, samples in parsed(page.text.decode())
               for s, labels, v in samples)
