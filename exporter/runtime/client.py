"""Talk to HAProxy's stats socket: one read-only command per connection, read to the end (or,
for a command whose answer does not end, read as it comes until it is closed: :class:`Stream`,
which may be told what process serves it by a command chained before it on its connection).

Framing facts (reference sheet §5): HAProxy ends every command's output with a blank line
(``\\n\\n``) and, in non-interactive mode, closes the connection.  The master CLI never closes,
so we half-close after sending, which makes both close promptly.  A response that ends without
the blank line was cut off and is rejected, so a half-read ``show stat`` never becomes a snapshot.

What an answer may cost is bounded twice: every byte read counts against the poll's
:class:`Budget` (``haproxy.max_response_bytes``, shared by all the commands of one poll of one
target), and the answer is decoded as it arrives into blocks of whole lines
(:mod:`exporter.runtime.answer`), never joined, so the bytes go as soon as they are text and no
step holds the interpreter lock for more than a block.
"""

from __future__ import annotations

import codecs
import errno
import re
import socket
import time
from typing import Iterable, Iterator, Protocol, runtime_checkable

from exporter.runtime.address import Address
from exporter.runtime.answer import BLOCK, MAX_LINE, Answer, Text

# The master CLI's routing prefix: ``@!<pid> `` reaches one worker, old ones included.
_ROUTE = re.compile(r"@!\d{1,10} ")
# What the answers chained before a stream may take in all (Stream.heads): a ``show info`` is
# 1.1 to 1.4 KB on HAProxy 2.6 to 3.4.
MAX_HEADS = 1 << 16


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


class Budget:
    """The bytes one poll of one target may read in all, shared by its commands in turn.

    Per poll, not per answer: a poll keeps each answer's parsed form until it builds, so what it
    holds grows with the bytes of all its answers together, whatever their number (tables,
    certificates, workers behind a master CLI).  ``per_answer``: a budget for one command alone.
    """

    def __init__(self, total: int, per_answer: bool = False) -> None:
        self.total = total
        self.used = 0
        self.per_answer = per_answer

    def left(self) -> int:
        return self.total - self.used

    def take(self, size: int, command: str) -> None:
        """Count ``size`` more bytes read for ``command``; :class:`TransportError` beyond the total."""
        self.used += size
        if self.used > self.total:
            raise self.exceeded(command)

    def exceeded(self, command: str) -> TransportError:
        if self.per_answer:
            return TransportError("too_large", f"answer to {command!r} exceeds {self.total} bytes "
                                               "(raise haproxy.max_response_bytes)")
        return TransportError("too_large", f"the answers of this poll exceed {self.total} bytes in all, at "
                                           f"{command!r} (raise haproxy.max_response_bytes)")


class TransportLimits(Protocol):
    """How long a connect and a whole answer may take, and how large an answer may be: a target's
    ``haproxy.*`` settings (exporter/config.py's TargetConfig, where their defaults are)."""

    @property
    def connect_timeout(self) -> float: ...

    @property
    def timeout(self) -> float: ...

    @property
    def max_response_bytes(self) -> int: ...


class Client(Protocol):
    """What the poll reads a target through: a :class:`RuntimeClient` per target, from the poll's
    connect (exporter/poll/process.py, make_client)."""

    def run(self, command: str, budget: Budget | None = None) -> Text: ...


@runtime_checkable
class StreamingClient(Client, Protocol):
    """A client that can also hold an answer that does not end open (:meth:`RuntimeClient.stream`),
    for a source that streams; the poll itself needs only :meth:`Client.run`."""

    def stream(self, command: str, before: tuple[str, ...] = ()) -> "Stream": ...


