"""Parse stats-socket addresses written the way HAProxy's own ``stats socket`` line writes them.

Operators copy the address from haproxy.cfg, so we accept exactly that vocabulary instead of
inventing URLs: ``/run/haproxy/admin.sock``, ``unix@/path``, ``ipv4@127.0.0.1:9999``,
``ipv6@[::1]:9999`` and plain ``host:port``.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass


class AddressError(ValueError):
    """The address text cannot name a stats socket."""


@dataclass(frozen=True)
class Address:
    """A parsed address, and ``text``: the address as it was written (the config, a flag), what
    logs and the landing page show; ``str()`` is its canonical form, in the client's errors."""

    family: int  # socket.AF_UNIX / AF_INET / AF_INET6
    target: str | tuple[str, int]
    text: str

    def __str__(self) -> str:
        if self.family == socket.AF_UNIX:
            return f"unix@{self.target}"
        assert isinstance(self.target, tuple)
        host, port = self.target
        if self.family == socket.AF_INET6:
            return f"ipv6@[{host}]:{port}"
        return f"ipv4@{host}:{port}"


def _port(text: str, whole: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise AddressError(f"bad port {text!r} in {whole!r}")
    return int(text)


def _host_port(text: str, whole: str) -> tuple[str, int]:
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise AddressError(f"expected [ipv6]:port in {whole!r}")
        return host, _port(rest[1:], whole)
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise AddressError(f"expected host:port in {whole!r}")
    return host, _port(port, whole)


def parse_address(text: str) -> Address:
    """Turn an address string into an :class:`Address`, or raise :class:`AddressError`."""
    whole = text
    text = text.strip()
    if not text:
        raise AddressError("empty address")
    prefix, sep, rest = text.partition("@")
    if sep and prefix in ("unix", "abns"):
        if not rest:
            raise AddressError(f"missing path in {whole!r}")
        # abns@ is Linux's abstract namespace: a leading NUL byte.
        return Address(socket.AF_UNIX, rest if prefix == "unix" else "\0" + rest, whole)
    if sep and prefix == "ipv4":
        host, port = _host_port(rest, whole)
        _check_ip(socket.AF_INET, host, whole)
        return Address(socket.AF_INET, (host, port), whole)
    if sep and prefix == "ipv6":
        host, port = _host_port(rest, whole)
        _check_ip(socket.AF_INET6, host, whole)
        return Address(socket.AF_INET6, (host, port), whole)
    if sep:
        raise AddressError(f"unknown address prefix {prefix + '@'!r} in {whole!r}")
    if text.startswith("/") or text.startswith("./") or text.endswith(".sock"):
        return Address(socket.AF_UNIX, text, whole)
    host, port = _host_port(text, whole)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return Address(family, (host, port), whole)


def _check_ip(family: int, host: str, whole: str) -> None:
    try:
        socket.inet_pton(family, host)
    except OSError:
        raise AddressError(f"{host!r} is not an IP address in {whole!r}") from None
