"""Read the protobuf exposition back with the protobuf library: the independent reader of our bytes.

The message classes are built from client_model's own ``metrics.proto`` (tests/fixtures/protobuf,
as published), read by the small parser below into a FileDescriptorProto: no generated code, no
protoc, and nothing of the exporter's encoder.  ``samples`` turns the families into the samples
the text format would name (``_bucket`` with ``le``, ``_sum``, ``_count``), as Prometheus' own
protobuf parser does for a classic histogram, so a page can be compared with its text form.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, timestamp_pb2
from google.protobuf.internal.decoder import _DecodeVarint  # type: ignore[attr-defined]

PROTO = Path(__file__).parent / "fixtures" / "protobuf" / "metrics.proto"
_SCALARS = {
    "double": descriptor_pb2.FieldDescriptorProto.TYPE_DOUBLE,
    "string": descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
    "uint64": descriptor_pb2.FieldDescriptorProto.TYPE_UINT64,
    "uint32": descriptor_pb2.FieldDescriptorProto.TYPE_UINT32,
    "int64": descriptor_pb2.FieldDescriptorProto.TYPE_INT64,
    "int32": descriptor_pb2.FieldDescriptorProto.TYPE_INT32,
    "sint32": descriptor_pb2.FieldDescriptorProto.TYPE_SINT32,
    "sint64": descriptor_pb2.FieldDescriptorProto.TYPE_SINT64,
}
_LABELS = {"optional": descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
           "repeated": descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED}
_FIELD = re.compile(r"^\s*(optional|repeated)\s+([\w.]+)\s+(\w+)\s*=\s*(\d+)\s*;")


def _descriptor() -> descriptor_pb2.FileDescriptorProto:
    text = re.sub(r"//[^\n]*", "", PROTO.read_text())
    package = re.search(r"package\s+([\w.]+);", text).group(1)  # type: ignore[union-attr]
    file = descriptor_pb2.FileDescriptorProto(name="metrics.proto", package=package, syntax="proto2",
                                              dependency=["google/protobuf/timestamp.proto"])
    enums = {}
    for name, body in re.findall(r"enum\s+(\w+)\s*\{([^}]*)\}", text):
        enum = file.enum_type.add(name=name)
        for value, number in re.findall(r"(\w+)\s*=\s*(\d+)\s*;", body):
            enum.value.add(name=value, number=int(number))
        enums[name] = enum
    for name, body in re.findall(r"message\s+(\w+)\s*\{([^}]*)\}", text):
        message = file.message_type.add(name=name)
        for line in body.splitlines():
            m = _FIELD.match(line)
            if m is None:
                assert not line.strip(), f"unread line of metrics.proto: {line!r}"
                continue
            label, kind, field_name, number = m.groups()
            field = message.field.add(name=field_name, number=int(number), label=_LABELS[label])
            if kind in _SCALARS:
                field.type = _SCALARS[kind]
            elif kind in enums:
                field.type, field.type_name = descriptor_pb2.FieldDescriptorProto.TYPE_ENUM, f".{package}.{kind}"
            else:
                field.type = descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE
                field.type_name = f".{kind}" if kind.startswith("google.") else f".{package}.{kind}"
    return file


@lru_cache(maxsize=1)
def metric_family_class() -> Any:
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(timestamp_pb2.DESCRIPTOR.serialized_pb)
    pool.Add(_descriptor())
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("io.prometheus.client.MetricFamily"))


def families(data: bytes) -> list[Any]:
    """The MetricFamily messages of a delimited stream; fails unless it ends exactly after one."""
    cls = metric_family_class()
    out, at = [], 0
    while at < len(data):
        size, at = _DecodeVarint(data, at)
        assert at + size <= len(data), "a message runs past the end"
        message = cls()
        message.ParseFromString(data[at:at + size])
        out.append(message)
        at += size
    return out


TYPES = {0: "counter", 1: "gauge", 3: "untyped", 4: "histogram"}


def _le(bound: float) -> str:
    from exporter.exposition.families import go_float
    return go_float(bound)


def samples(data: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} as the text format names them; fails on a repeat."""
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}

    def put(name: str, labels: dict[str, str], value: float) -> None:
        key = (name, tuple(sorted(labels.items())))
        assert key not in out, f"duplicate series {key}"
        out[key] = value

    for family in families(data):
        for metric in family.metric:
            labels = {pair.name: pair.value for pair in metric.label}
            kind = TYPES[family.type]
            if kind == "histogram":
                h = metric.histogram
                for bucket in h.bucket:
                    put(family.name + "_bucket", {**labels, "le": _le(bucket.upper_bound)}, bucket.cumulative_count)
                if not h.bucket or not math.isinf(h.bucket[-1].upper_bound):
                    put(family.name + "_bucket", {**labels, "le": "+Inf"}, h.sample_count)
                put(family.name + "_sum", labels, h.sample_sum)
                put(family.name + "_count", labels, h.sample_count)
            else:
                put(family.name, labels, getattr(metric, kind).value)
    return out


def metadata(data: bytes) -> dict[str, tuple[str, str]]:
    """{family name: (type, help)}; a family may be two messages (servers in maintenance), alike."""
    out: dict[str, tuple[str, str]] = {}
    for family in families(data):
        found = (TYPES[family.type], family.help)
        assert out.setdefault(family.name, found) == found, family.name
    return out


def native_buckets(h: Any) -> dict[int, int]:
    """A Histogram message's positive native buckets: index → count (empty ones left out)."""
    out: dict[int, int] = {}
    deltas = iter(h.positive_delta)
    count, key = 0, 0
    for n, span in enumerate(h.positive_span):
        key = span.offset if n == 0 else key + span.offset
        for _ in range(span.length):
            count += next(deltas)
            if count:
                out[key] = count
            key += 1
    assert next(deltas, None) is None, "more deltas than the spans hold"
    return out
