"""Stream's framing where a real HAProxy cannot be made to show it: lines cut anywhere between
reads, a blank line split across reads, a line longer than any of HAProxy's, a close before reading.
The other end is a socketpair the test writes to."""

from __future__ import annotations

import socket
import threading

import pytest

from exporter.runtime.answer import MAX_LINE
from exporter.runtime.client import Stream, TransportError

LINES = [f"<134>Dec  5 03:45:26 localhost haproxy[1]: line {n} é" for n in range(200)]


def streamed(pieces: list[bytes]) -> tuple[list[list[str]], Stream]:
    ours, theirs = socket.socketpair()
    stream = Stream(ours, "show events logs -w -n")

    def write() -> None:
        try:
            for piece in pieces:
                theirs.sendall(piece)
        except OSError:
            pass  # the stream refused a line and closed its end
        finally:
            theirs.close()

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        return list(stream.batches()), stream
    finally:
        writer.join(10)


@pytest.mark.parametrize("size", [1, 2, 7, 64, 1000, 1 << 20])
def test_lines_cut_anywhere_between_reads_come_out_whole_and_in_order(size: int) -> None:
    data = "".join(line + "\n" for line in LINES).encode()
    batches, stream = streamed([data[i:i + size] for i in range(0, len(data), size)])
    assert [line for batch in batches for line in batch] == LINES
    assert all(batches) and stream.end == "ended" and stream.lines_read == len(LINES) and stream.bytes_read == len(data)


@pytest.mark.parametrize("pieces", [[b"a\n\n"], [b"a\n", b"\n"], [b"a", b"\n", b"\n", b"b\n"]])
def test_a_blank_line_ends_the_stream_after_the_lines_before_it(pieces: list[bytes]) -> None:
    batches, stream = streamed(pieces)
    assert batches == [["a"]] and stream.end == "ended"


def test_a_line_longer_than_any_of_haproxys_ends_the_stream_with_an_error() -> None:
    with pytest.raises(TransportError) as raised:
        streamed([b"x" * (MAX_LINE + 2)])
    assert raised.value.reason == "unexpected_response"


def test_a_stream_closed_before_it_is_read_gives_nothing() -> None:
    ours, theirs = socket.socketpair()
    stream = Stream(ours, "show events logs -w -n")
    stream.close()
    with pytest.raises(BrokenPipeError):
        theirs.sendall(b"late\n")  # the stream's end is closed: nothing more reaches it
    assert list(stream.batches()) == [] and stream.end == "closed"
    theirs.close()
