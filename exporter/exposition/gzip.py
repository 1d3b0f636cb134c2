"""The gzip copy of each rendered piece: made once per poll, joined per scrape.

Pieces compressed once are sent together without recompressing per scrape: as gzip members of
their own (RFC 1952 §2.2: members concatenate into a valid stream, :class:`Part`) or as deflate
blocks joined into one member (:class:`Body`).
"""

from __future__ import annotations

import gzip
import struct
import zlib
from dataclasses import dataclass
from typing import Callable, Sequence, Union

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
    """Where one :class:`Piece` lies in a :class:`Body`'s text and in its deflate stream, and the
    CRC-32 and length of its text (a gzip member's trailer is made of those)."""

    name: str
    scope: str
    maint: bool
    extra: bool
    text: tuple[int, int]
    gz: tuple[int, int]
    crc: int = 0


# A gzip member around raw deflate data (RFC 1952): the fixed header (no name, no mtime, the OS
# byte "unknown"), and after the data a final empty block, then CRC-32 and length of the text.
HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
FINAL_BLOCK = b"\x03\x00"  # BFINAL=1, fixed Huffman, end-of-block: closes a stream of sync-flushed blocks
# A page below this is compressed once more as a whole: pieces compressed without each other's
# history make a small page 2.5:1 instead of 8:1, and recompressing a small page costs nothing.
WHOLE_BELOW = 1 << 20


def _deflate_zlib(raw: bytes) -> bytes:
    c = zlib.compressobj(3, zlib.DEFLATED, -15)
    return c.compress(raw) + c.flush(zlib.Z_SYNC_FLUSH)


DEFLATE_ENGINES: dict[str, Callable[[bytes], bytes]] = {"zlib": _deflate_zlib}
_crc32: Callable[[bytes | memoryview, int], int] = zlib.crc32
_crc32_combine: Callable[[int, int, int], int] | None = None
try:
    from isal import isal_zlib as _isal_zlib
except ImportError:
    pass
else:
    def _deflate_isal(raw: bytes) -> bytes:
        c = _isal_zlib.compressobj(1, _isal_zlib.DEFLATED, -15)
        return c.compress(raw) + c.flush(_isal_zlib.Z_SYNC_FLUSH)

    DEFLATE_ENGINES["isal"] = _deflate_isal
    _crc32 = _isal_zlib.crc32
    _crc32_combine = _isal_zlib.crc32_combine


def deflate(raw: bytes) -> bytes:
    """Raw deflate blocks of ``raw``, ending byte-aligned and not final (a sync flush), so the
    blocks of several texts, one after another, are the deflate stream of the texts joined."""
    return DEFLATE_ENGINES[GZIP_ENGINE](raw) if raw else b""


def trailer(crc: int, size: int) -> bytes:
    return FINAL_BLOCK + struct.pack("<II", crc & 0xFFFFFFFF, size & 0xFFFFFFFF)


_Blocks = tuple[bytes, bytes, int]  # a piece's text, its deflate blocks, the text's CRC-32


class BlockCache:
    """The deflate blocks and CRC of each piece text of the last poll.

    Found by the text's identity first: a reused piece is the very bytes object of the last poll.
    A piece made again is found by its length and CRC-32 (which the gzip trailer needs anyway),
    then compared byte for byte: a text's hash would read every byte at a third of the speed of
    the CRC, and most new texts are new (their family's cells changed), so a hash table keyed by
    the bytes themselves cost ~40 ms a poll at 2000 x 25 for nothing.
    """

    def __init__(self) -> None:
        self._last: dict[int, _Blocks] = {}

    def take(self) -> dict[int, _Blocks]:
        last, self._last = self._last, {}
        return last

    def keep(self, made: dict[int, _Blocks]) -> None:
        self._last = made  # holds every text it names, so no id is reused while kept


def _blocks_of(pieces: Sequence[Piece], done: dict[int, _Blocks]) -> dict[int, _Blocks]:
    """Each distinct piece text's blocks and CRC by the text's id: taken from ``done`` (the last
    poll's) where the text is the same object or has the same bytes, compressed otherwise."""
    by_content = {(len(text), crc): (text, blocks, crc) for text, blocks, crc in done.values()}
    made: dict[int, _Blocks] = {}
    for piece in pieces:
        text = piece.text
        if id(text) in made:
            continue
        found = done.get(id(text))
        if found is None or found[0] is not text:
            crc = _crc32(text, 0)
            same = by_content.get((len(text), crc))
            found = same if same is not None and same[0] == text else (text, deflate(text), crc)
        made[id(text)] = (text, found[1], found[2])
    return made


