"""``--web.systemd-socket``: serve on the listening sockets systemd hands over (socket activation).

The protocol is sd_listen_fds(3)'s: ``LISTEN_PID`` is the process the sockets are for,
``LISTEN_FDS`` how many there are, from descriptor 3 on.  As the exporter-toolkit does (through
go-systemd's ``activation.Listeners``), the variables are removed once read, so that nothing the
exporter starts takes the sockets for its own, and having none is an error ("no socket activation
file descriptors found"), not a fallback to binding ``web.listen_address``.

Only listening stream sockets are taken (``ListenStream=``, TCP or UNIX); ``Accept=yes`` (one
connected socket per connection) and datagram sockets are refused with the descriptor named.
"""

from __future__ import annotations

import os
import socket
from typing import MutableMapping

LISTEN_FDS_START = 3  # SD_LISTEN_FDS_START
MAX_FDS = 64  # far more sockets than a unit gives one service
VARIABLES = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")
NONE_FOUND = "no socket activation file descriptors found"


class ActivationError(Exception):
    """The sockets cannot be taken; the message is one line saying why."""


def systemd_sockets(environ: MutableMapping[str, str] | None = None, pid: int | None = None) -> list[socket.socket]:
    """The listening sockets passed to this process, non-blocking and not inherited by children."""
    env = os.environ if environ is None else environ
    pid = os.getpid() if pid is None else pid
    listen_pid, listen_fds = env.get("LISTEN_PID"), env.get("LISTEN_FDS")
    for name in VARIABLES:
        env.pop(name, None)
    if not listen_pid or not listen_fds:
        raise ActivationError(f"{NONE_FOUND} (LISTEN_FDS and LISTEN_PID are not set: start the exporter from "
                              "a .socket unit, or without --web.systemd-socket)")
    if listen_pid.strip() != str(pid):
        raise ActivationError(f"{NONE_FOUND} for this process: LISTEN_PID is {listen_pid[:20]!r}, this process "
                              f"is {pid}")
    count = int(listen_fds) if listen_fds.strip().isdigit() and len(listen_fds) < 6 else -1
    if count < 1:
        raise ActivationError(f"{NONE_FOUND} (LISTEN_FDS is {listen_fds[:20]!r})")
    if count > MAX_FDS:
        raise ActivationError(f"LISTEN_FDS is {count}: at most {MAX_FDS} sockets are taken")
    sockets: list[socket.socket] = []
    try:
        for fd in range(LISTEN_FDS_START, LISTEN_FDS_START + count):
            sockets.append(_take(fd))
    except ActivationError:
        for sock in sockets:
            sock.detach()  # the descriptors stay systemd's to close
        raise
    return sockets


def _take(fd: int) -> socket.socket:
    try:
        sock = socket.socket(fileno=fd)
    except OSError as exc:
        raise ActivationError(f"descriptor {fd} of LISTEN_FDS is not a socket: {exc.strerror or exc}") from None
    try:
        if sock.type != socket.SOCK_STREAM:
            raise ActivationError(f"descriptor {fd} of LISTEN_FDS is not a stream socket (ListenStream= is needed)")
        if sock.family not in (socket.AF_INET, socket.AF_INET6, socket.AF_UNIX):
            raise ActivationError(f"descriptor {fd} of LISTEN_FDS is of address family {sock.family!r}, "
                                  "not TCP or a UNIX socket")
        if not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
            raise ActivationError(f"descriptor {fd} of LISTEN_FDS is not listening (Accept=yes hands over "
                                  "connections; the exporter needs Accept=no)")
        os.set_inheritable(fd, False)
        sock.setblocking(False)
    except ActivationError:
        sock.detach()
        raise
    return sock
