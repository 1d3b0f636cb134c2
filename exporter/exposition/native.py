"""Native (exponential) histograms as Prometheus defines them: bucket indexes, halving, spans.

A native histogram of schema ``s`` has buckets whose bounds are powers of ``2 ** (2 ** -s)``:
bucket ``i`` holds the values in ``(base ** (i - 1), base ** i]``, schema -4 (factor 65536) to 8
(factor 1.0027).  Values at or below the zero threshold go to the zero bucket.  The index of a
value is found as client_golang finds it (``math.frexp`` and its table of bounds, or a shift for
schemas 0 and below), so a value here lands in the bucket the Go client puts it in, bit for bit.

The log histograms keep their buckets as a dict from index to count (most of them empty, never
stored); when a series holds more than its limit of buckets, its resolution is halved (schema - 1,
each pair of buckets merged), as client_golang does, until it fits.  Only the protobuf exposition
sends them (exporter/exposition/protobuf.py): :func:`spans` is its sparse form.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass, field

from exporter.exposition.native_bounds import BOUNDS

MIN_SCHEMA, MAX_SCHEMA = -4, 8
# client_golang's DefNativeHistogramZeroThreshold (2 ** -128): nothing but 0 goes to the zero bucket.
ZERO_THRESHOLD = 2.938735877055719e-39


def index(value: float, schema: int) -> int:
    """The bucket of a positive finite ``value`` at ``schema`` (client_golang's ``observe``)."""
    frac, exp = math.frexp(value)
    if schema > 0:
        bounds = BOUNDS[schema]
        return bisect_left(bounds, frac) + (exp - 1) * len(bounds)
    key = exp - 1 if frac == 0.5 else exp
    return (key + (1 << -schema) - 1) >> -schema


def coarser(key: int, by: int) -> int:
    """The bucket ``key`` falls in at a schema ``by`` lower: bucket ``i`` holds ``(b**(i-1), b**i]``,
    so halving merges ``2j - 1`` and ``2j`` into ``j``, that is ``ceil(i / 2)`` (client_golang's
    ``if key > 0 { key++ }; key /= 2`` with Go's division towards zero)."""
    return -((-key) >> by)


def halve(buckets: dict[int, int]) -> dict[int, int]:
    """The same counts at a schema one lower: each pair of buckets merged."""
    out: dict[int, int] = {}
    for key, count in buckets.items():
        key = -((-key) >> 1)
        out[key] = out.get(key, 0) + count
    return out


@dataclass(frozen=True)
class NativeHistogram:
    """A series' native buckets beside its classic ones: ``buckets`` maps an index at ``schema``
    to its count (not cumulative, empty buckets absent); ``zero`` counts the values at or below
    ``ZERO_THRESHOLD``.  Compared by value, so the poll's memos can tell an unchanged one."""

    schema: int
    zero: int = 0
    buckets: dict[int, int] = field(default_factory=dict)


def spans(buckets: dict[int, int]) -> tuple[list[tuple[int, int]], list[int]]:
    """The sparse form of ``buckets``: (offset, length) spans and each bucket's count as the delta
    to the previous one, as client_golang's ``makeBuckets`` makes them (a gap of one or two empty
    buckets is filled with zeros rather than starting a span; the first offset is the first index)."""
    out: list[list[int]] = []
    deltas: list[int] = []
    previous = following = 0
    for n, key in enumerate(sorted(buckets)):
        gap = key - following
        if n == 0 or gap > 2:
            out.append([gap, 0])
        else:
            for _ in range(gap):
                out[-1][1] += 1
                deltas.append(-previous)
                previous = 0
        count = buckets[key]
        out[-1][1] += 1
        deltas.append(count - previous)
        previous = count
        following = key + 1
    return [(offset, length) for offset, length in out], deltas
