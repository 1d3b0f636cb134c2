"""Stream's framing where a real HAProxy cannot be made to show it: lines cut anywhere between
reads, a blank line split across reads, a line longer than any of HAProxy's, a close before reading,
the answers of commands chained before the stream cut anywhere (tests/unit/test_log_stream_pid.py
reads real HAProxys' captures).  The other end is a socketpair the test writes to."""

from __future__ import annotations

import socket
import threading

import pytest

from exporter.config import TargetConfig
from exporter.runtime.address import parse_address
from exporter.runtime.answer import MAX_LINE
from exporter.runtime.client import MAX_HEADS, Allowlist, CommandRefused, RuntimeClient, Stream, TransportError

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
    assert all(batches) and stream.end == "ended" and stream.bytes_read == len(data)


@pytest.mark.parametrize("pieces", [[b"a\n\n"], [b"a\n", b"\n"], [b"a", b"\n", b"\n"]])
def test_a_blank_line_ends_the_stream_after_the_lines_before_it(pieces: list[bytes]) -> None:
    batches, stream = streamed(pieces)
    assert batches == [["a"]] and stream.end == "ended"


def test_what_follows_a_blank_line_in_the_same_read_is_read_as_lines() -> None:
    """HAProxy writes nothing after the blank line that ends its answer: only the end of a read
    is looked at for one, and what a peer that is not HAProxy sends after it is lines (the log
    source rejects an empty one), until that peer ends the stream."""
    batches, stream = streamed([b"a\n\nb\n"])
    assert batches == [["a", "", "b"]] and stream.end == "ended"


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


def headed(pieces: list[bytes], before: int = 1) -> tuple[list[str] | None, list[str], Stream]:
    """``pieces`` through a stream that has ``before`` answers chained ahead of it: its heads, then its lines."""
    ours, theirs = socket.socketpair()
    stream = Stream(ours, "show events logs -w -n", before)

    def write() -> None:
        try:
            for piece in pieces:
                theirs.sendall(piece)
        except OSError:
            pass
        finally:
            theirs.close()

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        heads = stream.heads()
        return heads, [] if heads is None else list(stream.texts()), stream
    finally:
        writer.join(10)


INFO = "Name: HAProxy\nVersion: 3.4.0\nPid: 4242\n"


@pytest.mark.parametrize("size", [1, 2, 3, 7, 1000])
def test_the_answers_chained_before_a_stream_are_its_heads_and_its_lines_follow(size: int) -> None:
    """However the reads cut them, the blank line that ends show info's answer neither ends the
    stream nor swallows the line that came with it."""
    data = (INFO + "\n" + "".join(line + "\n" for line in LINES[:20])).encode()
    heads, texts, stream = headed([data[i:i + size] for i in range(0, len(data), size)])
    assert heads == [INFO]
    assert "".join(texts).split("\n")[:-1] == LINES[:20] and stream.end == "ended"
    assert stream.bytes_read == len(data)


@pytest.mark.parametrize("tail, end", [(b"Permission denied\n\n", "ended"), (b"No such event sink\n", "ended")])
def test_a_refusal_after_the_heads_is_the_streams_one_line(tail: bytes, end: str) -> None:
    heads, texts, stream = headed([(INFO + "\n").encode() + tail])
    assert heads == [INFO] and texts == [tail.decode().rstrip("\n") + "\n"] and stream.end == end


def test_several_heads_and_an_empty_one() -> None:
    heads, texts, _ = headed([b"a\nb\n\n\nc\n\nline\n"], before=3)
    assert heads == ["a\nb\n", "", "c\n"] and texts == ["line\n"]


@pytest.mark.parametrize("pieces", [[], [INFO.encode()[:-5]], [INFO.encode()]])
def test_a_stream_that_ends_within_its_heads_has_none(pieces: list[bytes]) -> None:
    heads, texts, stream = headed(pieces)
    assert heads is None and texts == [] and stream.end == "ended"


def test_heads_that_never_end_are_no_haproxys() -> None:
    with pytest.raises(TransportError) as raised:
        headed([b"x\n" * (MAX_HEADS // 2 + 2)])
    assert raised.value.reason == "unexpected_response"


def test_a_stream_closed_while_its_heads_are_read_has_none() -> None:
    ours, theirs = socket.socketpair()
    stream = Stream(ours, "show events logs -w -n", 1)
    threading.Timer(0.2, stream.close).start()
    assert stream.heads() is None and stream.end == "closed"
    theirs.close()


@pytest.mark.parametrize("before", [("clear counters",), ("show info;clear counters",), ("show info\\",),
                                    ("show info", "shutdown frontend fe")])
def test_what_is_chained_before_a_stream_is_checked_part_by_part_before_a_socket_is_opened(before: tuple[str, ...]) -> None:
    client = RuntimeClient(parse_address("/nonexistent/admin.sock"),
                           Allowlist([r"show info", r"show events logs -w -n", r"show info\\"]), TargetConfig())
    with pytest.raises(CommandRefused):
        client.stream("show events logs -w -n", before=before)
    with pytest.raises(TransportError) as raised:  # allowed: sent, were there a socket
        client.stream("show events logs -w -n", before=("show info",))
    assert raised.value.reason == "no_socket"
