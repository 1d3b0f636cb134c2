"""--web.systemd-socket: what is taken from systemd's environment and descriptors, and what is refused.

The whole path with real sockets passed by ``systemd-socket-activate`` is in
tests/integration/test_cli_conventions.py; here each refusal, on sockets made in the test (a
second socket object on the same descriptor, detached after, so the test's own closes it once).
"""

from __future__ import annotations

import fcntl
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from exporter.web.activation import NONE_FOUND, ActivationError, _take, systemd_sockets

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("env,problem", [
    ({}, f"{NONE_FOUND} (LISTEN_FDS and LISTEN_PID are not set"),
    ({"LISTEN_FDS": "1"}, f"{NONE_FOUND} (LISTEN_FDS and LISTEN_PID are not set"),
    ({"LISTEN_FDS": "1", "LISTEN_PID": "1"}, f"{NONE_FOUND} for this process: LISTEN_PID is '1', this process is 4242"),
    ({"LISTEN_FDS": "0", "LISTEN_PID": "4242"}, f"{NONE_FOUND} (LISTEN_FDS is '0')"),
    ({"LISTEN_FDS": "two", "LISTEN_PID": "4242"}, f"{NONE_FOUND} (LISTEN_FDS is 'two')"),
    ({"LISTEN_FDS": "65", "LISTEN_PID": "4242"}, "LISTEN_FDS is 65: at most 64 sockets are taken"),
])
def test_no_sockets_for_this_process_is_an_error_and_the_variables_go(env: dict[str, str], problem: str) -> None:
    environ = {**env, "LISTEN_FDNAMES": "web", "PATH": "/usr/bin"}
    with pytest.raises(ActivationError) as err:
        systemd_sockets(environ, pid=4242)
    assert str(err.value).startswith(problem)
    assert environ == {"PATH": "/usr/bin"}  # nothing the exporter starts takes them for its own


def taken_then_detached(sock: socket.socket) -> socket.socket:
    got = _take(sock.fileno())
    assert got.fileno() == sock.fileno()
    return got


def test_a_listening_tcp_socket_is_taken_non_blocking_and_not_inherited() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        os.set_inheritable(sock.fileno(), True)
        got = taken_then_detached(sock)
        try:
            assert got.getblocking() is False
            assert fcntl.fcntl(sock.fileno(), fcntl.F_GETFD) & fcntl.FD_CLOEXEC
        finally:
            got.detach()


def test_a_connected_socket_from_accept_yes_is_refused() -> None:
    left, right = socket.socketpair()
    with left, right:
        with pytest.raises(ActivationError, match=rf"descriptor {left.fileno()} of LISTEN_FDS is not listening "
                                                  r"\(Accept=yes"):
            _take(left.fileno())


def test_a_datagram_socket_is_refused() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        with pytest.raises(ActivationError, match="is not a stream socket"):
            _take(sock.fileno())


def test_a_descriptor_that_is_no_socket_is_refused() -> None:
    read, write = os.pipe()
    try:
        with pytest.raises(ActivationError, match=f"descriptor {read} of LISTEN_FDS is not a socket"):
            _take(read)
    finally:
        os.close(read)
        os.close(write)


# Descriptors 3 and 4 made listening sockets, as systemd hands them over, then the variables set
# for this very process: what --web.systemd-socket reads.
_CHILD = """
import fcntl, os, socket, sys
from exporter.web.activation import systemd_sockets
made = [socket.socket(socket.AF_INET6 if n else socket.AF_INET) for n in range(2)]
for n, sock in enumerate(made):
    sock.bind(("::1" if n else "127.0.0.1", 0))
    sock.listen()
high = [fcntl.fcntl(sock.fileno(), fcntl.F_DUPFD, 20) for sock in made]  # out of the way of 3 and 4
for sock in made:
    sock.close()
for n, fd in enumerate(high):
    os.dup2(fd, 3 + n)
    os.close(fd)
os.environ.update(LISTEN_FDS="2", LISTEN_PID=str(os.getpid()))
got = systemd_sockets()
print([(s.fileno(), s.family.name) for s in got], "LISTEN_FDS" in os.environ)
"""


def test_the_sockets_from_descriptor_3_on_are_taken() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    result = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, timeout=60, cwd=ROOT,
                            close_fds=True)
    if "Cannot assign requested address" in result.stderr:
        pytest.skip("no IPv6 loopback")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[(3, 'AF_INET'), (4, 'AF_INET6')] False"
