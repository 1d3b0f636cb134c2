import socket
import threading

import pytest

from exporter.config import TargetConfig
from exporter.runtime.address import parse_address
from exporter.runtime.client import CommandRefused, RuntimeClient, TransportError
from exporter.sources.registry import allowlist


@pytest.mark.parametrize("command", [
    "show info", "show stat", "show table", "show table fe_main",
    "show table peers/tbl data.gpc0 gt 0", "show table t data.gpt0 gt 0 data.http_req_rate le 100",
])
def test_read_only_commands_pass(command):
    assert allowlist().check(command) == command


@pytest.mark.parametrize("command", [
    "set table fe_main key 1 data.gpc0 1", "clear table fe_main", "clear counters all",
    "disable server be/s1", "shutdown sessions server be/s1", "set server be/s1 state maint",
    "show info; clear counters", "show stat\nclear counters", "show table t; set weight be/s 0",
    "show stat typed", "show sess", "show table t key 1", "", "prompt", "@1 show info",
    "show table t data.gpc0 gt 0 data.gpc0 gt 0 data.gpc0 gt 0 data.gpc0 gt 0 data.gpc0 gt 0",
])
def test_anything_else_is_refused_before_a_socket_is_opened(command, monkeypatch):
    opened = []
    monkeypatch.setattr(socket, "socket", lambda *a, **k: opened.append(a))
    client = RuntimeClient(parse_address("127.0.0.1:1"), allowlist(), TargetConfig())
    with pytest.raises(CommandRefused):
        client.run(command)
    assert opened == []


def test_missing_socket_file_is_reported_as_such(tmp_path):
    client = RuntimeClient(parse_address(str(tmp_path / "nope.sock")), allowlist(), TargetConfig())
    with pytest.raises(TransportError) as err:
        client.run("show info")
    assert err.value.reason == "no_socket"


def test_closed_tcp_port_is_refused():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = RuntimeClient(parse_address(f"127.0.0.1:{port}"), allowlist(), TargetConfig(connect_timeout=1, timeout=1))
    with pytest.raises(TransportError) as err:
        client.run("show info")
    assert err.value.reason == "refused"


def _serve_once(payload: bytes) -> tuple[int, threading.Thread, list]:
    """A one-shot TCP peer: records what the client sent, answers ``payload``, closes."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    seen: list = []

    def run():
        conn, _ = srv.accept()
        with conn:
            data = b""
            while chunk := conn.recv(4096):  # the client half-closes after its command
                data += chunk
            seen.append(data)
            conn.sendall(payload)
        srv.close()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return srv.getsockname()[1], t, seen


def test_half_closes_and_strips_the_block_end():
    port, t, seen = _serve_once(b"Name: HAProxy\nVersion: 9\n\n")
    text = RuntimeClient(parse_address(f"127.0.0.1:{port}"), allowlist(), TargetConfig()).run("show info")
    t.join(2)
    assert seen == [b"show info\n"]
    assert str(text) == "Name: HAProxy\nVersion: 9\n"


def test_answer_without_closing_blank_line_is_a_cut_stream():
    port, t, _ = _serve_once(b"# pxname,svname,\nfe,FRONT")
    with pytest.raises(TransportError) as err:
        RuntimeClient(parse_address(f"127.0.0.1:{port}"), allowlist(), TargetConfig()).run("show stat")
    t.join(2)
    assert err.value.reason == "truncated"


def test_size_cap():
    port, t, _ = _serve_once(b"x" * 5000 + b"\n\n")
    with pytest.raises(TransportError) as err:
        RuntimeClient(parse_address(f"127.0.0.1:{port}"), allowlist(), TargetConfig(max_response_bytes=1000)).run("show stat")
    t.join(2)
    assert err.value.reason == "too_large"
