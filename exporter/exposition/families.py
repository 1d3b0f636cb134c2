"""Metric families as plain data: label sets escaped once, samples as parallel columns.

Rendering is the hot path at scale (hundreds of thousands of samples per poll), so label text is
escaped once per object (one :class:`LabelSet` per proxy/server row, shared by every family) and
values stay the text HAProxy sent when no unit conversion is needed.  A histogram is a family like
the others whose samples also carry their name's suffix (``_bucket``, ``_sum``, ``_count``).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Iterable, Iterator, Sequence, overload

from exporter.exposition.native import NativeHistogram


def clean_label_text(value: str) -> bool:
    """True when the text needs no escaping as a label value (callers check whole columns at once)."""
    return not ("\\" in value or '"' in value or "\n" in value)


def escape_label_value(value: str) -> str:
    if "\\" in value or '"' in value or "\n" in value:  # clean_label_text, inlined: called per label
        value = value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
    return value


class LabelSet:
    """Label pairs with their exposition text computed once."""

    __slots__ = ("pairs", "text", "_variants", "root", "pb")

    def __init__(self, pairs: tuple[tuple[str, str], ...]) -> None:
        self.pairs = pairs
        self.text = ",".join(f'{k}="{escape_label_value(v)}"' for k, v in pairs)
        # The pairs as protobuf LabelPair fields, made by the protobuf form the first time it
        # writes this set and kept with it, as ``text`` is (exporter/exposition/protobuf.py).
        self.pb: bytes | None = None
        # The row's own set this one was made from (itself for a row's set): it tells which
        # samples of a family belong to a row (servers in maintenance, see Family.maint_from).
        self.root: LabelSet = self
        # Kept with the set: its variants by group (see ``variants``).
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
        new.pb = None
        new.root = self.root if self.pairs else new
        return new

    def variants(self, group: "LabelVariants") -> "tuple[LabelSet, ...]":
        """This set plus each suffix of ``group``, made once and then kept with this set.

        The model's families hold these as a :class:`LabelProduct`, which makes them only when a
        sample's own set is asked for (merging old workers' families, a repeated row, tests).
        """
        cache = self._variants
        if cache is None:
            cache = self._variants = {}
        found = cache.get(group)
        if found is None:
            found = cache[group] = tuple(self.plus(suffix) for suffix in group.suffixes)
        return found  # no cast(): a call per row and family



class LabelColumn(tuple[LabelSet, ...]):
    """A label column several families share (a scope's rows, kept from poll to poll by the
    model), with its texts and whether they are all different, each found once for the column."""

    def texts(self) -> list[str]:
        found: list[str] | None = self.__dict__.get("_texts")
        if found is None:
            found = self.__dict__["_texts"] = [ls.text for ls in self]
        return found

    def unique(self) -> bool:
        found: bool | None = self.__dict__.get("_unique")
        if found is None:
            texts = self.texts()
            found = self.__dict__["_unique"] = len(set(texts)) == len(texts)
        return found


class _DerivedLabels(Sequence[LabelSet]):
    """A label column that stands for label sets it does not keep: a sample's own set is made by
    :meth:`_at` only when asked for (by index or slice); the renderer reads the parts instead."""

    __slots__ = ()

    @overload
    def __getitem__(self, index: int) -> LabelSet: ...

    @overload
    def __getitem__(self, index: slice) -> list[LabelSet]: ...

    def __getitem__(self, index: int | slice) -> LabelSet | list[LabelSet]:
        if isinstance(index, slice):
            return [self._at(i) for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self._at(index)

    def _at(self, index: int) -> LabelSet:
        raise NotImplementedError


class LabelProduct(_DerivedLabels):
    """The label column of rows times suffixes: each row's set followed by each suffix of ``group``
    at ``positions``, row by row (a state set's states, the response classes, a module's ``mod``).

    Kept as the two, not as a label set per sample: a state set needs 2 to 16 variants of every
    row, and their sets (pairs and text each) were most of the model's memory.  The renderer
    writes each row's text once per suffix without making the joined texts; a sample's own set is
    made only when asked for (``__getitem__``, then kept with its row: ``LabelSet.variants``).
    Two products are equal when their rows, group and positions are, which compares in C (the
    rows are the very label sets kept from poll to poll).
    """

    __slots__ = ("rows", "group", "positions")

    def __init__(self, rows: Sequence[LabelSet], group: "LabelVariants", positions: tuple[int, ...] | None = None):
        self.rows = rows
        self.group = group
        self.positions = positions if positions is not None else tuple(range(len(group.suffixes)))

    def __len__(self) -> int:
        return len(self.rows) * len(self.positions)

    def _at(self, index: int) -> LabelSet:
        row, at = divmod(index, len(self.positions))
        return self.rows[row].variants(self.group)[self.positions[at]]

    def __iter__(self) -> Iterator[LabelSet]:
        for row in self.rows:
            variants = row.variants(self.group)
            for at in self.positions:
                yield variants[at]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LabelProduct):
            return NotImplemented
        return (self.group is other.group and self.positions == other.positions
                and (self.rows is other.rows or self.rows == other.rows))

    __hash__ = None  # type: ignore[assignment]

    def suffix_texts(self) -> list[str]:
        """The escaped text of each suffix, in the order of ``positions``."""
        return [self.group.suffixes[at][1] for at in self.positions]


class LabelExtension(_DerivedLabels):
    """The label column of rows each followed by pairs of its own: ``names`` with the row's cells
    of ``columns`` (a proxy's or server's identity as labels: ``haproxy_server_info``).

    Kept as the rows and the cells, not as a label set per row: the cells are the table's own text,
    so the column costs no more than the references to them; the renderer writes the pairs' text
    when the family is rendered (when a cell changed).  A sample's own set is made when asked for.
    """

    __slots__ = ("rows", "names", "columns")

    def __init__(self, rows: Sequence[LabelSet], names: tuple[str, ...], columns: tuple[Sequence[str], ...]):
        if any(len(column) != len(rows) for column in columns):
            raise ValueError(f"{len(rows)} rows, columns of {[len(column) for column in columns]} cells")
        self.rows = rows
        self.names = names
        self.columns = columns

    def __len__(self) -> int:
        return len(self.rows)

    def _at(self, index: int) -> LabelSet:
        return self.rows[index].plus(label_suffix(*zip(self.names, (column[index] for column in self.columns))))

    def __iter__(self) -> Iterator[LabelSet]:
        return (self._at(i) for i in range(len(self)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LabelExtension):
            return NotImplemented
        return ((self.rows is other.rows or self.rows == other.rows) and self.names == other.names
                and self.columns == other.columns)

    __hash__ = None  # type: ignore[assignment]

    def suffix_texts(self) -> list[str]:
        """Each row's own pairs as exposition text (``name="escaped value"``, comma-joined)."""
        names, columns = self.names, self.columns
        if all(clean_label_text("".join(column)) for column in columns):
            # Nothing to escape anywhere (the usual case): one format call per row, not one escape per cell.
            template = ",".join(f'{name}="{{}}"' for name in names)
            return [template.format(*cells) for cells in zip(*columns)] if columns else [""] * len(self.rows)
        return [",".join(f'{name}="{escape_label_value(value)}"' for name, value in zip(names, cells))
                for cells in (zip(*columns) if columns else [()] * len(self.rows))]