class RuntimeClient:
    """Sends one command per connection and returns HAProxy's answer without the closing blank line."""

    def __init__(self, address: Address, allowlist: Allowlist, limits: TransportLimits) -> None:
        self.address = address
        self.allowlist = allowlist
        self.limits = limits

    def run(self, command: str, budget: Budget | None = None) -> Answer:
        """Send one command (``@!<pid> `` in front routes it through a master CLI) and read the
        answer, counting its bytes against ``budget`` (the poll's; else this answer's alone)."""
        self.allowlist.check(command)
        if budget is None:
            budget = Budget(self.limits.max_response_bytes, per_answer=True)
        if budget.left() <= 0:
            raise budget.exceeded(command)  # not even sent: nothing of it could be read
        reader = _Reader(command, budget)
        self._exchange((command + "\n").encode(), reader)
        return reader.answer()

    def stream(self, command: str, before: tuple[str, ...] = ()) -> "Stream":
        """Send a command whose answer does not end (``show events <ring> -w -n``) and return its
        :class:`Stream`; the connect and the send are bounded by the target's timeouts, the
        stream's reads by nothing (an idle ring is silent for as long as nothing is logged).

        ``before``: commands whose answers end, chained ahead of it on the same line (``;``, which
        HAProxy 2.6 to 3.4 run in turn on one connection), read with :meth:`Stream.heads`: what
        only the stream's own connection can tell, such as the pid of the process serving it.
        Each is checked on its own, as it would be sent alone."""
        for part in (*before, command):
            self.allowlist.check(part)
            if "\\" in part:  # HAProxy's escape of ";": a chain of parts is read as it is checked
                raise CommandRefused(f"refusing to chain {part!r}: it holds a backslash")
        line = ";".join((*before, command))
        sock = self._connect()
        try:
            sock.settimeout(self.limits.timeout)
            sock.sendall((line + "\n").encode())  # not half-closed: any input ends HAProxy's wait
            sock.settimeout(None)
            if sock.family != socket.AF_UNIX:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)  # a peer gone silent is found
        except OSError as exc:
            sock.close()
            raise TransportError("io", f"sending {line!r} to {self.address} failed: {exc}") from None
        return Stream(sock, command, len(before))

    def _connect(self) -> socket.socket:
        sock = socket.socket(self.address.family, socket.SOCK_STREAM)
        sock.settimeout(self.limits.connect_timeout)
        try:
            sock.connect(self.address.target)
        except BaseException as exc:
            sock.close()
            raise _connect_error(exc, self.address) from None
        return sock

    def _exchange(self, payload: bytes, reader: _Reader) -> None:
        sock = self._connect()
        deadline = time.monotonic() + self.limits.timeout
        try:
            sock.settimeout(self.limits.timeout)
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise socket.timeout()
                sock.settimeout(remaining)
                chunk = sock.recv(BLOCK)
                if not chunk:
                    break
                reader.feed(chunk)
        except socket.timeout:
            raise TransportError(
                "timeout", f"no complete answer from {self.address} within {self.limits.timeout}s"
            ) from None
        except OSError as exc:
            raise TransportError("io", f"talking to {self.address} failed: {exc}") from None
        finally:
            sock.close()


class Stream:
    """One command's answer that does not end, read as it comes: ``show events <ring> -w -n``
    streams each log line HAProxy writes into the ring from then on.

    :meth:`batches` yields the complete lines of each read as one list (a log stream may bring a
    hundred thousand lines a second: one call per read, not per line), and ends when

    - :meth:`close` was called, from any thread (``end`` is ``"closed"``);
    - HAProxy ended it (``"ended"``): it closed the connection (a stop, a reload, an unknown ring
      on 2.6) or ended its answer with a blank line (a soft stop, ``Permission denied`` below
      operator level); a stream of log lines never holds a blank line, and HAProxy writes
      nothing after the one that ends its answer, so only the end of each read is looked at (a
      read is tens of kilobytes, and a search through all of it was a visible part of a log
      line's cost: BENCHMARKS.md); what a peer that is not HAProxy writes after a blank line is
      read as lines, which the log source rejects;
    - the socket failed (``"io"``).

    What HAProxy says when it refuses (``Permission denied``, ``No such event sink``) arrives as
    the stream's only line, like a log line would: so the ring and the level are checked with
    commands that end (``show events`` lists the rings; the level probe) before a stream is opened.

    The answers of the ``before`` commands chained ahead of the streamed one come first, each
    ending with its blank line: :meth:`heads` reads them, and :meth:`texts` starts after them
    (a blank line there would otherwise end the stream).  They are bounded by :data:`MAX_HEADS`
    bytes in all: more is no answer of a command that ends, and ends the stream with
    :class:`TransportError`.

    A line longer than :data:`~exporter.runtime.answer.MAX_LINE` is no line of HAProxy's (a
    ring's ``maxlen`` cuts its lines) and ends the stream with :class:`TransportError`, so what
    is held between reads stays bounded.  Unlike a whole answer, a stream's first bytes are not
    taken for an HTTP page: a syslog header starts with ``<``.
    """

    def __init__(self, sock: socket.socket, command: str, before: int = 0) -> None:
        self.command = command
        self.before = before
        self.end: str | None = None
        self.bytes_read = 0
        self._sock = sock
        self._closing = False
        self._reading = False
        self._early = b""  # what came with the last answer before the stream: the stream's first bytes

    def heads(self) -> list[str] | None:
        """The answers of the ``before`` commands, each without its blank line; None when the
        stream ended first (``end`` says how, and the socket is closed).  Read before :meth:`texts`."""
        self._reading = True
        data = b""
        answers: list[bytes] = []
        start = 0
        try:
            while len(answers) < self.before:
                if data.startswith(b"\n", start):  # a command with nothing to say answers a lone newline
                    answers.append(b"")
                    start += 1
                    continue
                blank = data.find(b"\n\n", start)
                if blank >= 0:
                    answers.append(data[start:blank + 1])
                    start = blank + 2
                    continue
                if len(data) > MAX_HEADS:
                    raise TransportError("unexpected_response", f"the answers before {self.command!r} went on for "
                                                                f"more than {MAX_HEADS} bytes: not HAProxy's")
                try:
                    chunk = self._sock.recv(BLOCK)
                except OSError:
                    chunk, self.end = b"", "closed" if self._closing else "io"
                if not chunk:
                    self.end = self.end or ("closed" if self._closing else "ended")
                    self._sock.close()
                    return None
                self.bytes_read += len(chunk)
                data += chunk
        except BaseException:
            self._sock.close()
            raise
        self._early = data[start:]
        return [answer.decode("utf-8", "replace") for answer in answers]

    def batches(self) -> Iterator[list[str]]:
        """The complete lines of each read, as a list per read (see :meth:`texts`)."""
        for text in self.texts():
            yield text[:-1].split("\n")

    def texts(self) -> Iterator[str]:
        """The complete lines of each read as one text, each line ending with its newline: what a
        reader that matches a whole block at once wants (exporter/sources/logs/tally.py), with no
        list of lines made and joined again."""
        self._reading = True
        decode = codecs.getincrementaldecoder("utf-8")(errors="replace").decode
        rest = ""
        try:
            while True:
                chunk, self._early = self._early, b""
                if not chunk:
                    try:
                        chunk = self._sock.recv(BLOCK)
                    except OSError:
                        self.end = "closed" if self._closing else "io"
                        return
                    if not chunk:
                        self.end = "closed" if self._closing else "ended"
                        return
                    self.bytes_read += len(chunk)
                text = rest + decode(chunk)
                cut = text.rfind("\n") + 1
                rest = text[cut:]
                if len(rest) > MAX_LINE:
                    raise TransportError("unexpected_response", f"{self.command!r} streamed a line of more than "
                                                                f"{MAX_LINE} characters: not HAProxy's output")
                if not cut:
                    continue
                # A blank line: HAProxy ended its answer, the stream is over (a stream of log
                # lines never holds one, and nothing follows the end of an answer: looking at
                # the end of what came, not through all of it, spares a scan of every byte).
                first = text.startswith("\n")
                ended = first or text.endswith("\n\n", 0, cut)
                whole = "" if first else text[:cut - 1] if ended else text[:cut]
                if whole:
                    yield whole
                if ended:
                    self.end = "ended"
                    return
        finally:
            self._sock.close()

    def close(self) -> None:
        """End the stream: a reader blocked in :meth:`batches` returns at once."""
        self._closing = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed by HAProxy, or by the reader
        if not self._reading:
            self._sock.close()


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


