"""A poll that reuses what the last one rendered and compressed publishes exactly what a cold poll
of the same answers publishes (exporter/reuse.py: the model's, the renderer's and the compressor's memos).

One warm poller reads a sequence of captured answers: the same again (everything reused), the
same with a few counters moved (a few families rendered again), another HAProxy's, and back; at
every step its page, plain and gzip, is compared byte for byte with a new poller's.
"""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path

import pytest
from support import EMPTY_ANSWERS, answering

from exporter.config import build_config
from exporter.poll.poller import Poller
from exporter.poll.snapshot import Store

FIXTURES = Path(__file__).parent.parent / "fixtures"
UNKNOWN = "Unknown command, but maybe one of the following ones is a better match:\n"


def answers(version: str, stat: str = "show-stat.csv") -> dict[str, str]:
    return {**EMPTY_ANSWERS, "show info": (FIXTURES / version / "show-info.txt").read_text(),
            "show stat": (FIXTURES / version / stat).read_text()}


def moved(base: dict[str, str], every: int) -> dict[str, str]:
    """The same answers with the stot and bin counters of every ``every``-th row moved on."""
    header, *rows = base["show stat"].splitlines()
    names = header.lstrip("# ").split(",")
    out = [header]
    for n, row in enumerate(csv.reader(rows)):
        if n % every == 0:
            for column in ("stot", "bin"):
                i = names.index(column)
                if len(row) > i and row[i].isdigit():
                    row[i] = str(int(row[i]) + 7)
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="").writerow(row)
        out.append(buffer.getvalue())
    return {**base, "show stat": "\n".join(out) + "\n"}


def page(poller: Poller, store: Store) -> tuple[bytes, bytes]:
    assert poller.poll_once()
    assert store.published is not None and store.published.page is not None
    page = store.published.page
    return page.text, gzip.decompress(page.gz)


def cold(current: dict[str, str]) -> tuple[bytes, bytes]:
    store = Store(30)
    return page(Poller(build_config({}), store, connect=answering(lambda c: current.get(c, UNKNOWN))), store)


def test_a_warm_poll_publishes_what_a_cold_poll_publishes() -> None:
    a, b, c = answers("2.6.12"), answers("2.6.12", "states-show-stat.csv"), answers("3.2.0")
    # what is reused: nothing, everything, some; the other steps whatever they share (show info's)
    steps = [("first", a, "none"), ("the same", a, "all"), ("a few counters moved", moved(a, 3), "some"),
             ("another HAProxy", b, None), ("back", a, None), ("another version", c, None), ("the same", c, "all")]
    current: dict[str, str] = {}
    store = Store(30)
    warm = Poller(build_config({}), store, connect=answering(lambda command: current.get(command, UNKNOWN)))
    target = next(iter(warm.targets.values()))
    for what, step, reuse in steps:
        current.clear()
        current.update(step)
        text, unzipped = page(warm, store)
        assert (text, unzipped) == cold(step), what
        assert text == unzipped
        reused = target._rendered.reused
        families = len({piece.name for piece in store.published.page.pieces})  # type: ignore[union-attr]
        # "all": but the few small families whose label sets are made anew each poll (the show info
        # info metrics, ACL totals without labels): compared by identity, they are rendered again
        want = {"none": reused == 0, "all": reused >= families - 8, "some": 0 < reused < families - 8,
                None: True}[reuse]
        assert want, (what, reused, families)  # the cache did its work where it could, and only there
        model = next(src for src in target._process.sources if src.name == "stat").reuse.families  # type: ignore[attr-defined]
        total = model.size()  # the families (or groups of them) the model built or took this poll
        built_again = {"none": model.reused == 0, "all": model.reused == total > 200, "some": 0 < model.reused < total,
                       None: True}[reuse]
        assert built_again, (what, model.reused)  # and the model took the families of unchanged columns as they were


@pytest.mark.parametrize("every", [1, 2, 50])
def test_changed_rows_change_the_page(every: int) -> None:
    """The test's own check that moving counters does change the page (the comparison above is not vacuous)."""
    a = answers("2.6.12")
    assert cold(moved(a, every))[0] != cold(a)[0]


def edited(base: dict[str, str], edit) -> dict[str, str]:
    """The same answers with ``edit(names, rows)`` applied to show stat's rows (lists of cells)."""
    header, *lines = base["show stat"].rstrip("\n").split("\n")
    names = header.lstrip("# ").rstrip(",").split(",")
    rows = [row for row in csv.reader(lines)]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(edit(names, rows))
    return {**base, "show stat": header + "\n" + buffer.getvalue()}


def clocks_moved(names, rows):
    i = names.index("lastchg")
    return [[*row[:i], str(int(row[i]) + 5), *row[i + 1:]] if row[i].isdigit() else row for row in rows]


def servers(names, rows):
    return [n for n, row in enumerate(rows) if row[names.index("type")] == "2"]


def into_maintenance(names, rows):
    first = servers(names, rows)[0]
    rows[first][names.index("status")] = "MAINT (resolution)"
    return rows


def one_gone(names, rows):
    del rows[servers(names, rows)[1]]
    return rows


def one_twice(names, rows):
    n = servers(names, rows)[2]
    return rows[:n + 1] + [list(rows[n])] + rows[n + 1:]


def an_agent(names, rows):
    n = servers(names, rows)[0]
    rows[n][names.index("agent_status")], rows[n][names.index("agent_code")] = "L7OK", ""
    return rows


@pytest.mark.parametrize("version", ["2.6.12", "3.2.0"])
def test_warm_polls_through_changes_of_rows_publish_what_cold_polls_publish(version: str) -> None:
    """Column reuse through what moves rows about: the clock columns HAProxy moves on every row
    each second, a server going into maintenance (its samples move to each family's tail) and
    out, a server removed, a row of a name seen twice, an agent check's code filled in."""
    base = answers(version)
    steps = [("first", base), ("the clocks moved", edited(base, clocks_moved)),
             ("a server into maintenance", edited(base, into_maintenance)), ("and out", base),
             ("a server gone", edited(base, one_gone)), ("a row twice", edited(base, one_twice)),
             ("an agent check", edited(base, an_agent)), ("the same again", edited(base, an_agent)),
             ("back", base)]
    current: dict[str, str] = {}
    store = Store(30)
    warm = Poller(build_config({}), store, connect=answering(lambda command: current.get(command, UNKNOWN)))
    pages: dict[bytes, list[str]] = {}
    for what, step in steps:
        current.clear()
        current.update(step)
        got = page(warm, store)
        assert got == cold(step), what
        pages.setdefault(got[0], []).append(what)
    # every edit changed the page (a row twice: the second is dropped and counted)
    assert sorted(pages.values()) == sorted([["first", "and out", "back"], ["the clocks moved"],
                                             ["a server into maintenance"], ["a server gone"], ["a row twice"],
                                             ["an agent check", "the same again"]])
