"""HAProxy's log lines received as syslog datagrams: the second way in for the log source, beside a ring.

HAProxy sends each log line as one datagram to the target of its ``log`` line::

    log udp@127.0.0.1:5514 format rfc5424 local0        # 2.6 to 3.4; "log 127.0.0.1:5514 ..." is the same
    log /run/haproxy-exporter/log.sock format rfc3164 local0   # a UNIX datagram socket

with the header of its ``format`` (only ``rfc5424`` and ``rfc3164`` are read here: HAProxy's default,
``local``, is rfc3164 without the hostname, and its lines are not read), the message cut to the ``len``
of the ``log`` line (1024 bytes by default, the final newline included: a message HAProxy cut is
counted by the tally as ``truncated`` when its ``maxlen`` is that ``len`` less one) and a newline.

``logs.syslog`` in the config (:func:`parse_syslog_config`)::

    logs:
      syslog:
        listen: udp://127.0.0.1:5514     # or udp://[::1]:5514, or unix:///run/haproxy-exporter/log.sock
        format: rfc5424                  # the `format` of HAProxy's log line: rfc5424 or rfc3164
        allow: [127.0.0.1/32, ::1/128]   # UDP senders; a non-loopback listen address needs it written out
        max_datagram: 8192               # bytes; a longer datagram is counted as truncated, not read
        receive_buffer: 4194304          # SO_RCVBUF asked for (UDP)

A :class:`SyslogReceiver` binds the socket in a daemon thread of its own, sleeps in ``poll`` until a
datagram comes, then takes every datagram already queued without waiting (at most
:data:`BATCH_DATAGRAMS` or :data:`BATCH_BYTES`), one line each, and gives them to ``feed`` as one
block of lines: the tally matches a block in one call, so a burst costs one call, not one per line.

What each kind of socket lets the receiver count (Linux):

* UDP: a datagram the kernel could not queue because the receive buffer was full is lost before
  the receiver sees it; the kernel counts it on the socket (``sk_drops``), and the receiver reads
  that count as it goes, from the ``SO_RXQ_OVFL`` ancillary data of each datagram (the count when
  that datagram was queued: it tells of a loss only with the next datagram that arrives) and from
  ``SO_MEMINFO`` after every batch (the count now, Linux 4.12+): :attr:`SyslogReceiver.kernel_drops`.
  HAProxy's own send fails only when its socket's send buffer is full (rare on a loopback), counted
  by HAProxy (below).
* UNIX datagram socket: the kernel never drops a datagram on the receiving side.  The queue holds at
  most ``net.unix.max_dgram_qlen`` + 1 datagrams (a count, whatever their size and SO_RCVBUF; the
  kernel's default is 10, systemd sets 512), and beyond it the sender's ``sendmsg`` fails with
  EAGAIN: HAProxy sends without waiting and counts the line as dropped, in ``show info``'s
  ``DroppedLogs`` (promex: ``haproxy_process_dropped_logs_total``), its own count since it started.
  :attr:`SyslogReceiver.kernel_drops` stays 0 for such a socket; a short queue is said once in the log.

A datagram longer than ``max_datagram`` is cut by the kernel (``MSG_TRUNC``): counted in
:attr:`~SyslogReceiver.truncated` and not fed, as a half line would be counted as a line of another
shape.  A datagram from a UDP sender outside ``allow`` is counted in :attr:`~SyslogReceiver.refused`
and not fed: a syslog port takes datagrams from anyone who can reach it, and log lines make series.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import os
import select
import socket
import stat
import struct
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple, Union

from exporter.validation import ConfigError, Keys, positive_int, shown

log = logging.getLogger("exporter.logs")

FORMATS = ("rfc5424", "rfc3164")  # the `format` of HAProxy's log line that the tally reads (format.RING_HEADERS)
DEFAULT_LISTEN = "udp://127.0.0.1:5514"
LOOPBACK = ("127.0.0.1/32", "::1/128")
MIN_DATAGRAM, MAX_DATAGRAM = 80, 65535  # HAProxy's `len` takes 80 to 65535
MIN_BUFFER, MAX_BUFFER = 4096, 1 << 30
UNIX_PATH_MAX = 107  # sun_path holds 108 bytes with the final NUL; the socket is first bound as PATH~ (one more)
SOCKET_MODE = 0o660

# What one block fed to the tally holds at most: the memory of a burst is bounded, and the tally's
# lock is held for one block at a time.
BATCH_DATAGRAMS = 512
BATCH_BYTES = 256 * 1024
# Before each new attempt to bind while they keep failing.
PAUSES = (0.1, 1.0, 2.0, 5.0, 10.0, 30.0)
# Senders whose verdict is remembered (one dict lookup per datagram); the dict starts over when full.
_VERDICTS = 1024
_SHORT_UNIX_QUEUE = 128  # net.unix.max_dgram_qlen below this is said in the log

# Linux's values; Python's socket module names neither (asm-generic/socket.h, the same on x86 and arm).
SO_RXQ_OVFL = getattr(socket, "SO_RXQ_OVFL", 40)
SO_MEMINFO = getattr(socket, "SO_MEMINFO", 55)
_MEMINFO = struct.Struct("9I")  # SK_MEMINFO_*: ..., SK_MEMINFO_DROPS last
_U32 = struct.Struct("I")
_ANCILLARY = socket.CMSG_SPACE(_U32.size)

_KEYS = Keys(("listen", "format", "allow", "max_datagram", "receive_buffer"),
             shape="a mapping like {listen: udp://127.0.0.1:5514, format: rfc5424}")

_Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]
_Address = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]


@dataclass(frozen=True)
class SyslogConfig:
    listen: str = DEFAULT_LISTEN  # udp://HOST:PORT, udp://[V6]:PORT or unix:///PATH (created mode 0660, removed on close)
    format: str = "rfc5424"  # the header HAProxy writes with `format` on its `log` line
    allow: tuple[str, ...] = LOOPBACK  # UDP senders (addresses or CIDR networks)
    max_datagram: int = 8192  # bytes; a longer datagram is cut by the kernel: counted as truncated, not read
    receive_buffer: int = 4 << 20  # SO_RCVBUF asked for


class Listen(NamedTuple):
    """Where a ``listen`` value says to receive: a UDP (host, port) or a UNIX socket's path."""

    family: int  # AF_INET, AF_INET6 or AF_UNIX
    target: Any  # (host, port) or the path
    loopback: bool

    @property
    def udp(self) -> bool:
        return self.family != socket.AF_UNIX


