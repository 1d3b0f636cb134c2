"""Raw HTTP over loopback sockets for the serving tests: exact bytes in, the server's bytes out.

urllib and http.client refuse to send malformed requests and hide how a connection ended, so
these helpers write bytes and read until the server closes (or a bounded wait runs out).
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass


@dataclass
class Answer:
    raw: bytes
    closed: bool  # the server closed the connection (EOF or reset) within the wait

    @property
    def status(self) -> int:
        line = self.raw.split(b"\r\n", 1)[0]
        return int(line.split()[1]) if line.startswith(b"HTTP/1.") else 0

    @property
    def headers(self) -> dict[str, str]:
        head = self.raw.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")[1:]
        return {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head)}

    @property
    def body(self) -> bytes:
        return self.raw.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in self.raw else b""

    def responses(self) -> int:
        return self.raw.count(b"HTTP/1.1 ")


def connect(port: int, timeout: float = 5.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def read_all(sock: socket.socket, wait: float = 5.0) -> Answer:
    """Everything until the server closes, or until ``wait`` seconds pass (closed=False)."""
    deadline = time.monotonic() + wait
    chunks = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return Answer(b"".join(chunks), False)
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return Answer(b"".join(chunks), False)
        except ConnectionResetError:
            return Answer(b"".join(chunks), True)
        if not chunk:
            return Answer(b"".join(chunks), True)
        chunks.append(chunk)


def exchange(port: int, data: bytes, wait: float = 5.0) -> Answer:
    with connect(port) as sock:
        sock.sendall(data)
        return read_all(sock, wait)


def get(path: str = "/metrics", headers: dict[str, str] | None = None, close: bool = True,
        method: str = "GET") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()
