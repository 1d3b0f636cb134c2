"""Compression for the page (exporter/exposition/page.py): gzip members, deflate blocks that
join, CRC-32 and the member's trailer, with the fastest engine installed.

A page's pieces are compressed once per poll and sent together without recompressing per scrape:
as deflate blocks joined into one member (``deflate``, ``HEADER``, ``trailer``, ``crc32_combine``)
or as gzip members of their own (RFC 1952 §2.2: members concatenate into a valid stream).
"""

from __future__ import annotations

import gzip
import struct
import zlib
from typing import Callable


def _zlib_member(raw: bytes) -> bytes:
    # Level 3: the exposition is so repetitive that a low level already compresses it well, and a
    # higher one costs more than twice the time for a few percent fewer bytes (BENCHMARKS.md).
    return gzip.compress(raw, compresslevel=3, mtime=0)


GZIP_ENGINES: dict[str, Callable[[bytes], bytes]] = {"zlib": _zlib_member}
try:
    from isal import igzip as _igzip
except ImportError:  # the dependency is declared; without a wheel for the platform, zlib still works
    pass
else:
    def _isal_member(raw: bytes) -> bytes:
        # ISA-L's igzip level 1: a fraction of zlib level 3's time for a few percent more bytes
        # (BENCHMARKS.md).  The copy is made every poll whether or not anyone asks for gzip, so CPU
        # per poll is the cost to minimise; a few more bytes per gzip scrape is the cheaper side.
        return _igzip.compress(raw, compresslevel=1, mtime=0)

    GZIP_ENGINES["isal"] = _isal_member
GZIP_ENGINE = "isal" if "isal" in GZIP_ENGINES else "zlib"


def compress(raw: bytes) -> bytes:
    """One standalone gzip member (RFC 1952) of ``raw``, with the fastest engine installed."""
    return GZIP_ENGINES[GZIP_ENGINE](raw)


# A gzip member around raw deflate data (RFC 1952): the fixed header (no name, no mtime, the OS
# byte "unknown"), and after the data a final empty block, then CRC-32 and length of the text.
HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
FINAL_BLOCK = b"\x03\x00"  # BFINAL=1, fixed Huffman, end-of-block: closes a stream of sync-flushed blocks


def _deflate_zlib(raw: bytes) -> bytes:
    c = zlib.compressobj(3, zlib.DEFLATED, -15)
    return c.compress(raw) + c.flush(zlib.Z_SYNC_FLUSH)


DEFLATE_ENGINES: dict[str, Callable[[bytes], bytes]] = {"zlib": _deflate_zlib}
crc32: Callable[[bytes | memoryview, int], int] = zlib.crc32
crc32_combine: Callable[[int, int, int], int] | None = None
try:
    from isal import isal_zlib as _isal_zlib
except ImportError:
    pass
else:
    def _deflate_isal(raw: bytes) -> bytes:
        c = _isal_zlib.compressobj(1, _isal_zlib.DEFLATED, -15)
        return c.compress(raw) + c.flush(_isal_zlib.Z_SYNC_FLUSH)

    DEFLATE_ENGINES["isal"] = _deflate_isal
    crc32 = _isal_zlib.crc32
    crc32_combine = _isal_zlib.crc32_combine


def deflate(raw: bytes) -> bytes:
    """Raw deflate blocks of ``raw``, ending byte-aligned and not final (a sync flush), so the
    blocks of several texts, one after another, are the deflate stream of the texts joined."""
    return DEFLATE_ENGINES[GZIP_ENGINE](raw) if raw else b""


def trailer(crc: int, size: int) -> bytes:
    return FINAL_BLOCK + struct.pack("<II", crc & 0xFFFFFFFF, size & 0xFFFFFFFF)
