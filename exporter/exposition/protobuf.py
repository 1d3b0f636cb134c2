"""The protobuf exposition: delimited ``io.prometheus.client.MetricFamily`` messages, hand-written.

What a Prometheus started with ``--enable-feature=native-histograms`` asks for first, and the only
form that carries native histograms (exporter/exposition/native.py).  Each family is one message
(``name``, ``help``, ``type``, its metrics) preceded by its length as a varint; a family whose
servers in maintenance are a piece of their own is two messages of the same name (Prometheus reads
every message on its own; promex's ``no-maint`` drops the second).  The wire format is small enough
to write by hand (varints, zigzag, little-endian doubles, length-delimited fields), so the exporter
needs no protobuf runtime; the tests decode these bytes with the protobuf library and the
message classes of client_model's own metrics.proto.

A family is encoded from the columns it was rendered from (a piece's ``source``), not parsed
back from its text: a sample costs a float(), a pack and a join.  A sample's labels are encoded once
per label set and kept with it (the model keeps its sets from poll to poll), as its text is.  The
small parts (the exporter's status, the process figures) have only their text: :func:`encode_text`
reads it (exporter/exposition/textparse.py) and encodes the families it holds.
"""

from __future__ import annotations

import struct
from typing import Sequence

from exporter.exposition import native as nh
from exporter.exposition.families import (
    HISTOGRAM,
    BucketBounds,
    Family,
    LabelProduct,
    LabelSet,
)
from exporter.exposition.textparse import families as read_text

TYPES = {"counter": 0, "gauge": 1, "summary": 2, "untyped": 3, HISTOGRAM: 4}
# A scalar metric's value field: Counter (3), Gauge (2) or Untyped (5), each a message of one double
# (field 1: 9 bytes), so the metric's length depends on its labels only.
_VALUE_TAGS = {"counter": b"\x1a\x09\x09", "gauge": b"\x12\x09\x09", "untyped": b"\x2a\x09\x09"}
_double = struct.Struct("<d").pack


def varint(n: int) -> bytes:
    """An unsigned varint (7 bits a byte, least significant first)."""
    if n < 0x80:
        return _SMALL[n]
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_SMALL = tuple(bytes((n,)) for n in range(0x80))


def zigzag(n: int) -> int:
    """A signed integer as sint32/sint64 carry it: 0, -1, 1, -2... as 0, 1, 2, 3..."""
    return (n << 1) ^ (n >> 63)


def field(tag: int, payload: bytes) -> bytes:
    """A length-delimited field (``tag`` already shifted and typed) with its payload."""
    return _SMALL[tag] + varint(len(payload)) + payload


def _text(tag: int, value: str) -> bytes:
    return field(tag, value.encode("utf-8"))


def pairs(labels: tuple[tuple[str, str], ...]) -> bytes:
    """``Metric.label`` fields of these pairs (each a LabelPair message: name 1, value 2)."""
    return b"".join(field(0x0A, _text(0x0A, name) + _text(0x12, value)) for name, value in labels)


def scalar_head(labels: LabelSet) -> bytes:
    """A counter's, gauge's or untyped sample's ``MetricFamily.metric`` field up to its value: the
    field's tag and length (its value message is always 11 bytes) and the label fields.  Made once
    and kept with the set (``LabelSet.pb``): the model keeps its sets from poll to poll, so a
    changed value costs no label encoding, as it costs no label escaping in the text form."""
    found = labels.pb
    if found is None:
        fields = pairs(labels.pairs)
        found = labels.pb = b"\x22" + varint(len(fields) + 11) + fields
    return found


def _scalar_metrics(kind: str, labels: Sequence[LabelSet], values: Sequence[str]) -> list[bytes]:
    """``MetricFamily.metric`` fields of a counter's, gauge's or untyped family's samples: a kept
    head, then the value's tag and double, interleaved in C."""
    tag = _VALUE_TAGS.get(kind, _VALUE_TAGS["untyped"])
    heads = list(map(scalar_head, labels))  # a product's sets are its rows' variants, kept with them
    parts: list[bytes] = [b""] * (2 * len(heads))
    parts[0::2] = heads
    parts[1::2] = map(tag.__add__, map(_double, map(float, values)))
    return parts


