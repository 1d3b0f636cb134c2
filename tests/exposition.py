"""Read an exposition back with prometheus_client's own parser (the reference reader)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value}; fails on a duplicate series."""
    out: dict = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = (s.name, tuple(sorted(s.labels.items())))
            assert key not in out, f"duplicate series {key}"
            out[key] = s.value
    return out


def types(text: str) -> dict[str, str]:
    return {f.name: f.type for f in text_string_to_metric_families(text)}


def value(parsed: dict, name: str, **labels: str) -> float | None:
    return parsed.get((name, tuple(sorted(labels.items()))))


def label_bytes(label: str) -> bytes:
    """A key label read back as docs/sticktables.md says: \\\\ is a backslash, \\xNN the byte NN,
    any other character itself (UTF-8)."""
    out, pos = bytearray(), 0
    while pos < len(label):
        if label.startswith("\\\\", pos):
            out += b"\\"
            pos += 2
        elif label.startswith("\\x", pos):
            out.append(int(label[pos + 2:pos + 4], 16))
            pos += 4
        else:
            assert label[pos] != "\\", label  # no other backslash in a label
            out += label[pos].encode()
            pos += 1
    return bytes(out)