class Body:
    """A poll's page as its pieces' texts, and as one gzip member made of each piece compressed once.

    Each piece is compressed on its own as raw deflate blocks that end byte-aligned and not final
    (``deflate``), with the CRC-32 of its text.  The blocks of any pieces, taken in order, are the
    deflate stream of those pieces' texts joined; with a gzip header before them and a final empty
    block, the CRC-32 of the joined texts (``crc32_combine`` of the pieces' CRCs: no byte is read
    again) and the length after, they are one gzip member.  So the whole page (``gz``) and every
    promex selection (``scope``, ``metrics``, ``no-maint``) are sent as slices of the bytes the poll
    prepared, one compression per poll.  A small page also gets a whole-page compression of its own
    (``WHOLE_BELOW``): without each other's history its pieces compress 2.5:1 instead of 8:1.

    The plain page is sent as the pieces themselves, never joined into one buffer: at 1000 x 10
    that is 45 MB of fresh memory per poll, and faulting it in cost more CPU (35-40 ms) than
    compressing the whole page.  ``text`` joins them for the few that want one buffer (``--once``).
    """

    __slots__ = ("pieces", "gz", "deflated", "spans", "size", "_text")

    def __init__(self, pieces: tuple[bytes, ...], gz: bytes, deflated: bytes = b"",
                 spans: tuple[Span, ...] = ()) -> None:
        self.pieces = pieces
        self.gz = gz
        self.deflated = deflated
        self.spans = spans
        self.size = sum(len(p) for p in pieces)
        self._text: bytes | None = None

    @property
    def text(self) -> bytes:
        if self._text is None:
            self._text = b"".join(self.pieces)
        return self._text

    @classmethod
    def of_pieces(cls, pieces: Sequence[Piece], cache: "BlockCache | None" = None) -> "Body":
        """The body of ``pieces``; ``cache`` (kept by the caller from poll to poll) holds each piece
        text's blocks and CRC, so a piece reused as it was (render.PieceCache) is not compressed again."""
        made = _blocks_of(pieces, cache.take() if cache is not None else {})
        if cache is not None:
            cache.keep(made)
        blocks = [made[id(piece.text)][1] for piece in pieces]
        spans, crc, at_text, at_gz = [], 0, 0, 0
        for piece, block in zip(pieces, blocks):
            end_text, end_gz = at_text + len(piece.text), at_gz + len(block)
            piece_crc = made[id(piece.text)][2]
            spans.append(Span(piece.name, piece.scope, piece.maint, piece.extra, (at_text, end_text), (at_gz, end_gz),
                              piece_crc))
            crc = _crc32(piece.text, crc) if _crc32_combine is None else _crc32_combine(crc, piece_crc, len(piece.text))
            at_text, at_gz = end_text, end_gz
        texts = tuple(piece.text for piece in pieces)
        deflated = b"".join(blocks)
        del blocks
        if at_text < WHOLE_BELOW:
            whole = compress(b"".join(texts))
        else:
            whole = b"".join((HEADER, deflated, trailer(crc, at_text)))
        return cls(texts, whole, deflated, tuple(spans))

    def chunks(self, gz: bool, keep: "Callable[[Span], bool] | None" = None) -> list[bytes | memoryview]:
        """The whole page, or the kept pieces (the gzip member of their blocks, adjacent ones as one slice)."""
        if keep is None:
            return [self.gz] if gz else [p for p in self.pieces if p]
        kept = [n for n, span in enumerate(self.spans) if keep(span) and span.text[0] != span.text[1]]
        if not gz:
            return [self.pieces[n] for n in kept]
        view = memoryview(self.deflated)
        runs: list[list[int]] = []
        for n in kept:
            start, end = self.spans[n].gz
            if runs and runs[-1][1] == start:
                runs[-1][1] = end
            else:
                runs.append([start, end])
        return [HEADER, *(view[start:end] for start, end in runs), trailer(*self._crc(kept))]

    def _crc(self, kept: Sequence[int]) -> tuple[int, int]:
        """CRC-32 and length of the kept pieces' texts joined."""
        crc, size = 0, 0
        for n in kept:
            span = self.spans[n]
            length = span.text[1] - span.text[0]
            if _crc32_combine is not None:
                crc = _crc32_combine(crc, span.crc, length)
            else:  # zlib's Python module has no crc32_combine: read the kept text again
                crc = _crc32(self.pieces[n], crc)
            size += length
        return crc, size


Servable = Union[Part, Body]  # what a response is made of: the poll's page and the small parts around it