def histogram(count: int, total: float, buckets: Sequence[tuple[float, int]],
              native: nh.NativeHistogram | None = None) -> bytes:
    """A Histogram message: count, sum, the classic buckets (cumulative, ``+Inf`` left out as
    client_golang does: it is the count), and the native buckets if there are any."""
    out = [b"\x08", varint(count), b"\x11", _double(total)]
    for bound, cumulative in buckets:
        if bound != float("inf"):
            out.append(field(0x1A, b"\x08" + varint(cumulative) + b"\x11" + _double(bound)))
    if native is not None:
        out += [b"\x28", varint(zigzag(native.schema)), b"\x31", _double(nh.ZERO_THRESHOLD),
                b"\x38", varint(native.zero)]
        spans, deltas = nh.spans(native.buckets)
        out += [field(0x62, b"\x08" + varint(zigzag(offset)) + b"\x10" + varint(length)) for offset, length in spans]
        out += [b"\x68" + varint(zigzag(delta)) for delta in deltas]
    return b"".join(out)


def _histogram_metrics(family: Family, start: int, stop: int) -> list[bytes]:
    """``MetricFamily.metric`` fields of a histogram's rows.  A row is its buckets (the ``le``
    pair last in their label sets), its ``_sum`` and its ``_count`` (of the row's own set)."""
    labels, values = family.labels, family.values
    suffixes = family.suffixes if family.suffixes is not None else [""] * len(values)
    native = family.native
    if isinstance(labels, LabelProduct) and isinstance(labels.group, BucketBounds) and start == 0 \
            and stop == len(values) and len(labels.positions) == len(labels.group.suffixes):
        return _product_histogram(labels, values, native)
    out: list[bytes] = []
    buckets: list[tuple[float, int]] = []
    total, row = 0.0, 0
    for at in range(start, stop):
        suffix = suffixes[at]
        if suffix == "_bucket":
            buckets.append((float(labels[at].pairs[-1][1]), int(float(values[at]))))
        elif suffix == "_sum":
            total = float(values[at])
        elif suffix == "_count":
            own = native[row] if native is not None and start == 0 else None
            body = histogram(int(float(values[at])), total, buckets, own)
            out.append(field(0x22, pairs(labels[at].pairs) + field(0x3A, body)))
            buckets, total, row = [], 0.0, row + 1
    return out


def _product_histogram(labels: LabelProduct, values: Sequence[str],
                       native: Sequence[nh.NativeHistogram | None] | None) -> list[bytes]:
    """:func:`_histogram_metrics` of a histogram_family's columns: a row's samples are its bounds'
    buckets, ``+Inf``, ``_sum``, ``_count``, row after row."""
    group = labels.group
    assert isinstance(group, BucketBounds)
    bounds = group.bounds
    width = len(bounds) + 3
    out: list[bytes] = []
    for row, lb in enumerate(pairs(ls.pairs) for ls in labels.rows):
        cells = values[row * width:(row + 1) * width]
        buckets = list(zip(bounds, map(int, cells[:len(bounds)])))
        own = native[row] if native is not None else None
        body = histogram(int(cells[-1]), float(cells[-2]), buckets, own)
        out.append(field(0x22, lb + field(0x3A, body)))
    return out


def _part(labels: Sequence[LabelSet], start: int, stop: int) -> Sequence[LabelSet]:
    """Samples ``start`` to ``stop`` of a label column; a product's as whole rows when they are, so
    that its sets are not made one by one."""
    if isinstance(labels, LabelProduct):
        width = len(labels.positions)
        if start % width == 0 and stop % width == 0:
            return LabelProduct(labels.rows[start // width:stop // width], labels.group, labels.positions)
    return labels[start:stop]


def encode_family(family: Family, start: int = 0, stop: int | None = None) -> bytes:
    """One delimited MetricFamily of samples ``start`` to ``stop`` of ``family`` (b"" for none)."""
    stop = len(family.values) if stop is None else stop
    if stop <= start:
        return b""
    if family.kind == HISTOGRAM:
        metrics = _histogram_metrics(family, start, stop)
    elif start == 0 and stop == len(family.values):
        metrics = _scalar_metrics(family.kind, family.labels, family.values)
    else:  # servers in maintenance, a piece of their own
        metrics = _scalar_metrics(family.kind, _part(family.labels, start, stop), family.values[start:stop])
    head = _text(0x0A, family.name) + _text(0x12, family.help) + b"\x18" + varint(TYPES.get(family.kind, 3))
    size = len(head) + sum(map(len, metrics))
    return b"".join([varint(size), head, *metrics])


def encode_text(text: bytes) -> bytes:
    """The delimited MetricFamily messages of a text 0.0.4 page (a small part: the status lines)."""
    return b"".join(encode_family(family) for family in read_text(text.decode("utf-8")))
