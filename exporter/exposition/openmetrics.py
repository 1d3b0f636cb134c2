"""OpenMetrics text (1.0.0 and 0.0.1) from the text 0.0.4 the poll prepared, not rendered again.

The two formats differ, for what this exporter writes, only in a family's metadata and the end:

- a counter's family is named without ``_total`` in ``# HELP`` and ``# TYPE`` (its samples keep
  the ``_total`` name); a counter whose name lacks ``_total`` would need its samples renamed, so
  it is typed ``unknown`` instead (none of ours is: the test of every fixture says so);
- ``# HELP`` escapes ``"`` as well (OpenMetrics' escaping is the label values' one);
- the page ends with ``# EOF``.

No ``_created`` sample is written: HAProxy does not say when a counter started (a reload or a
restart resets them), and OpenMetrics makes ``_created`` optional.  A gauge named ``*_info``
whose every sample is 1 (the build and version families) is typed ``info``, named without
``_info`` in its metadata; its samples keep their names, so what a scraper stores is the same.
``stateset`` is not used: it needs the state label named as the family, and promex fixed
``state`` (``haproxy_server_status{state="UP"}``), so the state sets stay gauges.
Histograms are written as they are: ``le`` values are Go's float text (``1``, ``0.005``,
``+Inf``), which OpenMetrics parsers accept (only ``+Inf`` has a canonical form to keep).

Everything here reads only the metadata lines at the head of a text, never its samples: a
family's piece is converted by rewriting its first two lines, and a piece without them (the
samples of servers in maintenance) is returned as it is, the very bytes object.
"""

from __future__ import annotations

import re

EOF = b"# EOF\n"

_META = re.compile(rb"^# (HELP|TYPE) (\S+)(?: (.*))?$", re.MULTILINE)


def _help_text(text: bytes) -> bytes:
    return text.replace(b'"', b'\\"') if b'"' in text else text


def convert(text: bytes) -> bytes:
    """The OpenMetrics form of text 0.0.4 ``text`` (any number of families, without ``# EOF``):
    only its ``# HELP`` and ``# TYPE`` lines change; ``text`` itself when none needs to."""
    if not text.startswith(b"#") and b"\n#" not in text:
        return text
    types = [m for m in _META.finditer(text) if m.group(1) == b"TYPE"]
    counters = {m.group(2) for m in types if m.group(3) == b"counter"}
    infos = {m.group(2) for m in types if m.group(3) == b"gauge" and _is_info(text, m.group(2))}

    def line(m: re.Match[bytes]) -> bytes:
        kind, name, rest = m.group(1), m.group(2), m.group(3) or b""
        if name in counters:
            if name.endswith(b"_total"):
                name = name[:-6]
            elif kind == b"TYPE":
                rest = b"unknown"
        elif name in infos:
            name = name[:-5]
            if kind == b"TYPE":
                rest = b"info"
        if kind == b"HELP":
            rest = _help_text(rest)
        return b"# " + kind + b" " + name + b" " + rest

    out = _META.sub(line, text)
    return text if out == text else out


def _is_info(text: bytes, name: bytes) -> bool:
    """Whether the gauge ``name`` can be an OpenMetrics ``info``: named ``*_info``, with samples,
    each of them 1."""
    if not name.endswith(b"_info") or len(name) == 5:
        return False
    values = [m.group(1) for m in re.finditer(rb"^" + re.escape(name) + rb"(?:\{[^\n]*\})? (\S+)$", text, re.MULTILINE)]
    return bool(values) and all(v == b"1" for v in values)


def changes(text: bytes) -> bool:
    """Whether :func:`convert_piece` may change this piece (a counter's, an ``*_info`` gauge's, or a
    help with ``"``): its head alone is read."""
    if not text.startswith(b"# HELP "):
        return False
    first = text.find(b"\n")
    second = text.find(b"\n", first + 1)
    head = text[:second] if second >= 0 else text
    return head.endswith(b" counter") or head.endswith(b"_info gauge") or b'"' in head[:first]


def convert_piece(text: bytes) -> bytes:
    """:func:`convert` of one family's piece: only its two head lines are read (a piece is one
    family; the samples of its servers in maintenance, without a head, are returned as they are)."""
    if not text.startswith(b"# HELP "):
        return text
    first = text.find(b"\n")
    second = text.find(b"\n", first + 1)
    if second < 0:
        return convert(text)
    head = text[:second + 1]
    if head.endswith(b"_info gauge\n"):
        return convert(text)  # an info's samples decide (each must be 1); a small family
    new = convert(head)
    return text if new is head else new + text[second + 1:]