class _Reader:
    """One answer as it arrives: counted against the budget, checked, decoded a piece at a time
    and gathered into blocks of whole lines (runtime/answer.py), the bytes let go once decoded."""

    def __init__(self, command: str, budget: Budget) -> None:
        self.command = command
        self.budget = budget
        self.size = 0
        self.start = b""  # the first bytes: an HTTP server or a web page is told by them
        self.end = b""  # the last two bytes: the blank line that ends a complete answer
        self.blocks: list[str] = []
        self._decode = codecs.getincrementaldecoder("utf-8")(errors="replace").decode
        self._pieces: list[str] = []  # decoded text not yet in a block
        self._pending = 0  # its length

    def feed(self, chunk: bytes) -> None:
        self.budget.take(len(chunk), self.command)
        self.size += len(chunk)
        if len(self.start) < 5:
            self.start += chunk[:5]
            if self.start.startswith((b"HTTP/", b"<")):
                # An HTTP port or a web page: say so instead of calling it cut off or garbled.
                raise TransportError("not_haproxy", f"answer to {self.command!r} is HTTP/HTML, not the Runtime API")
        self.end = (self.end + chunk[-2:])[-2:]
        self._add(self._decode(chunk))

    def _add(self, text: str, final: bool = False) -> None:
        if text:
            self._pieces.append(text)
            self._pending += len(text)
        if self._pending < BLOCK and not final:
            return
        joined = "".join(self._pieces)
        cut = joined.rfind("\n") + 1
        if final or cut == len(joined):
            self.blocks.append(joined)
            self._pieces, self._pending = [], 0
            return
        if cut:
            self.blocks.append(joined[:cut])
        rest = joined[cut:]
        if len(rest) > MAX_LINE:
            raise TransportError("unexpected_response", f"answer to {self.command!r} has a line of more than "
                                                        f"{MAX_LINE} characters: not HAProxy's output")
        self._pieces, self._pending = [rest], len(rest)

    def answer(self) -> Answer:
        """The whole answer without the closing blank line, or :class:`TransportError`."""
        self._add(self._decode(b"", True), final=True)
        if self.size == 1 and self.end == b"\n":
            return Answer([])  # a command with nothing to say (e.g. no stick tables) answers a lone newline
        if not self.size:
            raise TransportError("empty", f"empty answer to {self.command!r}: connection closed without data")
        if self.end != b"\n\n":
            # Master CLI prompt mode or a cut stream: either way not a complete block.
            raise TransportError("truncated", f"answer to {self.command!r} was cut off (no closing blank line)")
        while self.blocks and not self.blocks[-1]:
            self.blocks.pop()
        self.blocks[-1] = self.blocks[-1][:-1]
        return Answer(self.blocks)
