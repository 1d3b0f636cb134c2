"""What the reader's process (child.py) and the exporter's (process.py) say to each other.

The child writes frames to its stdout: a 4-byte length, then a ``marshal``-ed tuple whose first
item says what it is (:data:`LOG`, :data:`UP`, ...).  ``marshal`` because the frames hold only
tuples, lists, strings and integers, and it reads them back faster than ``pickle``; the child is
the exporter's own program, not a peer to be wary of.  Pending counts go in parts of at most
:data:`CHUNK` entries: reading one back is one C call that holds the parent's interpreter lock
(0.2 ms for 2,000 entries of three names on this machine), and the poll and the scrapes must not
wait behind it for long.  The last part of one moment's counts (:data:`WAITING`) carries the
lines counted and tells the parent to fold them.

The parent writes to the child's stdin: first one frame with the setup (``pickle``: the config is
a dataclass), then commands, each a line (:func:`renew`, :data:`STOP`; :class:`Commands` reads
them back): a renew carries the pid the poll saw, which only the child can hold against the pid of
the process serving its stream.  Its stdin ending means the parent is gone.
"""

from __future__ import annotations

import marshal
import os
import pickle
import struct
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from exporter.runtime.address import Address
from exporter.runtime.client import Allowlist
from exporter.sources.logs.config import LogsConfig
from exporter.sources.logs.counting import Pending, Series, Values, Waiting, merge, normalize
from exporter.sources.logs.tally import FOLD_EVERY

LOG, UP, NOTE, COUNT, RESUMED, OUTCOMES, SERIES, WAITING = "log", "up", "note", "count", "resumed", "o", "s", "w"
RENEW, STOP = b"r", b"s\n"  # a renew's line: b"r<pid>\n" (no pid: open the stream again in any case)
MAX_COMMAND = 64  # a longer line is no command of the parent's
CHUNK = 2000  # outcomes per frame
SERIES_CHUNK = 500  # binned series per frame (each holds a count per bucket: 0.2 ms to read back)
MAX_FRAME = 64 << 20  # a frame longer than this is no frame of the child's: the pipe is out of step
_LENGTH = struct.Struct("!I")


@dataclass(frozen=True)
class Setup:
    """What the exporter tells its reader: where to read, what, and how to count it."""

    address: Address
    allowlist: Allowlist  # the exporter's: the child may send nothing the exporter would not
    connect_timeout: float
    timeout: float
    max_response_bytes: int
    command: str
    config: LogsConfig
    parent: int  # the exporter's pid: if it is not this process's parent any more, it is gone
    fold_every: float = FOLD_EVERY


def frame(message: tuple[Any, ...]) -> bytes:
    body = marshal.dumps(message)
    return _LENGTH.pack(len(body)) + body


def frames(pending: Pending, values: Values, tls: bool,
           held: dict[str, dict[tuple[str, ...], Series]] | None = None) -> Iterator[bytes]:
    """One moment's pending counts as frames: the outcomes, read (:func:`normalize`; ``tls``: the
    format's frontend is %ft, which may end with "~"), then each timer's times binned per
    (backend[, server]) pair (:meth:`Values.bin`, so that the exporter's process folds one entry
    per pair), at most :data:`CHUNK` entries a frame; the last one :data:`WAITING` (the lines,
    drops and rejected lines counted with them).  ``held``: series binned already this moment
    (the reader's process bins its times when they are many, :class:`~.child.Counts`), sent with
    the rest."""
    waiting = pending.waiting
    outcomes = list(normalize(pending.outcomes, tls, waiting.unexported).items())
    for at in range(0, len(outcomes), CHUNK):
        yield frame((OUTCOMES, outcomes[at:at + CHUNK]))
    for timer, counts in pending.timers.items():
        found = values.bin(counts, waiting.unexported)
        if held and held.get(timer):
            merge(held[timer], found)
            found = held[timer]
        binned = [(pair, *series) for pair, series in found.items()]
        for at in range(0, len(binned), SERIES_CHUNK):
            yield frame((SERIES, timer, binned[at:at + SERIES_CHUNK]))
    yield frame((WAITING, waiting.lines, waiting.dropped, list(waiting.rejected.items()),
                 list(waiting.unexported.items())))


def series_of(message: tuple[Any, ...]) -> list[tuple[tuple[str, ...], Series]]:
    """A :data:`SERIES` frame's pairs and their binned times."""
    return [(entry[0], (entry[1], entry[2], entry[3], entry[4])) for entry in message[2]]


def waiting_of(message: tuple[Any, ...]) -> Waiting:
    _, lines, dropped, rejected, unexported = message
    return Waiting(lines, dropped, Counter(dict(rejected)), Counter(dict(unexported)))


def renew(pid: str | None) -> bytes:
    """The command to open the stream again unless it is served by ``pid`` (a string of digits,
    as show info's ``Pid``; anything else, or None, asks for it in any case)."""
    return RENEW + (pid.encode() if pid is not None and pid.isdigit() and len(pid) < 20 else b"") + b"\n"


class Commands:
    """The parent's commands from the bytes of the child's stdin, as they come in any pieces:
    ``(RENEW, pid or None)`` and ``(STOP, None)``; a line that is none of them is skipped."""

    def __init__(self) -> None:
        self._rest = b""

    def feed(self, data: bytes) -> list[tuple[bytes, str | None]]:
        lines = (self._rest + data).split(b"\n")
        self._rest = lines.pop()
        if len(self._rest) > MAX_COMMAND:
            self._rest = b""
        found: list[tuple[bytes, str | None]] = []
        for line in lines:
            if line == STOP[:-1]:
                found.append((STOP, None))
            elif line.startswith(RENEW) and (line[1:].isdigit() or len(line) == 1):
                found.append((RENEW, line[1:].decode() or None))
        return found


def read_frame(read: Callable[[int], bytes]) -> tuple[Any, ...] | None:
    """The next frame's message, None at the end of the pipe (the child ended)."""
    head = _exactly(read, _LENGTH.size)
    if head is None:
        return None
    (size,) = _LENGTH.unpack(head)
    if size > MAX_FRAME:
        raise ValueError(f"a frame of {size} bytes: the pipe is out of step")
    body = _exactly(read, size)
    if body is None:
        return None
    message = marshal.loads(body)
    if not isinstance(message, tuple) or not message:
        raise ValueError(f"not a message: {type(message).__name__}")
    return message


def setup_frame(setup: object) -> bytes:
    body = pickle.dumps(setup)
    return _LENGTH.pack(len(body)) + body


def read_setup(fd: int) -> Any:
    """The setup the parent wrote first on the child's stdin; None if its stdin ended first."""
    def read(n: int) -> bytes:
        return os.read(fd, n)

    head = _exactly(read, _LENGTH.size)
    if head is None:
        return None
    (size,) = _LENGTH.unpack(head)
    body = _exactly(read, min(size, MAX_FRAME))
    return None if body is None else pickle.loads(body)


def _exactly(read: Callable[[int], bytes], size: int) -> bytes | None:
    parts: list[bytes] = []
    left = size
    while left:
        part = read(left)
        if not part:
            return None
        parts.append(part)
        left -= len(part)
    return b"".join(parts)