class LabelVariants:
    """A fixed list of one-label suffixes (the states of a state set, the response classes).

    Made once per process and compared by identity, so looking a group up is cheap.
    """

    __slots__ = ("name", "values", "suffixes")

    def __init__(self, name: str, values: tuple[str, ...]) -> None:
        self.name = name
        self.values = values
        self.suffixes = tuple(label_suffix((name, value)) for value in values)


class BucketBounds(LabelVariants):
    """A histogram's bounds as the label suffixes of one row's samples: ``le`` of each bucket (its
    bound, then ``+Inf``), then nothing twice (``_sum`` and ``_count`` are of the row's own set).

    So a histogram's label column is a :class:`LabelProduct` of its rows and this group, and gets
    what a product has: equal in C while its rows are the same, each row's variants made once and
    kept with the row, written by the renderer without a label set per sample.  ``values`` are the
    ``le`` texts only; ``name_suffixes`` the samples' name suffixes, position by position.  Made
    once per bounds (:func:`bucket_bounds`), so a group is compared by identity as any other.
    """

    __slots__ = ("bounds", "name_suffixes")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        if not all(math.isfinite(bound) for bound in bounds):
            raise ValueError(f"bucket bounds must be finite (+Inf is always the last bucket): {bounds}")
        if any(low >= high for low, high in zip(bounds, bounds[1:])):
            raise ValueError(f"bucket bounds must increase: {bounds}")
        super().__init__("le", (*map(go_float, bounds), "+Inf"))
        self.bounds = bounds
        self.suffixes = (*self.suffixes, NO_SUFFIX, NO_SUFFIX)
        self.name_suffixes = ("_bucket",) * (len(bounds) + 1) + ("_sum", "_count")


def bucket_bounds(bounds: Sequence[float]) -> BucketBounds:
    """The one group of these bounds: the same object every poll, so the label sets each row keeps
    of it (``LabelSet.variants``) are made once, and the renderer's memo compares it by identity."""
    return _bucket_bounds(tuple(map(float, bounds)))


