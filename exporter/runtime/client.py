"""Talk to HAProxy's stats socket: one read-only command per connection, read to the end.

Framing facts (reference sheet §5): HAProxy ends every command's output with a blank line
(``\\n\\n``) and, in non-interactive mode, closes the connection.  The master CLI never closes,
so we half-close after sending, which makes both close promptly.  A response that ends without
the blank line was cut off and is rejected, so a half-read ``show stat`` never becomes a snapshot.
"""

from __future__ import annotations

import errno
import re
import socket
import time
from dataclasses import dataclass
from typing import Iterable

from exporter.runtime.address import Address

# The master CLI's routing prefix: ``@!<pid> `` reaches one worker, old ones included.
_ROUTE = re.compile(r"@!\d{1,10} ")
DEFAULT_MAX_RESPONSE_BYTES = 256 * 1024 * 1024


class CommandRefused(ValueError):
    """The command is not one of the read-only commands the exporter needs."""


class TransportError(Exception):
    """Talking to the socket failed.  ``reason`` is a short, stable label for metrics."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class Allowlist:
    """Every command the exporter may ever send, from the sources' declarations.

    Anything else is refused before a socket is opened, so no bug or config value can make the
    exporter change HAProxy's state.  Only ``show`` commands can be declared at all, optionally
    behind a master CLI routing prefix (``@!<pid> ``).
    """

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = tuple(patterns)
        for pattern in self.patterns:
            if not pattern.startswith("show "):
                raise ValueError(f"only read-only show commands can be allowed, not {pattern!r}")
        self._regex = re.compile("|".join(f"(?:{p})" for p in self.patterns))

    def check(self, command: str) -> str:
        """Return ``command`` if allowed, else raise :class:`CommandRefused`."""
        route = _ROUTE.match(command)
        body = command[route.end():] if route else command
        if self._regex.fullmatch(body) and "\n" not in command and ";" not in command:
            return command
        raise CommandRefused(f"refusing to send {command!r}: only read-only show commands are allowed")


@dataclass(frozen=True)
class TransportLimits:
    connect_timeout: float = 2.0
    read_timeout: float = 10.0
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES


class RuntimeClient:
    """Sends one command per connection and returns HAProxy's answer without the closing blank line."""

    def __init__(self, address: Address, allowlist: Allowlist, limits: TransportLimits | None = None) -> None:
        self.address = address
        self.allowlist = allowlist
        self.limits = limits or TransportLimits()

    def run(self, command: str) -> str:
        """Send one command (``@!<pid> `` in front routes it through a master CLI) and read the answer."""
        self.allowlist.check(command)
        raw = self._exchange((command + "\n").encode())
        return _strip_block_end(raw, command)

    def _connect(self) -> socket.socket:
        sock = socket.socket(self.address.family, socket.SOCK_STREAM)
        sock.settimeout(self.limits.connect_timeout)
        try:
            sock.connect(self.address.target)
        except BaseException as exc:
            sock.close()
            raise _connect_error(exc, self.address) from None
        return sock

    def _exchange(self, payload: bytes) -> bytes:
        sock = self._connect()
        deadline = time.monotonic() + self.limits.read_timeout
        chunks: list[bytes] = []
        size = 0
        try:
            sock.settimeout(self.limits.read_timeout)
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise socket.timeout()
                sock.settimeout(remaining)
                chunk = sock.recv(1 << 20)
                if not chunk:
                    break
                size += len(chunk)
                if size > self.limits.max_response_bytes:
                    raise TransportError(
                        "too_large",
                        f"response exceeds {self.limits.max_response_bytes} bytes "
                        "(raise haproxy.max_response_bytes)",
                    )
                chunks.append(chunk)
        except socket.timeout:
            raise TransportError(
                "timeout", f"no complete answer from {self.address} within {self.limits.read_timeout}s"
            ) from None
        except OSError as exc:
            raise TransportError("io", f"talking to {self.address} failed: {exc}") from None
        finally:
            sock.close()
        return b"".join(chunks)


def _connect_error(exc: BaseException, address: Address) -> TransportError:
    if isinstance(exc, socket.timeout):
        return TransportError("connect_timeout", f"connecting to {address} timed out")
    if isinstance(exc, FileNotFoundError):
        return TransportError("no_socket", f"socket {address} does not exist (is HAProxy running?)")
    if isinstance(exc, PermissionError):
        return TransportError(
            "permission", f"no permission to open {address} (check the socket's mode and group)"
        )
    if isinstance(exc, ConnectionRefusedError):
        return TransportError("refused", f"connection to {address} refused (is HAProxy running?)")
    if isinstance(exc, OSError) and exc.errno == errno.ENOENT:
        return TransportError("no_socket", f"socket {address} does not exist")
    return TransportError("connect", f"cannot connect to {address}: {exc}")


def _strip_block_end(raw: bytes, command: str) -> str:
    if raw == b"\n":
        return ""  # a command with nothing to say (e.g. no stick tables) answers a lone newline
    if not raw:
        raise TransportError("empty", f"empty answer to {command!r}: connection closed without data")
    if raw.startswith((b"HTTP/", b"<")):
        # An HTTP port or a web page: say so instead of calling it cut off or garbled.
        raise TransportError("not_haproxy", f"answer to {command!r} is HTTP/HTML, not the Runtime API")
    if not raw.endswith(b"\n\n"):
        # Master CLI prompt mode or a cut stream: either way not a complete block.
        raise TransportError("truncated", f"answer to {command!r} was cut off (no closing blank line)")
    return raw[:-1].decode("utf-8", errors="replace")
