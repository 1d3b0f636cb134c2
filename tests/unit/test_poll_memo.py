"""PollMemo (exporter/reuse.py), the one way a poll takes what the last poll made: a value comes back
only when what it was made from compares equal, what a poll did not use is forgotten, a failed
poll changes nothing, and a maker cannot read anything that is not compared."""

from __future__ import annotations

import functools

import pytest

from exporter.reuse import PollMemo, UndeclaredInput, itself
from exporter.sources.stat.model import StatReuse, stat_families
from exporter.sources.stat.parse import parse_stat
from exporter.sources.values import ModelStats
from testkit.synthetic import synthetic_show_stat

MADE: list[tuple[object, ...]] = []


def joined(*parts: object) -> str:
    MADE.append(parts)
    return "/".join(map(str, parts))


def poll(memo: PollMemo[str], *gets: tuple[str, tuple[object, ...]]) -> list[str]:
    with memo.poll():
        return [memo.get(key, joined, *inputs) for key, inputs in gets]


def test_a_value_comes_back_only_while_its_inputs_are_equal() -> None:
    memo: PollMemo[str] = PollMemo()
    MADE.clear()
    first = poll(memo, ("a", (1, [2, 3])), ("b", ("x",)))
    again = poll(memo, ("a", (1, [2, 3])), ("b", ("y",)))
    assert again[0] is first[0] and memo.reused == 1  # equal inputs (another list, same items): the same object
    assert again[1] == "y" and memo.made == 1  # any input changed: made again
    assert MADE == [(1, [2, 3]), ("x",), ("y",)]


def test_what_a_poll_did_not_use_is_forgotten_and_a_failed_poll_changes_nothing() -> None:
    memo: PollMemo[str] = PollMemo()
    poll(memo, ("a", (1,)), ("b", (2,)))
    poll(memo, ("a", (1,)))
    assert memo.size() == 1 and memo.values() == ["1"]  # b was not asked for: gone
    with pytest.raises(RuntimeError), memo.poll():
        memo.get("c", joined, 3)
        raise RuntimeError("the poll failed half-way")
    assert memo.values() == ["1"]  # the last complete poll's entries, as they were
    MADE.clear()
    poll(memo, ("a", (1,)))
    assert MADE == []


def test_the_last_polls_objects_stay_the_canonical_ones() -> None:
    memo: PollMemo[list[str]] = PollMemo()
    old = ["0", "7"]
    with memo.poll():
        assert memo.get(0, itself, old) is old
    with memo.poll():
        assert memo.get(0, itself, ["0", "7"]) is old  # equal: the last poll's object, compared by identity next time
        assert memo.get(1, itself, new := ["1"]) is new


READ_AS_WELL = {"bin": "7"}  # what a careless maker might read beside its arguments


def _closure_maker(labels: str) -> object:
    column = READ_AS_WELL
    return lambda cells: f"{labels}{cells}{column['bin']}"


class _Builder:
    def __init__(self) -> None:
        self.bin = "7"

    def build(self, labels: str) -> str:
        return labels + self.bin


def _with_default(labels: str, column: dict[str, str] = READ_AS_WELL) -> str:
    return labels + column["bin"]


def _two(labels: str, column: str) -> str:
    return labels + column


@pytest.mark.parametrize("maker", [
    _closure_maker("proxy"),                          # a closure over a column: the old bug's shape
    _Builder().build,                                 # a bound method reads its object
    _with_default,                                    # a default argument is read, never compared
    functools.partial(_two, column=READ_AS_WELL["bin"]),  # a partial's arguments are not compared
], ids=["closure", "bound method", "default argument", "partial"])
def test_a_maker_that_could_read_an_undeclared_input_is_refused(maker) -> None:
    """The old ``cache.built(key, inputs, make)`` took a hand-written inputs tuple beside a closure:
    a family reading a column left out of the tuple was served as it was after that column
    changed.  A maker now gets its inputs as its arguments, and one that could read anything else
    is refused on first use, before any value is kept."""
    memo: PollMemo[str] = PollMemo()
    with pytest.raises(UndeclaredInput), memo.poll():
        memo.get("family", maker, "proxy")
    assert memo.size() == 0


def test_a_maker_given_what_it_reads_follows_every_change_of_it() -> None:
    memo: PollMemo[str] = PollMemo()
    assert poll(memo, ("family", ("proxy", "7"))) == ["proxy/7"]
    assert poll(memo, ("family", ("proxy", "8"))) == ["proxy/8"]


def test_every_stat_family_is_made_through_the_memo_from_declared_inputs() -> None:
    """The stat model's makers are all plain functions of their inputs (the memo refuses any
    other), and a warm model over changed tables builds what a cold one builds."""
    reuse = StatReuse()
    for seed in (1, 2, 2, 3):
        text = synthetic_show_stat(20, 4, seed=seed)
        warm = stat_families(parse_stat(text), ModelStats(), reuse)
        cold = stat_families(parse_stat(text), ModelStats())
        assert ([(f.name, [(ls.text, v) for ls, v in f.samples]) for f in warm]
                == [(f.name, [(ls.text, v) for ls, v in f.samples]) for f in cold]), seed
    assert reuse.families.reused > 0
