"""Metric families as plain data, and the exposition renderer.

Rendering is the hot path at scale (hundreds of thousands of samples per poll), so label text is
escaped once per object (one :class:`LabelSet` per proxy/server row, shared by every family) and
values stay the text HAProxy sent when no unit conversion is needed.  The straightforward
``prometheus_client`` rendering of the same families is kept in :func:`to_client_families` so a
test can prove both parse to the same samples.
"""

from __future__ import annotations

from typing import Iterable, Iterator


def clean_label_text(value: str) -> bool:
    """True when the text needs no escaping as a label value (callers check whole columns at once)."""
    return not ("\\" in value or '"' in value or "\n" in value)


def escape_label_value(value: str) -> str:
    if "\\" in value or '"' in value or "\n" in value:  # clean_label_text, inlined: called per label
        value = value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
    return value


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


class LabelSet:
    """Label pairs with their exposition text computed once."""

    __slots__ = ("pairs", "text", "_variants")

    def __init__(self, pairs: tuple[tuple[str, str], ...]) -> None:
        self.pairs = pairs
        self.text = ",".join(f'{k}="{escape_label_value(v)}"' for k, v in pairs)
        self._variants: dict[LabelVariants, tuple[LabelSet, ...]] | None = None

    def extend(self, name: str, value: str) -> "LabelSet":
        return self.plus(label_suffix((name, value)))

    def plus(self, suffix: "LabelSuffix") -> "LabelSet":
        """This set with more pairs whose text is already escaped.

        State sets and response codes add the same few pairs to every row; making their text
        once per family instead of once per sample is most of what keeps the model fast.
        """
        pairs, text = suffix
        if not pairs:
            return self
        new = _new_label_set(LabelSet)
        new.pairs = self.pairs + pairs
        new.text = f"{self.text},{text}" if self.text else text
        new._variants = None
        return new

    def variants(self, group: "LabelVariants") -> "tuple[LabelSet, ...]":
        """This set plus each suffix of ``group``, made once and then kept with this set.

        A state set needs the same 2 to 16 variants of a row every poll.  When the row's own set
        is kept from one poll to the next (``model.LabelCache``), so are its variants, and a poll
        makes no label objects at all for rows it has seen before.
        """
        cache = self._variants
        if cache is None:
            cache = self._variants = {}
        found = cache.get(group)
        if found is None:
            found = cache[group] = tuple(self.plus(suffix) for suffix in group.suffixes)
        return found


class LabelVariants:
    """A fixed list of one-label suffixes (the states of a state set, the response classes).

    Made once per process and compared by identity, so looking a group up is cheap.
    """

    __slots__ = ("name", "values", "suffixes")

    def __init__(self, name: str, values: tuple[str, ...]) -> None:
        self.name = name
        self.values = values
        self.suffixes = tuple(label_suffix((name, value)) for value in values)


# Extra pairs and their exposition text (``name="escaped value"``, comma-joined).
LabelSuffix = tuple[tuple[tuple[str, str], ...], str]
_new_label_set = object.__new__


def label_suffix(*pairs: tuple[str, str]) -> LabelSuffix:
    """``label_suffix(("code", "2xx"))``: the pairs plus their escaped text, for :meth:`LabelSet.plus`."""
    return pairs, ",".join(f'{k}="{escape_label_value(v)}"' for k, v in pairs)


NO_LABELS = LabelSet(())


class Family:
    """One metric family: name, type, help and samples of (labels, value text)."""

    __slots__ = ("name", "kind", "help", "samples")

    def __init__(self, name: str, kind: str, help: str, samples: list[tuple[LabelSet, str]] | None = None):
        self.name = name
        self.kind = kind
        self.help = help
        self.samples: list[tuple[LabelSet, str]] = samples if samples is not None else []

    def add(self, labels: LabelSet, value: str) -> None:
        self.samples.append((labels, value))

    def __repr__(self) -> str:
        return f"Family({self.name!r}, {self.kind!r}, {len(self.samples)} samples)"


def render_family(family: Family) -> str:
    name = family.name
    head = f"# HELP {name} {escape_help(family.help)}\n# TYPE {name} {family.kind}\n"
    open_ = name + "{"
    lines = [
        f"{open_}{labels.text}}} {value}\n" if labels.text else f"{name} {value}\n"
        for labels, value in family.samples
    ]
    return head + "".join(lines)


def render(families: Iterable[Family]) -> str:
    """Text exposition format 0.0.4 for the families (empty families are left out)."""
    return "".join(render_family(f) for f in families if f.samples)


def render_bytes(families: Iterable[Family]) -> bytes:
    """:func:`render` as UTF-8, encoded family by family: the whole text never exists as both a
    str and bytes (at 2000 backends x 25 servers that is 200 MB less at the poll's peak)."""
    return b"".join(render_family(f).encode("utf-8") for f in families if f.samples)


def format_float(value: float) -> str:
    """Prometheus text for a float: integers without a fraction, others as Python's repr."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def to_client_families(families: Iterable[Family]) -> Iterator[object]:
    """The same families as prometheus_client metric objects (the reference rendering)."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    for fam in families:
        if not fam.samples:
            continue
        label_names = [k for k, _ in fam.samples[0][0].pairs]
        if fam.kind == "counter":
            base = fam.name[:-6] if fam.name.endswith("_total") else fam.name
            metric: object = CounterMetricFamily(base, fam.help, labels=label_names)
        else:
            metric = GaugeMetricFamily(fam.name, fam.help, labels=label_names)
        for labels, value in fam.samples:
            metric.add_metric([v for _, v in labels.pairs], float(value))  # type: ignore[attr-defined]
        yield metric
