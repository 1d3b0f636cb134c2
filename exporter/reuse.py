"""Reuse between polls: what a poll made, and from what, kept for the next poll to take as it is.

Most of a large installation does not change between two polls (idle servers, limits, states),
so the model, the renderer and the compressor each keep what the last poll made and make again
only what changed.  All of them do it the one way of :class:`PollMemo`; docs/internals.md lists
every memo, what it keeps, keyed by what, compared how and dropped when.
"""

from __future__ import annotations

from contextlib import contextmanager
from types import BuiltinFunctionType, FunctionType
from typing import Any, Callable, Generic, Hashable, Iterator, TypeVar

V = TypeVar("V")


class UndeclaredInput(TypeError):
    """A maker that could read something besides its arguments (a closure, a bound method)."""


class PollMemo(Generic[V]):
    """Values made from inputs, kept from one poll to the next under a key.

    In a poll (from :meth:`begin` to :meth:`end`, or ``with memo.poll():``), ``get(key, make,
    *inputs)`` returns the value kept under ``key`` when it was made from inputs equal to these
    (``==``: the kept objects of the last poll compare by identity first, in C), else
    ``make(*inputs)``.  An entry got in this poll is found again within the poll, and at
    :meth:`end` the entries got in the poll are the ones the next poll compares with: the others
    are dropped.  A poll that never reaches :meth:`end` (it failed) leaves the last poll's entries
    as they were.

    ``make`` receives the inputs as its arguments and must read nothing else: a plain function,
    not a closure or a bound method (:class:`UndeclaredInput` otherwise), so what a value is made
    from is what is compared, and a value made from something the inputs leave out can never be
    served again after that thing changed.  An input without ``__eq__`` compares by identity: pass
    values, or objects that do not change while kept (the label sets kept from poll to poll).
    """

    def __init__(self) -> None:
        self._last: dict[Hashable, tuple[tuple[Any, ...], V]] = {}
        self._this: dict[Hashable, tuple[tuple[Any, ...], V]] = {}
        self.reused = 0  # values taken as they were, in the latest poll
        self.made = 0  # values made, in the latest poll

    def begin(self) -> None:
        self._this = {}
        self.reused = self.made = 0

    def end(self) -> None:
        self._last, self._this = self._this, {}

    @contextmanager
    def poll(self) -> Iterator["PollMemo[V]"]:
        """One poll: :meth:`end` only if the block completes."""
        self.begin()
        yield self
        self.end()

    def get(self, key: Hashable, make: Callable[..., V], *inputs: Any) -> V:
        if make.__class__ is not BuiltinFunctionType and not _reads_only_its_arguments(make, len(inputs)):
            raise UndeclaredInput(f"{make!r} may read more than its arguments: pass what it reads as inputs")
        found = self._this.get(key)
        if found is None:
            found = self._last.get(key)
        if found is not None and found[0] == inputs:
            self.reused += 1  # and the kept inputs stay: they are the objects that compare fastest
        else:
            found = (inputs, make(*inputs))
            self.made += 1
        self._this[key] = found
        return found[1]

    def put(self, key: Hashable, value: V) -> None:
        """Keep ``value`` for the entry got under ``key`` in this poll, in place of the one got: an
        equal value held otherwise (a page's blocks as slices of its one buffer, not bytes of their own)."""
        inputs, _ = self._this[key]
        self._this[key] = (inputs, value)

    def kept(self, key: Hashable) -> V | None:
        """The value the next poll compares with under ``key``, if any."""
        found = self._last.get(key)
        return None if found is None else found[1]

    def size(self) -> int:
        """Entries the next poll compares with (not ``__len__``: an empty memo is still a memo)."""
        return len(self._last)

    def values(self) -> list[V]:
        """The values the next poll compares with (for tests and measurements)."""
        return [value for _, value in self._last.values()]


def _reads_only_its_arguments(make: Callable[..., Any], given: int) -> bool:
    """A plain function (not bound, no closure) that ``given`` inputs leave no default value to read:
    a default is read but never compared."""
    if make.__class__ is not FunctionType:
        return False
    function: FunctionType = make
    return (function.__closure__ is None and function.__kwdefaults__ is None
            and (function.__defaults__ is None or given >= function.__code__.co_argcount))


def itself(value: V) -> V:
    """The maker of a canonical object: the last poll's object while equal, else this one."""
    return value