def parse_listen(text: str) -> Listen:
    """``udp://127.0.0.1:5514``, ``udp://[::1]:5514``, ``unix:///path``; ValueError says what is wrong."""
    scheme, sep, rest = text.partition("://")
    if not sep or scheme not in ("udp", "unix"):
        raise ValueError("expected udp://HOST:PORT, udp://[IPV6]:PORT or unix:///PATH")
    if scheme == "unix":
        if not rest.startswith("/"):
            raise ValueError("expected an absolute path after unix:// (unix:///run/haproxy-exporter/log.sock)")
        if "\0" in rest or len(rest.encode("utf-8", "surrogateescape")) > UNIX_PATH_MAX - 1:
            raise ValueError(f"a UNIX socket's path has at most {UNIX_PATH_MAX - 1} bytes here")
        if rest.endswith("/"):
            raise ValueError("expected the path of the socket file, not a directory")
        return Listen(socket.AF_UNIX, rest, True)
    if rest.startswith("["):
        host, bracket, port = rest[1:].partition("]")
        if not bracket or not port.startswith(":"):
            raise ValueError("expected udp://[IPV6]:PORT")
        port = port[1:]
    else:
        host, colon, port = rest.rpartition(":")
        if not colon or ":" in host:
            raise ValueError("expected udp://HOST:PORT (an IPv6 address in brackets)")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError("expected an IP address (names are not resolved)") from None
    if not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        raise ValueError("expected a port from 1 to 65535")
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    return Listen(family, (str(address), int(port)), address.is_loopback)