@lru_cache(maxsize=256)  # bounds come from the configuration: a few per process, a few more per reload
def _bucket_bounds(bounds: tuple[float, ...]) -> BucketBounds:
    return BucketBounds(bounds)


# Extra pairs and their exposition text (``name="escaped value"``, comma-joined).
LabelSuffix = tuple[tuple[tuple[str, str], ...], str]
_new_label_set = object.__new__


def label_suffix(*pairs: tuple[str, str]) -> LabelSuffix:
    """``label_suffix(("code", "2xx"))``: the pairs plus their escaped text, for :meth:`LabelSet.plus`."""
    return pairs, ",".join(f'{k}="{escape_label_value(v)}"' for k, v in pairs)


NO_LABELS = LabelSet(())
NO_SUFFIX: LabelSuffix = ((), "")

# promex's scopes (its ``scope=`` query parameter): every family is in one, given where it is made.
# Families promex has no scope of its own for (certificates, maps, peers...) are in GLOBAL, with the
# other process-wide figures.
GLOBAL, FRONTEND, BACKEND, SERVER, LISTENER, STICKTABLE, RESOLVER = (
    "global", "frontend", "backend", "server", "listener", "sticktable", "resolver")
SCOPES = (GLOBAL, FRONTEND, BACKEND, SERVER, LISTENER, STICKTABLE, RESOLVER)
# The exporter's own families (haproxy_up, haproxy_exporter_*): in none of promex's scopes, and
# sent whatever a query selects.
EXPORTER = "exporter"

HISTOGRAM = "histogram"  # Family.kind of a classic histogram (counters and gauges: sources/values.py)


class Family:
    """One metric family: name, type, help, and its samples as parallel columns.

    Labels and values are kept as columns, not as (labels, value) pairs, because at scale most
    families are one ``show stat`` column: the model hands over the scope's shared list of row
    label sets and the column of cell texts as they are, and the renderer interleaves them with
    list operations that run in C.  No object is made per sample on that path.

    A histogram's samples have names of their own (``name_bucket``, ``name_sum``, ``name_count``):
    ``suffixes`` is then a third column, each sample's suffix to the family's name, and a series is
    a suffix with a label set.  None for every other family (no suffix anywhere).  A histogram may
    also carry ``native``, a column of one native histogram per row, for the protobuf form.
    """

    __slots__ = ("name", "kind", "help", "scope", "labels", "values", "suffixes", "maint_from", "extra", "native")

    def __init__(self, name: str, kind: str, help: str, samples: Iterable[tuple[LabelSet, str]] = (), *,
                 scope: str):
        self.name = name
        self.kind = kind
        self.help = help
        self.scope = scope  # promex's scope of the family (SCOPES, or EXPORTER): what ``scope=`` selects by
        # Samples from this index on are of servers in maintenance, and none before it (the model
        # puts them last), so promex's ``no-maint`` is a prefix of the family.  None: no such samples.
        self.maint_from: int | None = None
        # One of promex's "extra counters" (a stats module's column, ``mod`` label): served on a
        # promex-style query only with ``extra-counters``.
        self.extra = False
        self.labels: Sequence[LabelSet] = []
        self.values: Sequence[str] = []
        self.suffixes: Sequence[str] | None = None
        # A histogram's native buckets, one per row (exporter/exposition/native.py), or None: only
        # the protobuf exposition sends them; the text forms are the classic buckets alone.
        self.native: Sequence[NativeHistogram | None] | None = None
        for labels, value in samples:
            self.labels.append(labels)
            self.values.append(value)

    @classmethod
    def of_columns(cls, name: str, kind: str, help: str, labels: Sequence[LabelSet],
                   values: Sequence[str], *, scope: str, suffixes: Sequence[str] | None = None) -> "Family":
        """A family over parallel columns, taken as they are, not copied.

        Pass tuples when a column is shared with other families (the model shares each scope's
        row labels with every family of that scope): ``add`` then fails instead of changing them all.
        """
        if len(labels) != len(values) or (suffixes is not None and len(suffixes) != len(values)):
            raise ValueError(f"{name}: {len(labels)} label sets and "
                             f"{'no' if suffixes is None else len(suffixes)} suffixes for {len(values)} values")
        family = cls(name, kind, help, scope=scope)
        family.labels, family.values, family.suffixes = labels, values, suffixes
        return family

    def with_columns(self, labels: Sequence[LabelSet], values: Sequence[str],
                     suffixes: Sequence[str] | None = None) -> "Family":
        """This family (name, type, help, scope, extra) over other columns; ``maint_from`` is the
        caller's to set, as it is an index into the columns.  A family with suffixes needs new ones
        with its new columns: a histogram's samples without theirs would all read as ``name``.
        ``native`` is left out: it is a column of rows, which other columns need not keep."""
        if self.suffixes is not None and suffixes is None:
            raise ValueError(f"{self.name}: its samples' suffixes are part of its columns")
        made = Family.of_columns(self.name, self.kind, self.help, labels, values, scope=self.scope,
                                 suffixes=suffixes)
        made.extra = self.extra
        return made

    def add(self, labels: LabelSet, value: str) -> None:
        if self.suffixes is not None:
            raise TypeError(f"{self.name}: add a histogram's rows to its histogram_family")
        self.labels.append(labels)  # type: ignore[attr-defined]
        self.values.append(value)  # type: ignore[attr-defined]

    def extend(self, labels: Iterable[LabelSet], values: Iterable[str]) -> None:
        if self.suffixes is not None:
            raise TypeError(f"{self.name}: add a histogram's rows to its histogram_family")
        self.labels.extend(labels)  # type: ignore[attr-defined]
        self.values.extend(values)  # type: ignore[attr-defined]

    @property
    def samples(self) -> list[tuple[LabelSet, str]]:
        """(labels, value) pairs: a copy, for tests and the reference rendering (without the
        suffixes: a histogram's sample names are ``name`` + ``suffixes``)."""
        return list(zip(self.labels, self.values))

    def __len__(self) -> int:
        return len(self.values)

    def __repr__(self) -> str:
        return f"Family({self.name!r}, {self.kind!r}, {len(self.values)} samples)"


