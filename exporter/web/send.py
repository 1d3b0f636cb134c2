"""Sending a response: its bytes into the kernel without copying the page, plain or over TLS.

Why apart from the connection (exporter/web/protocol.py): the connection decides what to answer
and when (requests, timers, passwords); this decides only how the bytes reach the socket, which
is where a scrape's memory and system calls go, and it holds no HTTP.  A scrape's body (the
whole page, tens of MB at a large HAProxy) must go out without being copied into a user-space
buffer (asyncio's transport copies whatever the socket does not take at once), while a slow
client must neither be cut off nor make us hold the body twice:

* **Directly** (the usual way): while a response is sent (reading paused, the transport's buffer
  empty) the bytes are written on a duplicate of the socket's descriptor, one ``writev`` per
  wake-up, as much as the kernel takes, straight from the published parts.  Each write through
  the transport is another system call and another hand-over of the interpreter lock, which a
  poll running in the other thread makes wait (BENCHMARKS.md, "What decided the design of the
  send").
* **Through the transport** when no spare descriptor can be had (the top of the table is the
  poll's, exporter/web/limits.py): a slice (with TLS: a record) at a time, the next waiting for
  ``resume_writing``; the write buffer's high-water mark is 0, so at most one is ever copied.
* **TLS** (exporter/web/tls.py's ``TLSLayer``): the body is encrypted a record at a time and only
  as far as the kernel has room, so a reader that stops reading leaves about one record of
  ciphertext behind, not a slice of the page.

Progress is what a response is judged by (the connection's timer asks :meth:`Sender.verdict`):
bytes taken by the client, that is a write that went through, or the transport's buffer or the
kernel's unacknowledged bytes shrinking.  None for ``web.write_stall_timeout`` ends the
response, as does ``web.write_timeout`` for the whole of it.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import socket
import ssl
import struct
import termios
from typing import Iterator, Literal, Protocol, Sequence

from exporter.web import limits
from exporter.web.tls import RECORD, TLSLayer

SLICE = 256 * 1024  # bytes handed to the transport per write (see the module docstring)
IOV_BATCH = 64  # chunks per writev when sending directly (well below any IOV_MAX)
JOIN_BELOW = 4096  # sending directly, smaller chunks (the head, a small part) are joined into one
TLS_BATCH = 16  # TLS records per writev at most, when the kernel has room for them (see _next_batch)
Verdict = Literal["write_stalled", "write_timeout"]


def advance(views: Sequence[memoryview], written: int) -> Sequence[memoryview]:
    """What is left of ``views`` once the first ``written`` bytes went out."""
    for n, view in enumerate(views):
        if written < len(view):
            return [view[written:], *views[n + 1:]]
        written -= len(view)
    return ()


def pieces(chunks: Sequence[bytes | memoryview], size: int = SLICE, join_below: int = SLICE) -> Iterator[bytes | memoryview]:
    """The chunks as writes of at most ``size`` bytes: large chunks sliced without copying,
    consecutive ones under ``join_below`` joined (a header block and a small status part: one write)."""
    pending: list[bytes | memoryview] = []
    pending_len = 0
    for chunk in chunks:
        if len(chunk) < join_below:
            pending.append(chunk)
            pending_len += len(chunk)
            if pending_len >= join_below:
                yield b"".join(pending)
                pending, pending_len = [], 0
            continue
        if pending:
            yield b"".join(pending)
            pending, pending_len = [], 0
        view = memoryview(chunk)
        for offset in range(0, len(view), size):
            yield view[offset:offset + size]
    if pending:
        yield b"".join(pending)


def records(chunks: Sequence[bytes | memoryview], size: int = RECORD) -> Iterator[bytes | memoryview]:
    """The chunks as TLS plaintext of ``size`` bytes each (the last one may be shorter): a slice of
    a chunk where a record lies within one, a join of at most ``size`` bytes where it spans several,
    so every record is full whatever the sizes of the pieces and no buffer larger than one record
    is ever made."""
    pending: list[memoryview] = []
    pending_len = 0
    for chunk in chunks:
        view = memoryview(chunk)
        if pending:
            head = view[:size - pending_len]
            pending.append(head)
            pending_len += len(head)
            view = view[len(head):]
            if pending_len < size:
                continue
            yield b"".join(pending)
            pending, pending_len = [], 0
        whole = len(view) - len(view) % size
        for offset in range(0, whole, size):
            yield view[offset:offset + size]
        if whole < len(view):
            pending, pending_len = [view[whole:]], len(view) - whole
    if pending:
        yield b"".join(pending)


def _unsent_in_kernel(fd: int) -> int:
    """Bytes in the socket's send queue the client has not acknowledged (Linux TIOCOUTQ), 0 if unknown."""
    try:
        queued: int = struct.unpack("i", fcntl.ioctl(fd, termios.TIOCOUTQ, b"\0\0\0\0"))[0]
        return queued
    except (OSError, ValueError):
        return 0


