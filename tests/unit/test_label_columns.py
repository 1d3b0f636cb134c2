"""A family whose label column is a LabelProduct (rows times suffixes) or a LabelExtension (rows
each with pairs of its own), never made into a label set per sample, renders exactly as the same
family over the label sets it stands for: whole page, maintenance tail, repeated rows dropped and
noted, rows that need escaping or have no labels."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.exposition.families import (
    NO_LABELS,
    Family,
    LabelColumn,
    LabelExtension,
    LabelProduct,
    LabelSet,
    LabelVariants,
    label_suffix,
)
from exporter.exposition.render import Dropped, render, render_pieces

STATES = LabelVariants("state", ("UP", "DOWN", "MAINT", 'we"ird\\'))


def rows(names: list[str]) -> list[LabelSet]:
    return [LabelSet((("proxy", "be"), ("server", name))) for name in names]


def twin(column: LabelProduct | LabelExtension) -> list[LabelSet]:
    """The oracle: the column's label sets made one by one, as a family of plain label sets has them."""
    if isinstance(column, LabelExtension):
        return [row.plus(label_suffix(*zip(column.names, cells)))
                for row, cells in zip(column.rows, zip(*column.columns) if column.columns else [()] * len(column.rows))]
    return [row.plus(column.group.suffixes[at]) for row in column.rows for at in column.positions]


def pages(product: LabelProduct | LabelExtension,
          cut: int | None) -> tuple[tuple[bytes, ...], tuple[bytes, ...], Dropped, Dropped]:
    """Both families' pieces, samples from ``cut`` on being the maintenance tail."""
    values = [str(n) for n in range(len(product))]
    got, want = [], []
    for labels, out in ((product, got), (twin(product), want)):
        family = Family.of_columns("haproxy_server_x", "gauge", "h", labels, values, scope="server")
        family.maint_from = cut
        out.append(family)
    dropped_got, dropped_want = Dropped(), Dropped()
    return (tuple(p.text for p in render_pieces(got, dropped_got)),
            tuple(p.text for p in render_pieces(want, dropped_want)), dropped_got, dropped_want)


@pytest.mark.parametrize("names,maint", [
    (["s1", "s2", "s3"], None),
    (["s1", "s2", "s3"], 1),  # the last row's samples are the maintenance tail
    (["s1", "s2", "s3"], 3),  # every sample: the header goes with the tail
    (["s1", "s2", "s1"], None),  # a row twice: its second samples dropped and noted
    (['a"b', "c\\d", "e\nf"], 1),  # labels that need escaping
])
def test_a_product_renders_as_its_label_sets(names: list[str], maint: int | None) -> None:
    for column in (tuple(rows(names)), LabelColumn(rows(names))):
        for positions in (None, (1, 3)):
            product = LabelProduct(column, STATES, positions)
            cut = None if maint is None else (len(names) - maint) * len(product.positions)
            got, want, dropped_got, dropped_want = pages(product, cut)
            assert got == want
            assert (dropped_got.series, dropped_got.samples) == (dropped_want.series, dropped_want.samples)
    assert dropped_want.series == (2 if names[0] == names[2] else 0)  # the oracle itself did drop


def test_a_row_without_labels_renders_its_suffix_alone() -> None:
    product = LabelProduct((NO_LABELS,), STATES)
    got, want, _, _ = pages(product, None)
    assert got == want and b'haproxy_server_x{state="UP"} 0\n' in got[0]


def test_a_product_is_a_sequence_of_its_label_sets_and_equal_by_its_parts() -> None:
    column = LabelColumn(rows(["s1", "s2"]))
    product = LabelProduct(column, STATES, (0, 2))
    assert [ls.text for ls in product] == [ls.text for ls in twin(product)]
    assert [ls.text for ls in product[1:3]] == [ls.text for ls in twin(product)[1:3]]
    assert product[-1].text == 'proxy="be",server="s2",state="MAINT"' and product[-1].root is column[1]
    with pytest.raises(IndexError):
        product[4]
    assert product == LabelProduct(tuple(column), STATES, (0, 2))  # the same rows: equal
    assert product != LabelProduct(column, STATES) and product != LabelProduct(column[:1], STATES, (0, 2))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "c", 'q"', "\\", ""]), min_size=1, max_size=6),
       st.sets(st.integers(0, 3), min_size=1), st.integers(-1, 24))
def test_any_product_renders_as_its_label_sets(names: list[str], positions: set[int], cut: int) -> None:
    """Any rows, any suffixes, the maintenance tail anywhere (not only at a row's first sample)."""
    product = LabelProduct(tuple(rows(names)), STATES, tuple(sorted(positions)))
    got, want, dropped_got, dropped_want = pages(product, None if cut < 0 else min(cut, len(product)))
    assert got == want and dropped_got.examples == dropped_want.examples
    family = Family.of_columns("x", "gauge", "h", product, ["1"] * len(product), scope="global")
    assert render([family]) == render([Family.of_columns("x", "gauge", "h", twin(product), ["1"] * len(product),
                                                         scope="global")])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", 'q"', "", "\\"]), st.sampled_from(["1.2.3.4:80", "", 'x"y', "z\nw"])),
                min_size=1, max_size=6),
       st.integers(0, 2), st.integers(-1, 7), st.booleans())
def test_any_extension_renders_as_its_label_sets(cells: list[tuple[str, str]], width: int, cut: int,
                                                 no_row_labels: bool) -> None:
    """Any rows (repeated, needing escaping, without labels), none to two columns of their own."""
    column_rows = [NO_LABELS] * len(cells) if no_row_labels else rows([name for name, _ in cells])
    columns = tuple(tuple(cell for _, cell in cells) for _ in range(width))
    extension = LabelExtension(tuple(column_rows), ("addr", "mode")[:width], columns)
    got, want, dropped_got, dropped_want = pages(extension, None if cut < 0 else min(cut, len(extension)))
    assert got == want and dropped_got.examples == dropped_want.examples
    assert [ls.text for ls in extension] == [ls.text for ls in twin(extension)]


def test_an_extension_is_equal_by_its_rows_names_and_cells() -> None:
    column = LabelColumn(rows(["s1", "s2"]))
    extension = LabelExtension(column, ("addr",), (("a", "b"),))
    assert extension == LabelExtension(tuple(column), ("addr",), (("a", "b"),))
    assert extension != LabelExtension(column, ("addr",), (("a", "c"),))
    assert extension != LabelExtension(column, ("mode",), (("a", "b"),))
    with pytest.raises(ValueError):
        LabelExtension(column, ("addr",), (("a",),))
