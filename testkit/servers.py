"""Loopback servers: the accept loop they share, and an origin behind a real HAProxy for traffic
that must outlast a reload or a poll."""

from __future__ import annotations

import socket
import threading
import time
from typing import Callable


def accept_loop(listener: socket.socket, stop: threading.Event, handle: Callable[[socket.socket], None],
                threaded: bool = True) -> None:
    """Accept on ``listener`` until ``stop`` is set (the listener has a timeout, so the loop sees it
    soon); each connection goes to ``handle``, in a daemon thread of its own unless ``threaded`` is
    false (one connection at a time, in order)."""
    while not stop.is_set():
        try:
            conn, _ = listener.accept()
        except OSError:  # the timeout, or the listener closed
            continue
        if threaded:
            threading.Thread(target=handle, args=(conn,), daemon=True).start()
        else:
            handle(conn)


class SlowBackend:
    """An HTTP server that sends every response at a steady pace, and logs when each byte left.

    It stands for a long download (a big file, a stream) held open through a reload; ``sent``
    holds (monotonic time, total body bytes sent so far), the real traffic a test compares with.
    """

    def __init__(self, chunk: int = 20_000, chunks: int = 100, delay: float = 0.05) -> None:
        self.chunk, self.chunks, self.delay = chunk, chunks, delay
        self.size = chunk * chunks
        self.sent: list[tuple[float, int]] = []
        self._total = 0
        self._lock = threading.Lock()
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=accept_loop, args=(self._sock, self._stop, self._respond), daemon=True)
        self._thread.start()

    def _respond(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10)
            try:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                             b"Content-Length: %d\r\nConnection: close\r\n\r\n" % self.size)
                for _ in range(self.chunks):
                    if self._stop.is_set():
                        return
                    conn.sendall(b"x" * self.chunk)
                    with self._lock:
                        self._total += self.chunk
                        self.sent.append((time.monotonic(), self._total))
                    time.sleep(self.delay)
            except OSError:
                return

    def bytes_between(self, start: float, end: float) -> int:
        """Body bytes sent in the monotonic interval [start, end]."""
        with self._lock:
            before = max((n for t, n in self.sent if t < start), default=0)
            upto = max((n for t, n in self.sent if t <= end), default=0)
        return upto - before

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self._sock.close()


class DelayedOrigin:
    """An HTTP server whose paths answer after known delays with known codes (``/slow/...`` after
    ``slow`` seconds, ``/missing/...`` 404, ``/error/...`` 500, anything else 200 after ``fast``),
    for tests whose oracle is the time and the code the client saw.  A connection that sends no
    request line (a TCP probe) gets the fast answer."""

    def __init__(self, fast: float = 0.005, slow: float = 0.2) -> None:
        self.fast, self.slow = fast, slow
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(128)
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=accept_loop, args=(self._sock, self._stop, self._respond), daemon=True)
        self._thread.start()

    def _respond(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10)
            try:
                request = conn.recv(65536)
                path = request.split(b" ", 2)[1] if request.count(b" ") >= 2 else b"/"
                delay, status = self.fast, b"200 OK"
                if path.startswith(b"/slow"):
                    delay = self.slow
                elif path.startswith(b"/missing"):
                    status = b"404 Not Found"
                elif path.startswith(b"/error"):
                    status = b"500 Internal Server Error"
                time.sleep(delay)
                conn.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            except OSError:
                return

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self._sock.close()
