"""The gzip copy of each rendered piece: made once per poll, concatenated per scrape.

Gzip members concatenate into a valid gzip stream (RFC 1952 §2.2), so pieces compressed once
can be sent together without recompressing per scrape.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from typing import Callable, Sequence

from exporter.exposition.render import Piece


def _zlib_member(raw: bytes) -> bytes:
    # Level 3: the exposition is so repetitive that it already compresses about 21:1; on 44.5 MB
    # (1000 backends x 10 servers) level 3 takes 0.10 s for 2.07 MB, level 6 0.26 s for 1.89 MB.
    return gzip.compress(raw, compresslevel=3, mtime=0)


GZIP_ENGINES: dict[str, Callable[[bytes], bytes]] = {"zlib": _zlib_member}
try:
    from isal import igzip as _igzip
except ImportError:  # the dependency is declared; without a wheel for the platform, zlib still works
    pass
else:
    def _isal_member(raw: bytes) -> bytes:
        # ISA-L's igzip level 1 on the same 44.5 MB: 23 ms for 2.13 MB (zlib level 3: 100-115 ms for
        # 2.07 MB).  The copy is made every poll whether or not anyone asks for gzip, so CPU per poll is
        # the cost to minimise; 3% more bytes per gzip scrape is the cheaper side.
        return _igzip.compress(raw, compresslevel=1, mtime=0)

    GZIP_ENGINES["isal"] = _isal_member
GZIP_ENGINE = "isal" if "isal" in GZIP_ENGINES else "zlib"


def compress(raw: bytes) -> bytes:
    """One standalone gzip member (RFC 1952) of ``raw``, with the fastest engine installed."""
    return GZIP_ENGINES[GZIP_ENGINE](raw)


@dataclass(frozen=True)
class Part:
    """One rendered piece of the exposition, plain and as a standalone gzip member.

    Gzip members concatenate into a valid gzip stream (RFC 1952 §2.2), so parts compressed once
    can be sent together without recompressing per scrape.
    """

    text: bytes
    gz: bytes

    @classmethod
    def of(cls, text: str | bytes) -> "Part":
        raw = text if isinstance(text, bytes) else text.encode("utf-8")
        return cls(raw, compress(raw))

    def chunks(self, gz: bool, keep: "Callable[[Span], bool] | None" = None) -> list[bytes | memoryview]:
        """What to send of this part: all of it (``keep`` is for parts made of pieces)."""
        return [self.gz if gz else self.text]


@dataclass(frozen=True)
class Span:
    """Where one :class:`Piece` lies in a :class:`Body`'s text and in its gzip stream."""

    name: str
    maint: bool
    extra: bool
    text: tuple[int, int]
    gz: tuple[int, int]


@dataclass(frozen=True)
class Body(Part):
    """A poll's page as one text and one gzip member, and each family's piece on its own.

    ``text`` and ``gz`` are the whole page, sent as they are when no promex query parameter
    selects from it.  Each piece is also compressed as a gzip member of its own (``members``), so
    any subset of pieces, taken in order, is a valid gzip stream too: a filtered scrape (promex's
    ``scope``, ``metrics``, ``no-maint``) sends slices of prepared bytes, neither rendering nor
    compressing.  The whole page keeps a member of its own because a member per family compresses
    a small page 2.5:1 instead of 8:1 (each member starts without history); the second
    compression costs about a tenth of a poll at 1000 backends x 10 servers (BENCHMARKS.md).
    """

    members: bytes = b""
    spans: tuple[Span, ...] = ()

    @classmethod
    def of_pieces(cls, pieces: Sequence[Piece]) -> "Body":
        members = [compress(piece.text) if piece.text else b"" for piece in pieces]
        spans, at_text, at_gz = [], 0, 0
        for piece, member in zip(pieces, members):
            end_text, end_gz = at_text + len(piece.text), at_gz + len(member)
            spans.append(Span(piece.name, piece.maint, piece.extra, (at_text, end_text), (at_gz, end_gz)))
            at_text, at_gz = end_text, end_gz
        text = b"".join(piece.text for piece in pieces)
        return cls(text, compress(text), b"".join(members), tuple(spans))

    def chunks(self, gz: bool, keep: "Callable[[Span], bool] | None" = None) -> list[bytes | memoryview]:
        """The whole page, or the kept pieces as slices of the prepared bytes (adjacent ones as one)."""
        if keep is None:
            return [self.gz if gz else self.text]
        view = memoryview(self.members if gz else self.text)
        runs: list[list[int]] = []
        for span in self.spans:
            if not keep(span):
                continue
            start, end = span.gz if gz else span.text
            if start == end:
                continue
            if runs and runs[-1][1] == start:
                runs[-1][1] = end
            else:
                runs.append([start, end])
        return [view[start:end] for start, end in runs]
