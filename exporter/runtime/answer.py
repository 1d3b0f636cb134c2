"""HAProxy's answer to one command as blocks of whole lines, so that reading it never holds the
interpreter lock for long.

A poll runs in a thread beside the event loop that serves ``/metrics`` and ``/healthz``, and both
need the interpreter lock.  A C call over a whole answer (a decode, a split, a join, a search, a
regular expression) keeps it for as long as the answer is big (BENCHMARKS.md, "Figures the
code's comments rest on": a big stick-table dump), and no client is answered meanwhile.  So the client decodes each
piece as it arrives and keeps the text as blocks of about :data:`BLOCK` characters, each ending
at a line end, never joined; the parsers read it line by line (:meth:`Answer.lines`), a block at
a time, and every C call on the way touches one block.  A block is also what the processor's
cache holds while a block's lines are split and read.

``consume`` lets a parser drop each block once read, so the answer's text goes as its
parsed form grows (a stick-table dump keeps only ``max_entries`` entries of it).
"""

from __future__ import annotations

from typing import Iterator, Union

BLOCK = 1 << 17  # characters of a block (the client reads as many bytes at a time)
MAX_LINE = 1 << 20  # HAProxy writes each line in one buffer (tune.bufsize, 16 KiB by default)


class Answer:
    """An answer's text, cut in blocks.  ``"".join(blocks)`` is the text; the client cuts them at
    line ends, :meth:`of` where it can."""

    __slots__ = ("_blocks",)

    def __init__(self, blocks: list[str]) -> None:
        self._blocks = blocks

    @classmethod
    def of(cls, text: str, block: int = BLOCK) -> Answer:
        """``text`` in blocks of at least ``block`` characters, each ending at a line end unless
        the line goes on for more than :data:`MAX_LINE` (for text not read by the client)."""
        blocks: list[str] = []
        start, end = 0, len(text)
        while start < end:
            stop = text.find("\n", start + block - 1, start + block + MAX_LINE)
            stop = min(end, start + block + MAX_LINE) if stop < 0 else stop + 1
            blocks.append(text[start:stop])
            start = stop
        return cls(blocks)

    @property
    def blocks(self) -> tuple[str, ...]:
        return tuple(self._blocks)

    def lines(self, consume: bool = False) -> Iterator[str]:
        """Every line, as ``text.split("\\n")`` gives them (the last one is what follows the last
        newline), split a block at a time; ``consume`` drops each block once split."""
        blocks = self._blocks
        carry = ""
        for index in range(len(blocks)):
            parts = blocks[index].split("\n")
            if consume:
                blocks[index] = ""
            if carry:
                parts[0] = carry + parts[0]
            carry = parts.pop()
            yield from parts
        yield carry

    def head(self, limit: int = BLOCK) -> str:
        """The first ``limit`` characters at most (for sniffing and error messages)."""
        taken: list[str] = []
        size = 0
        for block in self._blocks:
            if size >= limit:
                break
            taken.append(block[: limit - size])
            size += len(taken[-1])
        return "".join(taken)

    def __len__(self) -> int:
        return sum(map(len, self._blocks))

    def __str__(self) -> str:
        """The whole text in one string: for small answers and tests only (one C call over all)."""
        return "".join(self._blocks)


Text = Union[str, Answer]  # what a parser takes: the client's Answer, or a string (tests, captures)


def answer_of(text: Text) -> Answer:
    return text if isinstance(text, Answer) else Answer.of(text)


def lines(text: Text, consume: bool = False) -> Iterator[str]:
    """The lines of ``text`` (see :meth:`Answer.lines`), a block at a time."""
    return answer_of(text).lines(consume)


class Ended:
    """The lines of ``text`` that a newline ends, one at a time (:func:`lines` without the last);
    :attr:`rest`, what follows the last newline, once they are read (a whole answer has none)."""

    def __init__(self, text: Text) -> None:
        self._lines = lines(text)
        self.rest = ""

    def __iter__(self) -> Iterator[str]:
        previous = next(self._lines)  # lines() yields at least one: the text after the last newline
        for line in self._lines:
            yield previous
            previous = line
        self.rest = previous


def nonblank(text: Text) -> Iterator[str]:
    """The lines of ``text`` that are not blank (whitespace only), one at a time."""
    return (line for line in lines(text) if line.strip())


def head(text: Text, limit: int = BLOCK) -> str:
    return text[:limit] if isinstance(text, str) else text.head(limit)