def histogram_family(name: str, help: str, rows: Sequence[LabelSet], bounds: Sequence[float],
                     buckets: Sequence[Sequence[int]], sums: Sequence[float], *, scope: str,
                     native: Sequence[NativeHistogram | None] | None = None) -> Family:
    """A classic histogram: ``rows[i]`` labels series i; ``buckets[i]`` are its cumulative counts,
    one per bound then ``+Inf`` (the last is also its ``_count``); ``sums[i]`` its ``_sum``;
    ``native[i]``, if given, its native buckets (sent only in the protobuf form).

    Its columns are made a row at a time (the counts' texts by ``map``), not a sample at a time: a
    latency histogram has some 17 samples per row and is built every poll.  Pass the same label
    sets poll after poll (and the same bounds) so an unchanged histogram is not rendered again:
    the label column is a product of the rows with the bounds' group (:class:`BucketBounds`).
    The counts are taken as the caller says: cumulative, so never decreasing along a row.
    """
    group = bucket_bounds(bounds)
    if not len(rows) == len(buckets) == len(sums):
        raise ValueError(f"{name}: {len(rows)} rows, {len(buckets)} bucket lists, {len(sums)} sums")
    width = len(group.values)
    values: list[str] = []
    for counts, total in zip(buckets, sums):
        if len(counts) != width:
            raise ValueError(f"{name}: {len(counts)} bucket counts for {width - 1} bounds and +Inf")
        values += map(str, counts)
        values.append(format_float(total))
        values.append(values[-2])  # _count: the +Inf bucket
    if native is not None and len(native) != len(rows):
        raise ValueError(f"{name}: {len(rows)} rows, {len(native)} native histograms")
    column = rows if isinstance(rows, tuple) else tuple(rows)
    family = Family.of_columns(name, HISTOGRAM, help, LabelProduct(column, group), values, scope=scope,
                               suffixes=group.name_suffixes * len(column))
    family.native = native
    return family


def go_float(value: float) -> str:
    """A float as Go's Prometheus client writes it (``strconv.FormatFloat(f, 'g', -1, 64)``): the
    text of a histogram's ``le``, which names its series, so a bucket is the series other
    exporters and Prometheus' own tooling name it (``1``, ``0.0025``, ``1e+06``, ``1e-05``).

    Python's shortest digits are Go's; only the notation differs: Go writes an exponent from 1e6
    on, where Python waits for 1e16, and writes an integral value without ``.0``.
    """
    if value != value:
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0"  # -0 too, as Go's writer has it
    text = repr(float(value))
    if "e" in text:  # below 1e-4 or from 1e16 on: both write the same exponent form
        return text
    if abs(value) >= 1e6:
        digits = text.lstrip("-").replace(".", "").strip("0")
        return format(value, f".{len(digits) - 1}e")
    return text[:-2] if text.endswith(".0") else text


def format_float(value: float) -> str:
    """Prometheus text for a float: integers without a fraction, others as Python's repr."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)