_SO_MEMINFO = 55  # Linux (4.6+): the socket's memory accounting, sk_meminfo; not in Python's socket module
_MEMINFO = struct.Struct("6I")  # ..., [3] its send buffer's size, [4], [5] what its queued packets take


def _room_in_kernel(sock: socket.socket | None) -> int:
    """Bytes the socket's send buffer can still take, erring low (0 when unknown).

    The kernel takes a write while its queued packets, each counted with its overhead, take less
    than the buffer's size; taking two thirds of what is left as data, a write the kernel does
    not take whole is rare, and leaves little over when it happens."""
    if sock is None:
        return 0
    try:
        info: tuple[int, ...] = _MEMINFO.unpack_from(sock.getsockopt(socket.SOL_SOCKET, _SO_MEMINFO, 64))
    except (OSError, struct.error):
        return 0
    return (info[3] - info[5]) * 2 // 3


class Owner(Protocol):
    """What a :class:`Sender` tells its connection (exporter/web/protocol.py's ``Connection``)."""

    def sent(self) -> None:
        """Every byte of the response is in the kernel."""

    def failed(self, kind: str, detail: str) -> None:
        """The socket cannot be written to (the client is gone, or TLS failed): count it, abort."""


class Sender:
    """The sending side of one connection, from its transport's start to its end.

    It holds no timer of its own (the connection has one at a time, whatever it waits for) and
    nothing of a response but the iterator over its chunks and the one batch being written.
    """

    __slots__ = ("_owner", "_loop", "_transport", "_tls", "fd", "_sock", "_pieces", "_paused", "_wfd",
                 "_writing", "_writer_on", "_last_progress", "_deadline", "_pending")

    def __init__(self, owner: Owner, loop: asyncio.AbstractEventLoop, transport: asyncio.Transport,
                 tls: TLSLayer | None, sock: socket.socket | None) -> None:
        self._owner = owner
        self._loop = loop
        self._transport = transport
        self._tls = tls
        # Paused as soon as the socket leaves bytes over, resumed once they are out: at most one
        # slice (with TLS, one record's ciphertext) is ever copied into the transport's buffer.
        transport.set_write_buffer_limits(high=0, low=0)
        self.fd = sock.fileno() if sock is not None else -1  # the socket's, -1 when unknown
        self._sock = sock
        self._pieces: Iterator[bytes | memoryview] | None = None
        self._paused = False
        self._wfd = -1  # our own descriptor for the socket while a response is written directly
        # what the current writev has not yet handed to the kernel (no list while there is none)
        self._writing: Sequence[memoryview] = ()
        self._writer_on = False
        self._last_progress = 0.0
        self._deadline = 0.0
        self._pending = 0

    @property
    def sending(self) -> bool:
        """A response is under way (not all of it is in the kernel yet)."""
        return self._pieces is not None

    def start(self, chunks: Sequence[bytes | memoryview], write_timeout: float) -> None:
        """Send ``chunks`` (a response's head and body, in order); ``Owner.sent`` once they are out."""
        now = self._loop.time()
        self._deadline = now + write_timeout
        self._last_progress, self._pending = now, 0
        if self._start_direct():
            # Plain: each write takes whatever the kernel has room for, straight from the part.
            # TLS: a record at a time, each encrypted when the kernel can take it.
            self._pieces = records(chunks) if self._tls else pieces(chunks, size=1 << 62, join_below=JOIN_BELOW)
            self._write_direct()
        else:
            self._pieces = records(chunks) if self._tls else pieces(chunks)
            self._pump()

    def write_now(self, data: bytes) -> None:
        """A few bytes (a short error answer) through the transport, after what it holds."""
        transport = self._transport
        if transport.is_closing():
            return
        transport.write(data if self._tls is None else self._tls.encrypt(data))

    def close(self, flush_within: float) -> None:
        """Close after what was written has gone out; :meth:`verdict` still watches the flush,
        which must progress as a response does and end within ``flush_within`` seconds."""
        transport = self._transport
        if self._tls is not None and self._tls.established and not transport.is_closing():
            transport.write(self._tls.close_notify())
        transport.close()
        self._last_progress = self._loop.time()
        self._deadline = self._loop.time() + flush_within

    def end(self) -> None:
        """The connection is aborted or lost: give our descriptor back (it would keep the socket open)."""
        if self._wfd >= 0:
            if self._writer_on:
                self._loop.remove_writer(self._wfd)
                self._writer_on = False
            os.close(self._wfd)
            self._wfd = -1
        self._writing = ()

    def drop(self) -> None:
        """The connection is lost: nothing more of the response will be sent."""
        self.end()
        self._pieces = None

    # -- progress ----------------------------------------------------------------------------

    def verdict(self, stall_timeout: float) -> Verdict | None:
        """Progress-based send policy, asked periodically: a reader that keeps reading is never
        cut off; one that took no byte for ``stall_timeout``, or a response past its deadline, is."""
        now = self._loop.time()
        pending = self._transport.get_write_buffer_size() + (_unsent_in_kernel(self.fd) if self.fd >= 0 else 0)
        if pending < self._pending:
            self._last_progress = now
        self._pending = pending
        if now - self._last_progress >= stall_timeout:
            return "write_stalled"
        if now >= self._deadline:
            return "write_timeout"
        return None

    # -- sending directly ------------------------------------------------------------------

    def _start_direct(self) -> bool:
        if self.fd < 0 or self._transport.get_write_buffer_size():
            return False
        try:
            wfd = os.dup(self.fd)
        except OSError:
            return False
        limit = limits.fd_limit()
        if limits.within_reserve(wfd, limit, min(limits.FD_RESERVE, limit // 4)):  # the poll's, not ours
            os.close(wfd)
            return False
        self._wfd = wfd
        return True

    def _write_direct(self) -> None:
        """Write until the kernel is full (then wait for room) or the response is out.

        Up to ``IOV_BATCH`` chunks go in one ``writev``: a page sent as its family pieces is a few
        system calls (and hand-overs of the interpreter lock), not one per piece.
        """
        while self._wfd >= 0:
            if not self._writing:
                batch = self._next_batch()
                if batch is None:
                    return
                self._writing = batch
            try:
                written = os.writev(self._wfd, self._writing)
            except (BlockingIOError, InterruptedError):
                written = 0
            except OSError as exc:  # reset, broken pipe: the client is gone
                self._owner.failed("write_failed", str(exc))
                return
            if written:
                self._last_progress = self._loop.time()
            self._writing = advance(self._writing, written)
            if not self._writing:
                continue
            if not self._writer_on:  # the kernel is full: the next write when it has room
                self._loop.add_writer(self._wfd, self._write_direct)
                self._writer_on = True
            return

    def _next_batch(self) -> list[memoryview] | None:
        """The next chunks to write; None once the response is out.

        TLS: records are encrypted only for the room the kernel has now (up to ``TLS_BATCH``, at
        least one), so a reader that stops reading leaves at most about one record's ciphertext
        in memory, never the rest of a batch or of the page.
        """
        batch: list[memoryview] = []
        limit = IOV_BATCH
        if self._tls is not None:
            limit = max(1, min(TLS_BATCH, _room_in_kernel(self._sock) // RECORD))
        while self._pieces is not None and len(batch) < limit:
            piece = next(self._pieces, None)
            if piece is None:
                self._pieces = None
                break
            try:
                batch.append(memoryview(piece if self._tls is None else self._tls.encrypt(piece)))
            except ssl.SSLError as exc:
                self._owner.failed("tls_error", str(exc))
                return None
        if batch:
            return batch
        self.end()
        self._owner.sent()
        return None

    # -- through the transport ---------------------------------------------------------------

    def _pump(self) -> None:
        """Hand slices to the transport until it holds bytes the socket did not take (paused)."""
        transport = self._transport
        while self._pieces is not None and not self._paused:
            if transport.is_closing():
                return
            piece = next(self._pieces, None)
            if piece is None:
                self._pieces = None
                self._owner.sent()
                return
            self._last_progress = self._loop.time()
            try:
                transport.write(piece if self._tls is None else self._tls.encrypt(piece))
            except ssl.SSLError as exc:  # renegotiation is off (web/config.py); nothing else is expected
                self._owner.failed("tls_error", str(exc))
                return

    def pause(self) -> None:
        """The transport's ``pause_writing``: it holds bytes the socket did not take."""
        self._paused = True

    def resume(self, responding: bool) -> None:
        """The transport's ``resume_writing``: its buffer went out, which is progress; the next
        slice follows while a response is being sent."""
        self._paused = False
        self._last_progress = self._loop.time()
        if responding:
            self._pump()
