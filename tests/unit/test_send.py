"""The sender's chunking (exporter/web/send.py), function by function: what a response's chunks
become as writes and as TLS records, and what is left of a batch after a partial write.

The oracle is the concatenation of the chunks, sliced by hand; what must not be copied is checked
by the memory a piece points into.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exporter.web.send import JOIN_BELOW, advance, pieces, records
from exporter.web.tls import RECORD

EXAMPLES = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CHUNKS = st.lists(st.binary(min_size=1, max_size=200), max_size=12)


def inside(piece: bytes | memoryview, chunks: list[bytes]) -> bool:
    """``piece`` is a view into one of ``chunks`` (no copy was made)."""
    return isinstance(piece, memoryview) and any(piece.obj is chunk for chunk in chunks)


# -- advance ---------------------------------------------------------------------------------

@EXAMPLES
@given(CHUNKS, st.data())
def test_advance_leaves_exactly_the_bytes_not_yet_written(chunks: list[bytes], data: st.DataObject) -> None:
    views = [memoryview(chunk) for chunk in chunks]
    whole = b"".join(chunks)
    written = data.draw(st.integers(0, len(whole)))
    left = advance(views, written)
    assert b"".join(left) == whole[written:]
    assert all(view.obj is chunk for view, chunk in zip(reversed(left), reversed(chunks)))  # views, not copies
    assert all(len(view) for view in left)  # no empty view is written again


def test_advance_cuts_inside_a_chunk_and_at_its_end() -> None:
    views = [memoryview(b"abc"), memoryview(b"de"), memoryview(b"f")]
    assert [bytes(v) for v in advance(views, 0)] == [b"abc", b"de", b"f"]
    assert [bytes(v) for v in advance(views, 1)] == [b"bc", b"de", b"f"]
    assert [bytes(v) for v in advance(views, 3)] == [b"de", b"f"]
    assert [bytes(v) for v in advance(views, 5)] == [b"f"]
    assert list(advance(views, 6)) == []


# -- pieces: plain writes --------------------------------------------------------------------

@EXAMPLES
@given(CHUNKS, st.integers(1, 64), st.integers(1, 64))
def test_pieces_are_the_chunks_in_order_large_ones_sliced_small_ones_joined(chunks: list[bytes], size: int,
                                                                           join_below: int) -> None:
    got = list(pieces(chunks, size=size, join_below=join_below))
    assert b"".join(got) == b"".join(chunks)
    for piece in got:
        if isinstance(piece, memoryview):  # a slice of a large chunk
            source = next(chunk for chunk in chunks if piece.obj is chunk)
            assert len(piece) <= size and len(source) >= join_below
        else:  # small chunks joined: the join stops once it reaches join_below
            assert isinstance(piece, bytes) and 0 < len(piece) < 2 * join_below
    # Every chunk of at least join_below bytes goes out as views into it, never copied (by
    # object: CPython shares one-byte bytes objects, so a list may hold the same one twice).
    for chunk in {id(chunk): chunk for chunk in chunks}.values():
        if len(chunk) >= join_below:
            times = sum(c is chunk for c in chunks)
            assert sum(len(p) for p in got if isinstance(p, memoryview) and p.obj is chunk) == times * len(chunk)


def test_a_head_and_a_small_part_are_one_write_and_a_large_part_is_not_copied() -> None:
    head, status, page = b"HTTP/1.1 200 OK\r\n\r\n", b"up 1\n", bytes(10_000)
    got = list(pieces([head, status, page], size=1 << 62, join_below=JOIN_BELOW))
    assert got[0] == head + status and isinstance(got[0], bytes)
    assert len(got) == 2 and inside(got[1], [page]) and len(got[1]) == len(page)


# -- records: TLS plaintext ------------------------------------------------------------------

@EXAMPLES
@given(CHUNKS, st.integers(1, 64))
def test_records_are_full_whatever_the_chunks_and_never_larger(chunks: list[bytes], size: int) -> None:
    got = list(records(chunks, size=size))
    assert b"".join(got) == b"".join(chunks)
    assert all(len(record) == size for record in got[:-1])
    assert not got or 0 < len(got[-1]) <= size


@EXAMPLES
@given(CHUNKS, st.integers(1, 64))
def test_a_record_within_one_chunk_is_a_view_of_it(chunks: list[bytes], size: int) -> None:
    """Where a record lies inside one chunk it is not copied: at its offsets in the whole text,
    a record that starts and ends inside the same chunk is a view into that chunk.  The last
    record, the page's short end, may be a copy (of less than a record)."""
    starts, offset = [], 0
    for chunk in chunks:
        starts.append((offset, offset + len(chunk), chunk))
        offset += len(chunk)
    position = 0
    for record in list(records(chunks, size=size))[:-1]:
        within = next((chunk for start, end, chunk in starts if start <= position and position + len(record) <= end),
                      None)
        if within is not None:
            assert inside(record, [within]), (position, len(record))
        position += len(record)


@pytest.mark.parametrize("sizes", [[RECORD], [RECORD + 1], [1, RECORD - 1, RECORD], [RECORD * 3 - 5, 2, 3]])
def test_records_at_the_real_record_size(sizes: list[int]) -> None:
    chunks = [bytes([n]) * size for n, size in enumerate(sizes)]
    got = list(records(chunks))
    assert b"".join(got) == b"".join(chunks)
    assert [len(r) for r in got[:-1]] == [RECORD] * (len(got) - 1) and len(got[-1]) <= RECORD
