"""Families back from text 0.0.4 as this exporter writes it, for the forms that need the samples.

The protobuf exposition encodes the poll's families from their columns; the few small parts that
are only text (the exporter's status, the process figures, a multi-target overview) are read back
here.  Only what the renderer writes is read: ``# HELP`` and ``# TYPE`` before a family's samples,
``name{k="v",...} value`` lines with the text format's escapes, a histogram's ``_bucket``,
``_sum`` and ``_count`` samples under its ``# TYPE``.  A sample before any ``# TYPE`` of its name
is a family of its own, untyped.
"""

from __future__ import annotations

import re

from exporter.exposition.families import HISTOGRAM, Family, LabelSet

_SAMPLE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
_PAIR = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?')
_ESCAPES = {"\\\\": "\\", "\\n": "\n", '\\"': '"'}
_ESCAPED = re.compile(r'\\[\\n"]')
_HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def unescape(text: str) -> str:
    return _ESCAPED.sub(lambda m: _ESCAPES[m.group(0)], text) if "\\" in text else text


def labels(text: str | None) -> tuple[tuple[str, str], ...]:
    """The pairs of a sample's ``{...}`` (without the braces)."""
    found: list[tuple[str, str]] = []
    at, end = 0, len(text or "")
    while at < end:
        m = _PAIR.match(text or "", at)
        if m is None or m.end() == at:
            raise ValueError(f"unreadable labels: {text!r}")
        found.append((m.group(1), unescape(m.group(2))))
        at = m.end()
    return tuple(found)


def families(text: str) -> list[Family]:
    """The families of a text page, in order, each sample as written."""
    out: list[Family] = []
    helps: dict[str, str] = {}
    kinds: dict[str, str] = {}
    current: Family | None = None
    for line in text.split("\n"):  # not splitlines(): a label value may hold \x85 or \u2028
        if not line:
            continue
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            _, word, name, *rest = line.split(" ", 3)
            value = rest[0] if rest else ""
            if word == "HELP":
                helps[name] = unescape(value)
            else:
                kinds[name] = value
            continue
        if line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if m is None:
            raise ValueError(f"unreadable sample: {line!r}")
        name, pairs, value = m.group(1), labels(m.group(2)), m.group(3)
        base, suffix = _family_of(name, kinds)
        if current is None or current.name != base:
            current = Family(base, kinds.get(base, "untyped"), helps.get(base, ""), scope="")
            current.suffixes = [] if current.kind == HISTOGRAM else None
            out.append(current)
        current.labels.append(LabelSet(pairs))  # type: ignore[attr-defined]
        current.values.append(value)  # type: ignore[attr-defined]
        if current.suffixes is not None:
            current.suffixes.append(suffix)  # type: ignore[attr-defined]
    return out


def _family_of(name: str, kinds: dict[str, str]) -> tuple[str, str]:
    """The family a sample's name belongs to, and its suffix (a histogram's)."""
    for suffix in _HISTOGRAM_SUFFIXES:
        if name.endswith(suffix) and kinds.get(name[:-len(suffix)]) == HISTOGRAM:
            return name[:-len(suffix)], suffix
    return name, ""
