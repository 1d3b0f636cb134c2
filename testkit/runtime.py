"""The Runtime API the simplest way (what socat does), independent of ``exporter.runtime``: tests
compare the exporter with what HAProxy itself says, not with the exporter's own plumbing."""

from __future__ import annotations

import socket
from typing import Sequence


def raw_bytes(target: str | tuple[str, int], command: bytes, timeout: float = 5.0) -> bytes:
    """Send one command line as bytes (a key's raw bytes; several commands joined by ';') and
    return the whole answer as HAProxy wrote it."""
    family = socket.AF_UNIX if isinstance(target, str) else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(target)
        sock.sendall(command + b"\n")
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(1 << 20):
            chunks.append(chunk)
    return b"".join(chunks)


def raw_command(target: str | tuple[str, int], command: str, timeout: float = 5.0) -> str:
    """:func:`raw_bytes` for a text command and answer."""
    return raw_bytes(target, command.encode(), timeout).decode()


def answers(target: str | tuple[str, int], timeout: float = 1.0) -> bool:
    """Whether HAProxy's CLI there answers ``show info`` (it is up and its socket open)."""
    try:
        return raw_command(target, "show info", timeout).startswith("Name:")
    except OSError:
        return False


def pipelined(target: str | tuple[str, int], commands: Sequence[str], batch: int, timeout: float = 60.0) -> None:
    """Commands that answer nothing when they succeed (``set table``, ``set server``), ``batch`` of
    them joined by ';' on each connection: a whole line must fit in HAProxy's CLI buffer (16 kB;
    less room on 3.x than on 2.6).  Any answer is a refusal: RuntimeError with its start."""
    for start in range(0, len(commands), batch):
        answer = raw_command(target, ";".join(commands[start:start + batch]), timeout).strip()
        if answer:
            raise RuntimeError(f"HAProxy answered {answer[:200]!r} to the commands from {commands[start]!r}")
