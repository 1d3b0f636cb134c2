"""The served page: what a poll publishes and a scrape sends, in three words.

- :class:`Piece`: one family's text on the page (or the tail of it that holds its servers in
  maintenance), with what a promex selection reads of it: the family's name and scope, whether
  its samples are of servers in maintenance, whether it is one of promex's extra counters.  The
  renderer makes them (exporter/exposition/render.py); a selection is a subset of them.
- :class:`Page`: HAProxy's series from one successful poll, with when they were taken: the
  pieces in order, plain, and as one gzip member made of each piece compressed once, so the
  whole page and every selection are sent as slices of bytes the poll prepared.
- :class:`Part`: a small text sent whole beside a page (the exporter's own status, the overview
  of every target, the process figures at scrape time): plain and as its own gzip member.

A response is the chunks of a few pages and parts (``chunks``), never copied into one buffer.
Compression itself (deflate blocks, gzip members, CRC-32) is exporter/exposition/gzip.py's.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Sequence

from exporter.exposition import gzip, openmetrics, protobuf
from exporter.reuse import PollMemo

if TYPE_CHECKING:
    from exporter.exposition.families import Family
    from exporter.exposition.native import NativeHistogram

# A page below this is compressed once more as a whole: pieces compressed without each other's
# history compress a small page far less (BENCHMARKS.md), and recompressing a small page costs nothing.
WHOLE_BELOW = 1 << 20


@dataclass(frozen=True)
class Piece:
    """One family's text (or the tail of it with its servers in maintenance).  The pieces of a
    poll, concatenated in order, are the whole page."""

    name: str
    text: bytes
    scope: str  # promex's scope of the family (Family.scope)
    maint: bool = False  # samples of servers in maintenance, following the family's other samples
    extra: bool = False  # one of promex's extra counters (Family.extra)
    # The family the text was written from, and which of its samples it holds (the renderer's:
    # the protobuf form encodes them, exporter/exposition/protobuf.py); None: the text alone.
    source: "Family | None" = field(default=None, compare=False, repr=False)
    span: tuple[int, int | None] = field(default=(0, None), compare=False, repr=False)

    def native(self) -> "Sequence[NativeHistogram | None] | None":
        """The source's native histograms (part of what the protobuf form is made of)."""
        return None if self.source is None else self.source.native


Keep = Callable[[Piece], bool]  # which pieces a selection sends (promex_query.Selection.keeps)


@dataclass(frozen=True)
class Part:
    """A small text, plain and as a standalone gzip member (members concatenate into a valid
    gzip stream, RFC 1952 §2.2, so a part follows a page's member as it is)."""

    text: bytes
    gz: bytes

    @classmethod
    def of(cls, text: str | bytes) -> "Part":
        raw = text if isinstance(text, bytes) else text.encode("utf-8")
        return cls(raw, gzip.compress(raw))

    def openmetrics(self) -> "Part":
        """This part in OpenMetrics (exporter/exposition/openmetrics.py), made on the first call
        and kept with the part: itself when nothing changes."""
        found: Part | None = self.__dict__.get("_om")
        if found is None:
            text = openmetrics.convert(self.text)
            found = self if text is self.text else Part.of(text)
            object.__setattr__(self, "_om", found)
        return found

    def protobuf(self) -> "Part":
        """This part as delimited MetricFamily messages, read back from its text (a few lines),
        made on the first call and kept with the part."""
        found: Part | None = self.__dict__.get("_pb")
        if found is None:
            found = Part.of(protobuf.encode_text(self.text))
            object.__setattr__(self, "_pb", found)
        return found

    def chunks(self, gz: bool, keep: Keep | None = None) -> list[bytes | memoryview]:
        """All of it, whatever the selection: a part holds no HAProxy series."""
        return [self.gz if gz else self.text]


Blocks = tuple["bytes | memoryview", int]  # a piece text's deflate blocks, and the text's CRC-32


class FormKeep:
    """What a target keeps for one derived form of its pages (OpenMetrics: :meth:`Page.openmetrics`;
    protobuf: :meth:`Page.protobuf`): each piece's derived bytes (``derived``: the converted text, or
    the encoded messages), kept while the text page's piece is the same (the renderer's reuse: found
    again by identity, so nothing is derived again), and their deflate blocks (``memo``), from page
    to page; the lock that lets one thread at a time use them (the poll's, or a scrape's); and
    whether any scrape has asked for the form yet: from then on the poll prepares each page's form
    before publishing it, so no scrape waits for it, and until then nobody pays for it."""

    __slots__ = ("memo", "derived", "lock", "asked")

    def __init__(self) -> None:
        self.memo: PollMemo[Blocks] = PollMemo()
        self.derived: PollMemo[bytes] = PollMemo()
        self.lock = threading.Lock()
        self.asked = False


def _blocks(text: bytes) -> Blocks:
    return gzip.deflate(text), gzip.crc32(text, 0)


