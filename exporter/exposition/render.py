"""The text exposition renderer (format 0.0.4) over :mod:`exporter.exposition.families`.

The straightforward ``prometheus_client`` rendering of the same families is kept in
:func:`to_client_families` so a test can prove both parse to the same samples.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Iterator, Sequence

from exporter.exposition.families import (
    HISTOGRAM,
    Family,
    LabelColumn,
    LabelExtension,
    LabelProduct,
    LabelSet,
)
from exporter.exposition.native import NativeHistogram
from exporter.exposition.page import Piece
from exporter.reuse import PollMemo


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _label_texts(labels: Sequence[LabelSet]) -> list[str]:
    """Label texts of a column; a column several families share (a scope's rows) keeps its own."""
    if isinstance(labels, LabelColumn):
        return labels.texts()
    if isinstance(labels, LabelExtension):
        rows = _label_texts(labels.rows)
        if not labels.names:
            return rows
        return [f"{row},{own}" if row else own for row, own in zip(rows, labels.suffix_texts())]
    return [ls.text for ls in labels]


def render_family(family: Family) -> str:
    if not family.values:
        return ""
    labels, suffixes = family.labels, family.suffixes
    if isinstance(labels, LabelProduct) and all(_label_texts(labels.rows)) and _periodic(suffixes, labels):
        return _lines(family.name, _head(family), labels, family.values, suffixes)
    return _lines(family.name, _head(family), _label_texts(labels), family.values, suffixes)


def _head(family: Family) -> str:
    return f"# HELP {family.name} {escape_help(family.help)}\n# TYPE {family.name} {family.kind}\n"


def _periodic(suffixes: Sequence[str] | None, labels: LabelProduct) -> bool:
    """Whether the samples' suffixes repeat with the product's positions, row after row (a
    histogram's do), so the product's writer can take a position's suffix for all its rows."""
    return suffixes is None or tuple(suffixes[:len(labels.positions)]) * len(labels.rows) == tuple(suffixes)


def _lines(name: str, head: str, texts: Sequence[str] | LabelProduct, values: Sequence[str],
           suffixes: Sequence[str] | None = None) -> str:
    """``head`` then ``name{labels} value`` for every sample (``name<suffix>{labels} value`` with
    ``suffixes``, one per sample)."""
    if isinstance(texts, LabelProduct):
        return _product_lines(name, head, texts, values, suffixes)
    count = len(values)
    if not count:
        return head
    if suffixes is not None:
        return _suffixed_lines(name, head, texts, values, suffixes)
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


def _suffixed_lines(name: str, head: str, texts: Sequence[str], values: Sequence[str], suffixes: Sequence[str]) -> str:
    """:func:`_lines` with each sample's name its own: the names are looked up per suffix (a
    histogram has three), then joined in as :func:`_lines` joins the label texts."""
    names = list(map({suffix: name + suffix for suffix in set(suffixes)}.__getitem__, suffixes))
    if not all(texts):  # a row without labels: its _sum and _count are written bare
        return head + "".join(f"{full}{{{text}}} {value}\n" if text else f"{full} {value}\n"
                              for full, text, value in zip(names, texts, values))
    parts = ["\n", "", "{", "", "} ", ""] * len(values)
    parts[0] = head
    parts[1::6] = names
    parts[3::6] = texts
    parts[5::6] = values
    parts.append("\n")
    return "".join(parts)


def _product_lines(name: str, head: str, labels: LabelProduct, values: Sequence[str],
                   suffixes: Sequence[str] | None = None) -> str:
    """:func:`_lines` of a product column: ``name{row,suffix} value`` row by row, each row's text
    and each suffix written by slice assignments, as :func:`_lines` writes a column's texts.  A
    position's name suffix, if any, is the same in every row (:func:`_periodic`); an empty label
    suffix (a histogram's ``_sum``, ``_count``) writes the row's text alone."""
    rows = _label_texts(labels.rows)
    count, width = len(values), len(labels.positions)
    if not count:
        return head
    parts = ["\n" + name + "{", "", "", ""] * count
    step = 4 * width
    for at, suffix in enumerate(labels.suffix_texts()):
        if suffixes is not None:
            parts[4 * at::step] = ["\n" + name + suffixes[at] + "{"] * len(rows)
        parts[1 + 4 * at::step] = rows
        parts[2 + 4 * at::step] = [("," + suffix if suffix else "") + "} "] * len(rows)
    parts[0] = head + parts[0][1:]
    parts[3::4] = values
    parts.append("\n")
    return "".join(parts)


def render(families: Iterable[Family]) -> str:
    """Text exposition format 0.0.4 for the families (empty families are left out)."""
    return "".join(render_family(f) for f in families)


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


# A family's pieces, and how many of its series were left out as repeats (noted again each poll
# the pieces are taken as they were).
Rendered = tuple[list[Piece], int]


def render_pieces(families: Iterable[Family], dropped: Dropped | None = None,
                  memo: PollMemo[Rendered] | None = None) -> list[Piece]:
    """:func:`render` as UTF-8 pieces, one per family (two for a family with servers in
    maintenance), encoded family by family: the whole text never exists as both a str and bytes.

    The page this makes can never hold a family name twice or a series twice (Prometheus and
    promtool reject both): a later family of a name already written, and a later sample whose
    labels repeat an earlier one in its family, are left out and noted in ``dropped``.

    With a ``memo`` kept from poll to poll (exporter/reuse.py), a family whose name, type, help,
    scope, flags, label, value and suffix columns equal the last poll's gets the same pieces again,
    not rendered: most of a large installation does not change between two polls, and the columns
    compare in C (the label sets are the very objects kept from poll to poll by the model).
    """
    memo = memo if memo is not None else PollMemo()
    names: set[str] = set()
    dropped = dropped if dropped is not None else Dropped()
    out: list[Piece] = []
    with memo.poll():
        for family in families:
            if not family.values:
                continue
            if family.name in names:
                dropped.note("family", 1, family.name, len(family.values))
                continue
            names.add(family.name)
            pieces, repeats = memo.get(family.name, _render, family.name, family.kind, family.help, family.scope,
                                       family.extra, family.maint_from, family.labels, family.values,
                                       family.suffixes, family.native)
            if repeats:
                dropped.note("series", repeats, family.name, repeats)
            out.extend(pieces)
    return out


def _render(name: str, kind: str, help: str, scope: str, extra: bool, maint_from: int | None,
            labels: Sequence[LabelSet], values: Sequence[str], suffixes: Sequence[str] | None,
            native: Sequence[NativeHistogram | None] | None) -> Rendered:
    """One family's pieces, each series once, and how many repeated series were left out.  Each
    piece keeps the family it was written from (``Piece.source``): the protobuf form encodes it."""
    family = Family.of_columns(name, kind, help, labels, values, scope=scope, suffixes=suffixes)
    family.extra, family.maint_from, family.native = extra, maint_from, native
    if isinstance(labels, LabelProduct) and _plain_product(labels, maint_from, suffixes):
        return _pieces(family, labels), 0
    texts = _label_texts(labels)
    if suffixes is None and isinstance(labels, LabelColumn):
        unique = labels.unique()
    else:
        keys = _series(texts, suffixes)
        unique = len(set(keys)) == len(keys)
    if unique:
        return _pieces(family, texts), 0
    family, texts = _first_of_each(family, texts)
    return _pieces(family, texts), len(values) - len(family.values)


def _series(texts: list[str], suffixes: Sequence[str] | None) -> list[str]:
    """What tells a family's series apart: its label text, after its name's suffix when samples
    have one (a histogram's ``_sum`` and ``_count`` of a row share its labels).  ``{`` is in no
    suffix, so no two pairs of them make one key."""
    return texts if suffixes is None else list(map("{}{{{}".format, suffixes, texts))


def _plain_product(labels: LabelProduct, maint_from: int | None, suffixes: Sequence[str] | None) -> bool:
    """Whether a product column can be written as it is: its rows all different and labelled (then
    so are its samples: a suffix's value is escaped, so no row's text ends in another row's
    suffix; a histogram's samples of a row differ by ``le`` or by name), servers in maintenance, if
    any, whole rows of it, and the samples' name suffixes, if any, the same in every row."""
    rows = labels.rows
    texts = _label_texts(rows)
    return (all(texts) and (maint_from is None or maint_from % len(labels.positions) == 0)
            and (rows.unique() if isinstance(rows, LabelColumn) else len(set(texts)) == len(texts))
            and _periodic(suffixes, labels))


def _part(texts: Sequence[str] | LabelProduct, start: int, stop: int | None) -> Sequence[str] | LabelProduct:
    """Samples ``start`` to ``stop`` of a column (a product's: whole rows, see :func:`_plain_product`)."""
    if isinstance(texts, LabelProduct):
        width = len(texts.positions)
        return LabelProduct(texts.rows[start // width:None if stop is None else stop // width], texts.group,
                            texts.positions)
    return texts[start:stop]


def _pieces(family: Family, texts: Sequence[str] | LabelProduct) -> list[Piece]:
    name, head, values, cut, suffixes = family.name, _head(family), family.values, family.maint_from, family.suffixes
    if cut is None:
        return [Piece(name, _lines(name, head, texts, values, suffixes).encode("utf-8"), family.scope,
                      extra=family.extra, source=family)]
    # The header goes with the first samples; when every sample is of a server in maintenance, with those.
    low, high = (None, None) if suffixes is None else (suffixes[:cut], suffixes[cut:])
    main = _lines(name, head, _part(texts, 0, cut), values[:cut], low) if cut else ""
    tail = _lines(name, "" if cut else head, _part(texts, cut, None), values[cut:], high)
    return [Piece(name, main.encode("utf-8"), family.scope, extra=family.extra, source=family, span=(0, cut)),
            Piece(name, tail.encode("utf-8"), family.scope, maint=True, extra=family.extra, source=family,
                  span=(cut, len(values)))]


def _first_of_each(family: Family, texts: list[str]) -> tuple[Family, list[str]]:
    """The family with each series once (the first sample of it), and its label texts."""
    seen: set[str] = set()
    suffixes = family.suffixes
    keep = [not (key in seen or seen.add(key))  # type: ignore[func-returns-value]
            for key in _series(texts, suffixes)]
    labels = [ls for ls, k in zip(family.labels, keep) if k]
    values = [v for v, k in zip(family.values, keep) if k]
    made = family.with_columns(labels, values, None if suffixes is None else [s for s, k in zip(suffixes, keep) if k])
    if family.maint_from is not None:
        made.maint_from = sum(keep[: family.maint_from])
    return made, [t for t, k in zip(texts, keep) if k]


def to_client_families(families: Iterable[Family]) -> Iterator[object]:
    """The same families as prometheus_client metric objects (the reference rendering)."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    for fam in families:
        if not fam.values:
            continue
        if fam.kind == HISTOGRAM:
            yield _client_histogram(fam)
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


def _client_histogram(fam: Family) -> object:
    """A histogram family as prometheus_client's, its samples read back into rows: a row's
    buckets (``le`` its label set's last pair), then its ``_sum``, then its ``_count``, whose label
    set is the row's own.  prometheus_client writes the ``_count`` from the ``+Inf`` bucket, so a
    count column that disagrees shows in the comparison."""
    from prometheus_client.core import HistogramMetricFamily

    suffixes = fam.suffixes if fam.suffixes is not None else [""] * len(fam.values)
    names = [k for k, _ in fam.labels[-1].pairs]  # the last sample is a _count: of the row's own set
    metric = HistogramMetricFamily(fam.name, fam.help, labels=names)
    buckets: list[tuple[str, float]] = []
    total = 0.0
    for labels, suffix, value in zip(fam.labels, suffixes, fam.values):
        if suffix == "_bucket":
            buckets.append((labels.pairs[-1][1], float(value)))
        elif suffix == "_sum":
            total = float(value)
        elif suffix == "_count":
            row = [k for k, _ in labels.pairs]
            if row != names:  # prometheus_client would write this row under the other's names
                raise ValueError(f"{fam.name}: rows labelled {row} and {names}")
            metric.add_metric([v for _, v in labels.pairs], buckets, total)
            buckets = []
        else:
            raise ValueError(f"{fam.name}: a histogram's sample with suffix {suffix!r}")
    return metric