def _listen(value: Any, allow_given: bool) -> str:
    if value is None:
        return DEFAULT_LISTEN
    if not isinstance(value, str) or not value:
        raise ConfigError(f"logs.syslog.listen: expected udp://HOST:PORT or unix:///PATH, got {shown(value)}")
    try:
        where = parse_listen(value)
    except ValueError as exc:
        raise ConfigError(f"logs.syslog.listen: {exc}, got {shown(value)}") from None
    if where.udp and not where.loopback and not allow_given:
        raise ConfigError(f"logs.syslog.listen: {value} is not a loopback address, where anyone who reaches the "
                          "port could send log lines: give logs.syslog.allow, the senders to accept (addresses or "
                          "networks like 10.0.0.0/24), to listen there")
    return value


def _format(value: Any) -> str:
    if value is None:
        return SyslogConfig.format
    if value not in FORMATS:
        raise ConfigError(f"logs.syslog.format: expected the format of HAProxy's log line, rfc5424 or rfc3164 "
                          f"(write it on the log line: HAProxy's default, local, is not read), got {shown(value)}")
    return str(value)


def _allow(value: Any, listen: str) -> tuple[str, ...]:
    if value is None:
        return LOOPBACK
    if listen.startswith("unix:"):
        raise ConfigError("logs.syslog.allow: only for a UDP listen address (a UNIX socket's senders are whoever "
                          "may write to its file, mode 0660)")
    if not isinstance(value, list) or not value:
        raise ConfigError(f"logs.syslog.allow: expected a list of addresses or networks like [127.0.0.1, "
                          f"10.0.0.0/24], got {shown(value)}")
    if len(value) > 1024:
        raise ConfigError(f"logs.syslog.allow: at most 1024 networks, got {len(value)}")
    networks = []
    for at, item in enumerate(value):
        if not isinstance(item, str):
            raise ConfigError(f"logs.syslog.allow[{at}]: expected an address or a network like 10.0.0.0/24, "
                              f"got {shown(item)}")
        try:
            networks.append(str(ipaddress.ip_network(item.strip(), strict=True)))
        except ValueError as exc:
            raise ConfigError(f"logs.syslog.allow[{at}]: {exc}") from None
    return tuple(networks)


def _bounded(key: str, value: Any, default: int, least: int, most: int) -> int:
    if value is None:
        return default
    number = positive_int(key, value, most)
    if number < least:
        raise ConfigError(f"{key}: must be at least {least:,}, got {shown(value)}")
    return number


def parse_syslog_config(value: Any) -> SyslogConfig:
    """The value of ``logs.syslog`` → SyslogConfig; null or ``{}``: every default (loopback UDP, port 5514)."""
    checked = _KEYS.check("logs.syslog", {} if value is None else value)
    allow_given = checked.get("allow") is not None
    listen = _listen(checked.get("listen"), allow_given)
    return SyslogConfig(
        listen=listen,
        format=_format(checked.get("format")),
        allow=_allow(checked.get("allow"), listen),
        max_datagram=_bounded("logs.syslog.max_datagram", checked.get("max_datagram"), SyslogConfig.max_datagram,
                              MIN_DATAGRAM, MAX_DATAGRAM),
        receive_buffer=_bounded("logs.syslog.receive_buffer", checked.get("receive_buffer"),
                                SyslogConfig.receive_buffer, MIN_BUFFER, MAX_BUFFER),
    )


class _Unbound(Exception):
    """The socket could not be made: the reason, said once in the log."""


