"""The text exposition renderer (format 0.0.4) over :mod:`exporter.exposition.families`.

The straightforward ``prometheus_client`` rendering of the same families is kept in
:func:`to_client_families` so a test can prove both parse to the same samples.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Iterator, Sequence

from exporter.exposition.families import Family, LabelSet
from exporter.exposition.page import Piece


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


TextMemo = dict[int, tuple[Sequence[LabelSet], list[str]]]


def _label_texts(labels: Sequence[LabelSet], memo: TextMemo | None) -> list[str]:
    """Label texts of a column, made once per column object: most families of a scope share it."""
    if memo is None:
        return [ls.text for ls in labels]
    found = memo.get(id(labels))
    if found is None or found[0] is not labels:
        found = memo[id(labels)] = (labels, [ls.text for ls in labels])  # keeps labels alive: ids stay unique
    return found[1]


def render_family(family: Family, memo: TextMemo | None = None) -> str:
    if not family.values:
        return ""
    return _lines(family.name, _head(family), _label_texts(family.labels, memo), family.values)


def _head(family: Family) -> str:
    return f"# HELP {family.name} {escape_help(family.help)}\n# TYPE {family.name} {family.kind}\n"


def _lines(name: str, head: str, texts: Sequence[str], values: Sequence[str]) -> str:
    """``head`` then ``name{labels} value`` for every sample."""
    count = len(values)
    if not count:
        return head
    if not all(texts):  # a sample without labels (process-wide figures): written one by one
        return head + "".join(f"{name}{{{text}}} {value}\n" if text else f"{name} {value}\n"
                              for text, value in zip(texts, values))
    # name{labels} value\n for every sample, as one join over [sep, labels, "} ", value] * count:
    # the slices are filled in C, so a sample costs no Python-level work at all.
    parts = ["\n" + name + "{", "", "} ", ""] * count
    parts[0] = head + name + "{"
    parts[1::4] = texts
    parts[3::4] = values
    parts.append("\n")
    return "".join(parts)


def render(families: Iterable[Family]) -> str:
    """Text exposition format 0.0.4 for the families (empty families are left out)."""
    memo: TextMemo = {}
    return "".join(render_family(f, memo) for f in families)


@dataclass
class Dropped:
    """What :func:`render_bytes` left out so the page stays valid, with one name of each."""

    families: int = 0
    series: int = 0
    samples: int = 0  # samples left out, whole families' included
    examples: list[str] = field(default_factory=list)

    def note(self, what: str, count: int, name: str, samples: int) -> None:
        if what == "family":
            self.families += count
        else:
            self.series += count
        self.samples += samples
        if len(self.examples) < 5:
            self.examples.append(f"{what} {name}")


def render_bytes(families: Iterable[Family], dropped: Dropped | None = None) -> bytes:
    """:func:`render` as UTF-8 (the whole page of :func:`render_pieces`)."""
    return b"".join(piece.text for piece in render_pieces(families, dropped))


class PieceCache:
    """Each family's pieces of the last poll, with the label and value columns they were made from.

    Most of a large installation does not change between two polls (idle servers, limits, states):
    a family whose name, type, help, label column and value column equal the last poll's gets the
    same pieces again, compared in C (the label sets are the very objects kept from poll to poll,
    see ``LabelCache``), not rendered.  Only the latest poll's families are kept.
    """

    def __init__(self) -> None:
        self._last: dict[str, tuple[Family, list[Piece]]] = {}
        self._next: dict[str, tuple[Family, list[Piece]]] = {}
        self.reused = 0  # families whose pieces came from the last poll, in the latest poll

    def get(self, family: Family) -> list[Piece] | None:
        found = self._last.get(family.name)
        if found is None:
            return None
        old, pieces = found
        if (old.values == family.values and old.labels == family.labels and old.maint_from == family.maint_from
                and old.kind == family.kind and old.help == family.help and old.extra == family.extra):
            return pieces
        return None

    def keep(self, family: Family, pieces: list[Piece]) -> None:
        self._next[family.name] = (family, pieces)

    def done(self) -> None:
        """The poll is rendered: what it kept is what the next one compares with."""
        self._last, self._next = self._next, {}


def render_pieces(families: Iterable[Family], dropped: Dropped | None = None,
                  cache: PieceCache | None = None) -> list[Piece]:
    """:func:`render` as UTF-8 pieces, one per family (two for a family with servers in
    maintenance), encoded family by family: the whole text never exists as both a str and bytes
    (at 2000 backends x 25 servers that is 200 MB less at the poll's peak).

    The page this makes can never hold a family name twice or a series twice (Prometheus and
    promtool reject both): a later family of a name already written, and a later sample whose
    labels repeat an earlier one in its family, are left out and noted in ``dropped``.  Label
    columns are checked once per column object, and most families of a scope share theirs.
    With a ``cache``, a family as it was in the last poll is not rendered again (:class:`PieceCache`).
    """
    memo: TextMemo = {}
    unique: dict[int, bool] = {}
    names: set[str] = set()
    dropped = dropped if dropped is not None else Dropped()
    out: list[Piece] = []
    if cache is not None:
        cache.reused = 0
    for family in families:
        if not family.values:
            continue
        if family.name in names:
            dropped.note("family", 1, family.name, len(family.values))
            continue
        names.add(family.name)
        if cache is not None and (kept := cache.get(family)) is not None:
            cache.keep(family, kept)  # checked for duplicates when it was rendered: the same columns now
            cache.reused += 1
            out.extend(kept)
            continue
        texts = _label_texts(family.labels, memo)
        key = id(family.labels)
        ok = unique.get(key)
        if ok is None:
            ok = unique[key] = len(set(texts)) == len(texts)
        if not ok:
            family, texts = _first_of_each(family, texts, dropped)
            made = _pieces(family, texts)  # not kept: its duplicates must be noted every poll
        else:
            made = _pieces(family, texts)
            if cache is not None:
                cache.keep(family, made)
        out.extend(made)
    if cache is not None:
        cache.done()
    return out


def _pieces(family: Family, texts: Sequence[str]) -> list[Piece]:
    name, head, values, cut = family.name, _head(family), family.values, family.maint_from
    if cut is None:
        return [Piece(name, _lines(name, head, texts, values).encode("utf-8"), family.scope, extra=family.extra)]
    # The header goes with the first samples; when every sample is of a server in maintenance, with those.
    main = _lines(name, head, texts[:cut], values[:cut]) if cut else ""
    tail = _lines(name, "" if cut else head, texts[cut:], values[cut:])
    return [Piece(name, main.encode("utf-8"), family.scope, extra=family.extra),
            Piece(name, tail.encode("utf-8"), family.scope, maint=True, extra=family.extra)]


def _first_of_each(family: Family, texts: list[str], dropped: Dropped) -> tuple[Family, list[str]]:
    """The family with each label set once (the first sample of it), and its label texts."""
    seen: set[str] = set()
    keep = [not (text in seen or seen.add(text)) for text in texts]  # type: ignore[func-returns-value]
    labels = [ls for ls, k in zip(family.labels, keep) if k]
    values = [v for v, k in zip(family.values, keep) if k]
    dropped.note("series", len(texts) - len(labels), family.name, len(texts) - len(labels))
    made = family.with_columns(labels, values)
    if family.maint_from is not None:
        made.maint_from = sum(keep[: family.maint_from])
    return made, [t for t, k in zip(texts, keep) if k]


def to_client_families(families: Iterable[Family]) -> Iterator[object]:
    """The same families as prometheus_client metric objects (the reference rendering)."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    for fam in families:
        if not fam.values:
            continue
        label_names = [k for k, _ in fam.labels[0].pairs]
        if fam.kind == "counter":
            base = fam.name[:-6] if fam.name.endswith("_total") else fam.name
            metric: object = CounterMetricFamily(base, fam.help, labels=label_names)
        else:
            metric = GaugeMetricFamily(fam.name, fam.help, labels=label_names)
        for labels, value in zip(fam.labels, fam.values):
            metric.add_metric([v for _, v in labels.pairs], float(value))  # type: ignore[attr-defined]
        yield metric
