"""A scripted UNIX stats socket for the faults a real HAProxy cannot be made to show.

Real HAProxy does not hang mid-answer, cut a row in half or answer with an HTML page, yet a
socket behind a proxy, a wrong path or a broken build can.  Everything else is tested against a
real HAProxy (tests/support.py).  Each connection reads one command line and plays the answer
scripted for it; the script can change between polls.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Union

from testkit.servers import accept_loop


@dataclass(frozen=True)
class Hang:
    """Accept the command, send ``prefix``, then say nothing until the server stops."""

    prefix: bytes = b""


@dataclass(frozen=True)
class Cut:
    """Send the first ``size`` bytes of ``data`` and close, as a crashed or killed peer would."""

    data: bytes
    size: int


Answer = Union[bytes, Hang, Cut, Callable[[socket.socket], None]]


class FakeSocket:
    """Serve scripted answers on a UNIX socket path; records every command line it received."""

    def __init__(self, path: str | Path, answers: dict[str, Answer] | None = None) -> None:
        self.path = str(path)
        self.answers: dict[str, Answer] = dict(answers or {})
        self.commands: list[str] = []
        self._stop = threading.Event()
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(self.path)
        self._sock.listen(16)
        self._sock.settimeout(0.05)
        self._thread = threading.Thread(target=accept_loop, args=(self._sock, self._stop, self._handle),
                                        name="fakesocket", daemon=True)

    def __enter__(self) -> "FakeSocket":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()

    def _read_line(self, conn: socket.socket) -> str:
        data = b""
        conn.settimeout(5)
        while b"\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
        return data.split(b"\n", 1)[0].decode("utf-8", "replace")

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            try:
                command = self._read_line(conn)
                self.commands.append(command)
                answer = self.answers.get(command, b"Unknown command\n\n")
                if isinstance(answer, bytes):
                    conn.sendall(answer)
                elif isinstance(answer, Cut):
                    conn.sendall(answer.data[: answer.size])
                elif isinstance(answer, Hang):
                    conn.sendall(answer.prefix)
                    self._stop.wait(60)  # bounded: the server's close() ends it sooner
                else:
                    answer(conn)
            except OSError:
                pass  # the client gave up (its timeout): nothing to do