def _encode(piece: Piece, native: "Sequence[NativeHistogram | None] | None") -> bytes:
    """A piece's delimited MetricFamily: from its source family's columns, or read from its text
    (``native`` is the source's, passed so that the memo compares it as an input)."""
    if piece.source is None:
        return protobuf.encode_text(piece.text)
    start, stop = piece.span
    return protobuf.encode_family(piece.source, start, stop)


class Page:
    """HAProxy's series from one poll: its pieces' texts, and one gzip member made of each piece
    compressed once; with when the poll read HAProxy and how many series it holds.

    Each piece is compressed on its own as raw deflate blocks that end byte-aligned and not final
    (``gzip.deflate``), with the CRC-32 of its text.  The blocks of any pieces, taken in order, are
    the deflate stream of those pieces' texts joined; with a gzip header before them and a final
    empty block, the CRC-32 of the joined texts (``crc32_combine`` of the pieces' CRCs: no byte is
    read again) and the length after, they are one gzip member.  So the whole page (``gz``) and
    every promex selection (``scope``, ``metrics``, ``no-maint``) are sent as slices of the bytes
    the poll prepared, one compression per poll.  A small page also gets a whole-page compression
    of its own (``WHOLE_BELOW``): without each other's history its pieces compress far less.

    The plain page is sent as the pieces themselves, never joined into one buffer: faulting in a
    fresh buffer of the whole page every poll costs more CPU than compressing it (BENCHMARKS.md).
    ``text`` joins them for the few that want one buffer (``--once``).
    """

    __slots__ = ("pieces", "deflated", "size", "taken_at", "taken_mono", "samples", "_whole", "_crc_all", "_gz_at",
                 "_crcs", "_text", "om_keep", "_om", "pb_keep", "_pb", "_form_lock")

    def __init__(self, pieces: tuple[Piece, ...], whole: bytes | None, deflated: bytes, crc: int,
                 gz_at: tuple[tuple[int, int], ...], crcs: tuple[int, ...], taken_at: float = 0.0,
                 taken_mono: float = 0.0, samples: int = 0) -> None:
        self.pieces = pieces
        self.deflated = deflated  # every piece's deflate blocks, in order
        self.size = sum(len(p.text) for p in pieces)
        # The whole page's gzip member: a compression of its own for a small page, else the
        # blocks above between a header and a trailer (CRC-32 ``crc``), sent as they lie.
        self._whole = whole
        self._crc_all = crc
        # Set by the poll once the page is made: when it was done (wall clock, for the exporter's own
        # metric; monotonic, for the page's age in the Store), and how many series it holds.
        self.taken_at = taken_at
        self.taken_mono = taken_mono
        self.samples = samples
        self._gz_at = gz_at  # where each piece's blocks lie in ``deflated``
        self._crcs = crcs  # each piece text's CRC-32
        self._text: bytes | None = None
        # The derived forms (:meth:`openmetrics`, :meth:`protobuf`), each made on the first request
        # for it (or by the poll, once one was asked for), with what its target keeps for it (set by
        # the poll); one lock for both.
        self.om_keep: FormKeep | None = None
        self._om: Page | None = None
        self.pb_keep: FormKeep | None = None
        self._pb: Page | None = None
        self._form_lock = threading.Lock()

    def openmetrics(self) -> "Page":
        """The OpenMetrics form of this page (without ``# EOF``, which ends the response).

        Only the head of a counter's or an info's piece changes (exporter/exposition/openmetrics.py);
        every other piece is the very same bytes, and its deflate blocks and CRC are taken from this
        page's, not compressed again.  A changed piece's text and blocks come from ``om_keep`` when
        the last converted page had the same text (most of a large installation, from poll to poll).
        """
        return self._form("_om", self.om_keep, self._derive)

    def protobuf(self) -> "Page":
        """The protobuf form of this page: each piece as one delimited MetricFamily message (same
        names, scopes and flags, so promex's selections read it as the text page).  A piece the
        renderer took as it was (the same object as the last page's) gets the last page's messages
        and deflate blocks from ``pb_keep``, not encoded or compressed again."""
        return self._form("_pb", self.pb_keep, self._encode_all)

    def _form(self, slot: str, keep: FormKeep | None, make: Callable[[FormKeep], "Page"]) -> "Page":
        """A derived form, made on the first call and kept with the page in ``slot``, so a poll's
        page is derived at most once and only if someone asks for that form: nobody who asks only
        for text pays for it.  Asking marks the target's ``keep``, so its later polls make the form
        before publishing."""
        found: Page | None = getattr(self, slot)
        if found is not None:
            return found
        with self._form_lock:
            found = getattr(self, slot)
            if found is None:
                keep = keep if keep is not None else FormKeep()
                keep.asked = True
                with keep.lock:
                    found = make(keep)
                setattr(self, slot, found)
            return found

    def _encode_all(self, keep: FormKeep) -> "Page":
        pieces: list[Piece] = []
        with keep.derived.poll():
            for piece in self.pieces:
                encoded = keep.derived.get((piece.name, piece.maint), _encode, piece, piece.native())
                pieces.append(Piece(piece.name, encoded, piece.scope, piece.maint, piece.extra))
        return Page.of_pieces(pieces, keep.memo)

    def _derive(self, keep: FormKeep) -> "Page":
        view = memoryview(self.deflated)
        pieces: list[Piece] = []
        made: list[Blocks] = []
        with keep.memo.poll(), keep.derived.poll():
            for n, piece in enumerate(self.pieces):
                text = piece.text
                if openmetrics.changes(text):
                    text = keep.derived.get((piece.name, piece.maint), openmetrics.convert_piece, text)
                if text is piece.text:
                    pieces.append(piece)
                    start, end = self._gz_at[n]
                    made.append((view[start:end], self._crcs[n]))
                else:
                    pieces.append(Piece(piece.name, text, piece.scope, piece.maint, piece.extra))
                    made.append(keep.memo.get((piece.name, piece.maint), _blocks, text))
        return Page.of_blocks(pieces, made)

    @property
    def gz(self) -> bytes:
        """The whole page's gzip member as one buffer (for tests; a scrape sends :meth:`chunks`)."""
        return self._whole if self._whole is not None else b"".join(self.chunks(True))

    @property
    def text(self) -> bytes:
        if self._text is None:
            self._text = b"".join(p.text for p in self.pieces)
        return self._text

    @classmethod
    def of_pieces(cls, pieces: Sequence[Piece], memo: PollMemo[Blocks] | None = None) -> "Page":
        """The page of ``pieces``.  With a ``memo`` kept from poll to poll (exporter/reuse.py), a
        piece whose text equals the last poll's piece of its family gets its blocks and CRC again,
        not compressed: the very bytes object when the renderer took the family as it was (compared
        by identity), or equal bytes made again (compared with memcmp, which reads less than a CRC)."""
        memo = memo if memo is not None else PollMemo()
        with memo.poll():
            keys = [(piece.name, piece.maint) for piece in pieces]
            made = [memo.get(key, _blocks, piece.text) for key, piece in zip(keys, pieces)]
            return cls.of_blocks(pieces, made, memo, keys)

    @classmethod
    def of_blocks(cls, pieces: Sequence[Piece], made: Sequence[Blocks], memo: PollMemo[Blocks] | None = None,
                  keys: Sequence[tuple[str, bool]] = ()) -> "Page":
        """The page of ``pieces`` whose blocks and CRCs are ``made``; with ``memo``, each piece's
        entry under its key becomes a slice of the page's one buffer of blocks."""
        deflated = b"".join(block for block, _ in made)
        # The memo keeps each piece's blocks as a slice of this buffer: one copy of them in all.
        view = memoryview(deflated)
        gz_at, crc, at_text, at_gz = [], 0, 0, 0
        combine = gzip.crc32_combine
        for n, (piece, (block, piece_crc)) in enumerate(zip(pieces, made)):
            end_gz = at_gz + len(block)
            gz_at.append((at_gz, end_gz))
            if memo is not None:
                memo.put(keys[n], (view[at_gz:end_gz], piece_crc))
            crc = gzip.crc32(piece.text, crc) if combine is None else combine(crc, piece_crc, len(piece.text))
            at_text, at_gz = at_text + len(piece.text), end_gz
        crcs = tuple(piece_crc for _, piece_crc in made)
        whole = gzip.compress(b"".join(piece.text for piece in pieces)) if at_text < WHOLE_BELOW else None
        return cls(tuple(pieces), whole, deflated, crc, tuple(gz_at), crcs)

    def chunks(self, gz: bool, keep: Keep | None = None) -> list[bytes | memoryview]:
        """The whole page, or the kept pieces (the gzip member of their blocks, adjacent ones as one slice)."""
        if keep is None:
            if not gz:
                return [p.text for p in self.pieces if p.text]
            if self._whole is not None:
                return [self._whole]
            return [gzip.HEADER, self.deflated, gzip.trailer(self._crc_all, self.size)]
        kept = [n for n, piece in enumerate(self.pieces) if piece.text and keep(piece)]
        if not gz:
            return [self.pieces[n].text for n in kept]
        view = memoryview(self.deflated)
        runs: list[list[int]] = []
        for n in kept:
            start, end = self._gz_at[n]
            if runs and runs[-1][1] == start:
                runs[-1][1] = end
            else:
                runs.append([start, end])
        return [gzip.HEADER, *(view[start:end] for start, end in runs), gzip.trailer(*self._crc(kept))]

    def _crc(self, kept: Sequence[int]) -> tuple[int, int]:
        """CRC-32 and length of the kept pieces' texts joined."""
        crc, size = 0, 0
        combine = gzip.crc32_combine
        for n in kept:
            text = self.pieces[n].text
            if combine is not None:
                crc = combine(crc, self._crcs[n], len(text))
            else:  # zlib's Python module has no crc32_combine: read the kept text again
                crc = gzip.crc32(text, crc)
            size += len(text)
        return crc, size
