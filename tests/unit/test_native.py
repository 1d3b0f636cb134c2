"""Native histogram bucket math against values computed independently: exact integer arithmetic on
the doubles themselves (a bucket's bounds are powers of 2 ** 2 ** -schema, so whether a value is
below one is a comparison of integers), client_golang's own test tables, and its halving."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from protobuf_oracle import native_buckets

from exporter.exposition import native
from exporter.exposition.native import NativeHistogram, coarser, halve, index, spans
from exporter.exposition.native_bounds import BOUNDS
from exporter.sources.logs.config import DEFAULT_BUCKETS, parse_logs_config
from exporter.sources.logs.tally import Known, Tally


def exact_index(value: float, schema: int) -> int:
    """The i with value in (2 ** ((i - 1) / 2 ** schema), 2 ** (i / 2 ** schema)], exactly."""
    num, den = value.as_integer_ratio()  # den is a power of 2
    shift = den.bit_length() - 1
    if schema > 0:
        power = 2 ** schema  # value ** power <= 2 ** i  <=>  num ** power <= 2 ** (i + shift * power)
        return (num ** power - 1).bit_length() - shift * power
    octave = (num - 1).bit_length() - shift  # ceil(log2(value)): bucket bounds are whole octaves
    width = 2 ** -schema
    return -((-octave) // width)


@pytest.mark.parametrize("schema", range(1, 9))
def test_the_table_is_within_a_few_ulps_of_each_bound(schema: int) -> None:
    """BOUNDS[s][j] is 2 ** (j / 2 ** s - 1) to within 4 ulps (compared raised to the power 2 ** s,
    in integers).  Not closer: the Go client made its table by repeated multiplication, so a value
    a few ulps from a bound may fall on the other side of it there than in exact arithmetic; the
    tally only ever sees whole milliseconds, and for those both agree (the test below)."""
    power = 2 ** schema
    assert len(BOUNDS[schema]) == power
    for j, bound in enumerate(BOUNDS[schema]):
        low, high = bound - 4 * math.ulp(bound), bound + 4 * math.ulp(bound)
        true = Fraction(2) ** (j - power)  # (2 ** (j / power - 1)) ** power
        assert Fraction(low) ** power <= true <= Fraction(high) ** power, (schema, j, bound)
        if schema > 1 and j % 2 == 0:
            assert bound == BOUNDS[schema - 1][j // 2]  # as the Go client builds its table
        # A bound is its bucket's upper bound, inclusive (sort.SearchFloat64s: the first bound >= frac).
        assert index(bound, schema) == j - power and index(math.nextafter(bound, 1), schema) == j + 1 - power


def _values() -> list[float]:
    """Every timer of the first 20 s in seconds (k / 1000 as a double), then a spread to an hour,
    and the exact powers of two (a bucket's upper bound at every schema)."""
    found = [ms / 1000 for ms in range(1, 20_001)]
    found += [ms / 1000 for ms in sorted({int(1.0007 ** n) for n in range(14_000, 21_500)})]
    found += [2.0 ** e for e in range(-12, 13)]
    return found


@pytest.mark.parametrize("schema", range(native.MIN_SCHEMA, native.MAX_SCHEMA + 1))
def test_index_matches_exact_arithmetic(schema: int) -> None:
    for value in _values():
        assert index(value, schema) == exact_index(value, schema), (value, schema)


@pytest.mark.parametrize("schema, values, keys", [
    # client_golang's histogram_test.go (TestNativeHistogram): the observations and the buckets its
    # spans and deltas name, at the schema its factor gives.
    (3, [1, 2, 3], [0, 8, 13]),  # factor 1.1: spans {0,1} {7,1} {4,1}
    (2, [1, 1.2, 1.4, 1.8, 2], [0, 2, 2, 4, 4]),  # factor 1.2: span {0,5}, deltas 1 -1 2 -2 2
    (-1, [0.0156251, 0.0625, 0.1, 0.25, 0.5, 1, 1.5, 2, 3, 3.5, 5, 6, 7, 33.33],
     [-2, -2, -1, -1, 0, 0, 1, 1, 1, 1, 2, 2, 2, 3]),  # factor 4
    (-2, [0.0156251, 0.0625, 0.1, 0.25, 0.5, 1, 1.5, 2, 3, 3.5, 5, 6, 7, 33.33],
     [-1, -1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 2]),  # factor 17
])
def test_index_matches_client_golangs_tables(schema: int, values: list[float], keys: list[int]) -> None:
    assert [index(v, schema) for v in values] == keys


@pytest.mark.parametrize("schema", range(native.MIN_SCHEMA + 1, native.MAX_SCHEMA + 1))
def test_halving_is_the_index_one_schema_lower(schema: int) -> None:
    for value in _values()[::7]:
        for by in range(1, schema - native.MIN_SCHEMA + 1):
            assert coarser(index(value, schema), by) == exact_index(value, schema - by), (value, schema, by)
    counts = {index(v, schema): 1 for v in _values()[::97]}
    merged = halve(counts)
    assert sum(merged.values()) == len(counts)
    assert set(merged) == {coarser(key, 1) for key in counts}


def test_spans_read_back_as_the_buckets() -> None:
    buckets = {-9: 1, -8: 4, -5: 2, 0: 3, 1: 1, 7: 6, 100: 1}
    found, deltas = spans(buckets)
    # -7 and -6 empty: a gap of two, filled with zeros; -4 to -1: four, a span of its own.
    assert found == [(-9, 5), (4, 2), (5, 1), (92, 1)]
    assert deltas == [1, 3, -4, 0, 2, 1, -2, 5, -5]

    class H:
        positive_span = [type("S", (), {"offset": o, "length": n})() for o, n in found]
        positive_delta = deltas

    assert native_buckets(H) == buckets


def _tally(schema: int, max_buckets: int) -> Tally:
    config = parse_logs_config({"ring": "logs", "format": "%b %Tr",
                                "native_histograms": {"schema": schema, "max_buckets": max_buckets}})
    assert config is not None
    tally = Tally(config, fold_every=0)  # every view folds what was fed
    tally.set_known(Known(frozenset(), frozenset({"be"}), frozenset()))
    return tally


def test_the_tally_halves_a_series_as_client_golang_does() -> None:
    """client_golang's "buckets limited by halving resolution": factor 1.2 (schema 2), at most 4
    buckets, observations 0 1 1.1 1.2 1.4 1.8 2 3 give schema 1, zero count 1, span {0,5} and
    deltas 1 2 -1 -2 1; here as the same times in ms, in any order of arrival."""
    for order in ([0, 1000, 1100, 1200, 1400, 1800, 2000, 3000], [3000, 1800, 0, 2000, 1000, 1400, 1200, 1100]):
        tally = _tally(2, 4)
        for ms in order:
            tally.feed(f"be {ms}\n")
        view = tally.view()
        (found,) = view.native[("backend", "response")]
        assert (found.schema, found.zero) == (1, 1)
        assert spans(found.buckets) == ([(0, 5)], [1, 2, -1, -2, 1])


def test_the_tally_counts_native_buckets_beside_the_classic_ones() -> None:
    tally = _tally(3, 160)
    times = [1, 1, 2, 5, 17, 250, 250, 999, 1000, 1001, 60_000]
    tally.feed("".join(f"be {ms}\n" for ms in times))
    view = tally.view()
    ((_, counts, total_ms),) = view.histograms[("backend", "response")]
    (found,) = view.native[("backend", "response")]
    assert found == NativeHistogram(3, 0, _expected(times, 3))
    assert sum(counts) == sum(found.buckets.values()) + found.zero == len(times)
    assert total_ms == sum(times)


def test_schema_minus_four_is_as_low_as_a_series_goes() -> None:
    tally = _tally(-3, 1)
    tally.feed("".join(f"be {ms}\n" for ms in (1, 100_000_000)))
    (found,) = tally.view().native[("backend", "response")]
    assert found.schema == -4 and found.buckets == _expected([1, 100_000_000], -4)  # two buckets: no lower schema


def _expected(times: list[int], schema: int) -> dict[int, int]:
    out: dict[int, int] = {}
    for ms in times:
        key = exact_index(ms / 1000, schema)
        out[key] = out.get(key, 0) + 1
    return out


def test_without_the_key_there_are_no_native_buckets() -> None:
    config = parse_logs_config({"ring": "logs", "format": "%b %Tr"})
    assert config is not None and config.native is None
    tally = Tally(config, fold_every=0)  # every view folds what was fed
    tally.set_known(Known(frozenset(), frozenset({"be"}), frozenset()))
    tally.feed("be 5\n")
    assert tally.view().native == {}


def test_the_text_forms_are_the_same_bytes_with_native_buckets_and_the_protobuf_form_carries_them() -> None:
    from exposition import samples as text_samples
    from protobuf_oracle import families, samples

    from exporter.exposition.page import Page
    from exporter.exposition.render import render_pieces
    from exporter.sources.logs.model import Labels, log_families

    times = "".join(f"be {ms}\n" for ms in (0, 3, 3, 40, 41, 900, 12_000))
    pages = []
    for native_on in (True, False):
        tally = _tally(3, 160) if native_on else Tally(parse_logs_config({"ring": "logs", "format": "%b %Tr"}),
                                                       fold_every=0)
        tally.set_known(Known(frozenset(), frozenset({"be"}), frozenset()))
        tally.feed(times)
        view = tally.view()
        pages.append(Page.of_pieces(render_pieces(log_families(view, DEFAULT_BUCKETS, Labels(((), ""))))))
    with_native, classic = pages
    assert with_native.text == classic.text
    assert with_native.openmetrics().text == classic.openmetrics().text
    assert samples(with_native.protobuf().text) == text_samples(with_native.text.decode())
    (family,) = [f for f in families(with_native.protobuf().text) if f.name == "haproxy_backend_log_response_time_seconds"]
    (h,) = (m.histogram for m in family.metric)
    assert (h.schema, h.zero_count) == (3, 1)
    assert native_buckets(h) == _expected([3, 3, 40, 41, 900, 12_000], 3)
    (family,) = [f for f in families(classic.protobuf().text) if f.name == "haproxy_backend_log_response_time_seconds"]
    assert not family.metric[0].histogram.positive_span and family.metric[0].histogram.zero_threshold == 0