class SyslogReceiver:
    """Receives one ``listen`` address's datagrams in a thread of its own, fed to ``feed`` in blocks of
    whole lines.  The counts are plain ints and a Counter, written by the thread only, read by the poll."""

    def __init__(self, config: SyslogConfig, feed: Callable[[str], None], where: str = "",
                 pauses: tuple[float, ...] = PAUSES) -> None:
        self.config = config
        self.feed = feed
        self.where = where
        self.pauses = pauses
        self.listen = parse_listen(config.listen)
        self.networks: tuple[_Network, ...] = tuple(ipaddress.ip_network(n) for n in config.allow)
        self.up = False
        self.datagrams = 0  # every datagram received, the truncated and refused ones too
        self.truncated = 0
        self.refused = 0
        self.kernel_drops = 0
        self.failures: Counter[str] = Counter()  # bind, io, internal_error
        self.granted = 0  # the receive buffer the kernel gave (Linux doubles what is asked, up to net.core.rmem_max)
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._wake: tuple[int, int] | None = None  # a pipe whose read end wakes the thread's poll
        self._thread: threading.Thread | None = None
        self._verdicts: dict[Any, bool] = {}
        self._drops_seen = 0  # the kernel's last count (a u32 that wraps)
        self._socket_file: tuple[int, int] | None = None  # (st_dev, st_ino) of the UNIX socket file this made
        self._last_reason: str | None = None
        self._said: set[str] = set()

    # ------------------------------------------------------------------ the source's side

    def start(self) -> None:
        """Bind and receive in a daemon thread; a failure to bind is counted and tried again, never raised."""
        with self._lock:
            if self._thread is not None or self._stopped.is_set():
                return
            read_end, write_end = os.pipe()
            os.set_blocking(write_end, False)
            self._wake = (read_end, write_end)
            self._thread = threading.Thread(target=self._run, name=f"syslog {self.where}".strip(), daemon=True)
            self._thread.start()

    def close(self, wait: float = 5.0) -> None:
        """Stop at once (the thread's poll is woken), join the thread, remove the UNIX socket file."""
        self._stopped.set()
        with self._lock:
            wake, thread = self._wake, self._thread
        if wake is not None:
            try:
                os.write(wake[1], b"x")
            except OSError:  # already written (full is impossible: one byte), or closed by an earlier close
                pass
        if thread is not None and thread is not threading.current_thread():
            thread.join(wait)
            if thread.is_alive():  # pragma: no cover - only inside a feed that does not return
                log.warning("%ssyslog receiver: its thread did not end within %.1f s", self.where, wait)
                return
        with self._lock:
            self._remove_socket_file()
            if self._wake is not None:
                for fd in self._wake:
                    os.close(fd)
                self._wake = None

    # ------------------------------------------------------------------ the thread

    def _run(self) -> None:
        attempt = 0
        while not self._stopped.is_set():
            try:
                sock = self._bind()
            except _Unbound as exc:
                self.failures["bind"] += 1
                self._note("bind", f"cannot listen on {self.config.listen}: {exc}; trying again")
                self._stopped.wait(self.pauses[min(attempt, len(self.pauses) - 1)])
                attempt += 1
                continue
            if self._last_reason is not None:
                log.info("%ssyslog receiver: listening on %s again", self.where, self.config.listen)
                self._last_reason = None
            attempt = 0
            self.up = True
            error: OSError | None = None
            try:
                self._serve(sock)
            except OSError as exc:  # the socket failed (it does not on Linux but for lack of memory)
                error = exc
            finally:
                self.up = False
                sock.close()
                with self._lock:
                    self._remove_socket_file()
            if error is not None:  # counted once the socket is gone: a new one is made after a pause
                self.failures["io"] += 1
                self._note("io", f"receiving on {self.config.listen} failed: {error}; listening again")
                self._stopped.wait(self.pauses[0])

    def _serve(self, sock: socket.socket) -> None:
        """Wait for datagrams, feed each batch; returns once stopped."""
        wake = self._wake
        assert wake is not None
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN)
        poller.register(wake[0], select.POLLIN)
        udp = self.listen.udp
        while not self._stopped.is_set():
            poller.poll()
            if self._stopped.is_set():
                return
            text = self._drain(sock)
            if udp:
                self._meminfo(sock)
            if text:
                try:
                    self.feed(text)
                except Exception:
                    self.failures["internal_error"] += 1
                    if "internal_error" not in self._said:
                        self._said.add("internal_error")
                        log.exception("%ssyslog receiver: counting a block of log lines failed (this once in the "
                                      "log; later ones are counted)", self.where)

    def _drain(self, sock: socket.socket) -> str:
        """The datagrams queued now, one line each, as one text (empty when none was a line to read)."""
        recvmsg = sock.recvmsg
        size = self.config.max_datagram
        ancillary = _ANCILLARY if self.listen.udp else 0
        check = self.listen.udp
        lines: list[bytes] = []
        total = 0
        for _ in range(BATCH_DATAGRAMS):
            try:
                data, anc, flags, sender = recvmsg(size, ancillary)
            except BlockingIOError:
                break
            self.datagrams += 1
            if anc:
                self._overflow(anc)
            if check and not self._allowed(sender):
                self.refused += 1
                continue
            if flags & socket.MSG_TRUNC:
                self.truncated += 1
                self._once("truncated", f"a datagram longer than max_datagram ({size} bytes) was cut by the kernel: "
                                        "counted as truncated, not read (raise logs.syslog.max_datagram to at least "
                                        "the len of HAProxy's log line)")
                continue
            data = data.rstrip(b"\r\n\0")
            if not data:
                continue
            if b"\n" in data:
                data = data.replace(b"\n", b" ")  # one datagram, one line
            lines.append(data)
            total += len(data)
            if total >= BATCH_BYTES:
                break
        if not lines:
            return ""
        lines.append(b"")
        return b"\n".join(lines).decode("utf-8", "replace")

    def _allowed(self, sender: Any) -> bool:
        host = sender[0] if isinstance(sender, tuple) and sender else None
        verdict = self._verdicts.get(host)
        if verdict is None:
            verdict = self._judge(host)
            if len(self._verdicts) >= _VERDICTS:
                self._verdicts.clear()
            self._verdicts[host] = verdict
            if not verdict:
                self._once("refused", f"a datagram from {host}, not in logs.syslog.allow, was refused (counted; "
                                      "later ones are counted only)")
        return verdict

    def _judge(self, host: str | None) -> bool:
        if host is None:
            return False
        try:
            address: _Address = ipaddress.ip_address(host)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # a dual-stack socket's IPv4 sender
        return any(address in network for network in self.networks)

    def _overflow(self, anc: list[tuple[int, int, bytes]]) -> None:
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == SO_RXQ_OVFL and len(data) >= _U32.size:
                self._drops(_U32.unpack_from(data)[0])

    def _meminfo(self, sock: socket.socket) -> None:
        try:
            info = sock.getsockopt(socket.SOL_SOCKET, SO_MEMINFO, _MEMINFO.size)
        except OSError:  # before Linux 4.12: SO_RXQ_OVFL's counts only
            return
        if len(info) >= _MEMINFO.size:
            self._drops(_MEMINFO.unpack_from(info)[8])

    def _drops(self, count: int) -> None:
        """The kernel's count of the socket's drops (a u32 since the socket was made): what it grew by."""
        grown = (count - self._drops_seen) & 0xFFFFFFFF
        if 0 < grown < 1 << 31:  # an older datagram's count is behind the last read: not a wrap
            self._drops_seen = count
            self.kernel_drops += grown
            self._once("kernel_drops", f"the kernel dropped datagrams on {self.config.listen}, its receive buffer "
                                       f"({self.granted} bytes) full (counted; raise logs.syslog.receive_buffer and "
                                       "net.core.rmem_max)")

    # ------------------------------------------------------------------ the socket

    def _bind(self) -> socket.socket:
        listen = self.listen
        try:
            sock = socket.socket(listen.family, socket.SOCK_DGRAM)
        except OSError as exc:
            raise _Unbound(_strerror(exc)) from None
        try:
            if listen.udp:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.config.receive_buffer)
                try:
                    sock.setsockopt(socket.SOL_SOCKET, SO_RXQ_OVFL, 1)
                except OSError:  # pragma: no cover - not Linux: the drops are not seen
                    pass
                sock.bind(listen.target)
            else:
                self._bind_unix(sock, listen.target)
            sock.setblocking(False)
            self.granted = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        except (OSError, _Unbound) as exc:
            sock.close()
            raise _Unbound(_strerror(exc) if isinstance(exc, OSError) else str(exc)) from None
        self._said_once_bound()
        self._drops_seen = 0
        return sock

    def _bind_unix(self, sock: socket.socket, path: str) -> None:
        """Bound as PATH~, made mode 0660, then renamed to PATH: no moment at which the file is open to
        more than its group.  A socket file nobody receives on (left by an exporter that died) is
        replaced; anything else at the path is left as it is, and the bind fails."""
        temporary = path + "~"
        for name in (temporary, path):
            try:
                found = os.lstat(name)
            except FileNotFoundError:
                continue
            if not stat.S_ISSOCK(found.st_mode):
                raise _Unbound(f"{name} exists and is not a socket")
            if name == path and _receiving(path):
                raise _Unbound(f"another process receives on {path}")
            if name == temporary:
                os.unlink(temporary)
        sock.bind(temporary)
        try:
            os.chmod(temporary, SOCKET_MODE)
            os.rename(temporary, path)
            made = os.stat(path)
        except OSError:
            _unlink(temporary)
            raise
        with self._lock:
            self._socket_file = (made.st_dev, made.st_ino)

    def _remove_socket_file(self) -> None:
        """The UNIX socket file this receiver made, if it is still the one at the path (the lock is held)."""
        made, self._socket_file = self._socket_file, None
        if made is None or self.listen.udp:
            return
        path = self.listen.target
        try:
            found = os.lstat(path)
        except OSError:
            return
        if (found.st_dev, found.st_ino) == made:
            _unlink(path)

    def _said_once_bound(self) -> None:
        if "bound" in self._said:
            return
        self._said.add("bound")
        listen = self.listen
        if listen.udp:
            if self.granted < 2 * self.config.receive_buffer:
                log.warning("%ssyslog receiver: the kernel gave %d bytes of receive buffer, not the %d asked "
                            "(logs.syslog.receive_buffer, doubled by Linux): raise net.core.rmem_max, or a burst of "
                            "log lines is dropped sooner", self.where, self.granted // 2, self.config.receive_buffer)
            return
        queue = _unix_queue()
        if queue is not None and queue < _SHORT_UNIX_QUEUE:
            log.warning("%ssyslog receiver: net.unix.max_dgram_qlen is %d: HAProxy drops a log line (its DroppedLogs) "
                        "whenever %d are queued on %s; raise it (sysctl net.unix.max_dgram_qlen=512) before the "
                        "exporter starts", self.where, queue, queue + 1, listen.target)

    # ------------------------------------------------------------------ the log

    def _note(self, reason: str, message: str) -> None:
        if reason != self._last_reason:
            self._last_reason = reason
            log.warning("%ssyslog receiver: %s", self.where, message)

    def _once(self, what: str, message: str) -> None:
        if what not in self._said:
            self._said.add(what)
            log.warning("%ssyslog receiver: %s", self.where, message)


def _receiving(path: str) -> bool:
    """Whether a socket receives at ``path`` (a datagram socket connects to a bound one only)."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        probe.connect(path)
    except ConnectionRefusedError:
        return False
    except OSError:
        return True  # cannot tell (no permission): not ours to replace
    finally:
        probe.close()
    return True


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _unix_queue() -> int | None:
    try:
        with open("/proc/sys/net/unix/max_dgram_qlen") as fh:
            return int(fh.read().strip())
    except (OSError, ValueError):
        return None


def _strerror(exc: OSError) -> str:
    if exc.errno is not None and exc.strerror:
        return f"{exc.strerror} ({errno.errorcode.get(exc.errno, exc.errno)})"
    return str(exc)
