"""Read-only by construction: what the exporter sends to an admin-level socket, byte for byte.

A recording relay sits between the exporter and the real HAProxy admin socket and keeps every
byte each connection sent.  A whole poll (info, stat, stick-table summary and dumps with filters)
must consist only of the read-only ``show`` commands; and the transport's allowlist must refuse
anything else before a socket is even opened.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Iterator

import pytest
from exposition import samples, value
from support import ADMIN_HTTP_HEAD

from exporter.config import TargetConfig, build_config
from exporter.poll.poller import Poller
from exporter.poll.snapshot import Store
from exporter.runtime.address import parse_address
from exporter.runtime.client import CommandRefused, RuntimeClient
from exporter.sources.registry import allowlist
from testkit.servers import accept_loop
from testkit.tlscerts import make_certs

CFG = ADMIN_HTTP_HEAD + """
frontend fe_main
    bind 127.0.0.1:{p0}
    stick-table type ip size 100 expire 10m store gpc0,conn_rate(10s),http_req_cnt
    http-request track-sc0 src
    http-request return status 200 content-type text/plain string ok
frontend fe_tls
    bind 127.0.0.1:{p1} ssl crt CERTFILE
    http-request return status 200
backend be_other
    stick-table type string len 32 size 10 store gpt0
"""
# The sources' commands, and the probes the poll asks a socket it meets first (master CLI? level?).
READ_ONLY = {"show info", "show stat", "show table", "show resolvers", "show ssl cert", "show ssl ocsp-response",
             "show ssl ocsp-updates", "show peers", "show map", "show acl", "show errors", "show proc", "show cli level"}
PER_ITEM = ("show table ", "show ssl cert ", "show ssl ocsp-response ")  # a configured table, a listed item


class RecordingRelay:
    """A UNIX socket that forwards each connection to ``upstream`` and records what the client sent."""

    def __init__(self, path: str, upstream: str) -> None:
        self.path, self.upstream = path, upstream
        self.sent: list[bytes] = []
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(path)
        self._sock.listen(8)
        self._sock.settimeout(0.05)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=accept_loop, args=(self._sock, self._stop, self._relay, False),
                                        daemon=True)
        self._thread.start()

    def _relay(self, client: socket.socket) -> None:
        with client:
            client.settimeout(5)
            data = b""
            while chunk := client.recv(65536):  # the exporter half-closes after its command
                data += chunk
            self.sent.append(data)
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as up:
                up.settimeout(5)
                up.connect(self.upstream)
                up.sendall(data)
                up.shutdown(socket.SHUT_WR)
                while chunk := up.recv(65536):
                    client.sendall(chunk)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()


@pytest.fixture
def relay(haproxy_factory, tmp_path: Path) -> Iterator[tuple[RecordingRelay, object]]:
    certs = make_certs(tmp_path / "certs")
    pem = tmp_path / "certs" / "server.pem"
    pem.write_text(certs.server_cert.read_text() + certs.server_key.read_text())
    hap = haproxy_factory(CFG.replace("CERTFILE", str(pem)), nports=2)
    for _ in range(3):
        assert hap.get(0) == 200  # an entry in fe_main's table
    hap.cmd("set table be_other key alpha data.gpt0 5")  # setup through the admin socket, not the exporter
    rec = RecordingRelay(str(Path(hap.admin).with_name("relay.sock")), hap.admin)
    yield rec, hap
    rec.close()


def test_a_whole_poll_sends_only_read_only_show_commands(relay, tmp_path: Path) -> None:
    rec, hap = relay
    config = build_config({
        "haproxy": {"address": rec.path},
        "stick_tables": [{"name": "fe_main", "filters": ["data.http_req_cnt gt 0", "data.gpc0 ge 0"]},
                         {"name": "be_other"}],
        "errors": {"enabled": True},  # every source on, the ones off by default too
    })
    store = Store(config.poll.max_age)
    poller = Poller(config, store)
    assert poller.poll_once()
    assert poller.poll_once()
    got = samples(b"".join(p.text for p in store.parts()).decode())
    assert value(got, "haproxy_up") == 1
    assert [k for k in got if "sticktable" in k[0] or "stick_table" in k[0]], "stick tables were not polled"

    assert rec.sent, "nothing went through the relay"
    commands = [raw.decode() for raw in rec.sent]
    for raw in commands:
        # One line per connection, nothing after it, no command separator, no second line.
        assert raw.endswith("\n") and raw.count("\n") == 1 and ";" not in raw, repr(raw)
        line = raw[:-1]
        assert line.startswith("show "), repr(raw)
        assert line in READ_ONLY or line.startswith(PER_ITEM), repr(raw)
    assert {c[:-1] for c in commands} >= {"show info", "show stat", "show table", "show map", "show acl", "show errors",
                                           "show table fe_main data.http_req_cnt gt 0 data.gpc0 ge 0",
                                           "show table be_other", "show ssl cert",
                                           f"show ssl cert {tmp_path / 'certs' / 'server.pem'}"}
    # And HAProxy's state is as the setup left it: the exporter changed nothing.
    assert "gpt0=5" in hap.cmd("show table be_other")


REFUSED = [
    "set server be/s1 state maint", "clear counters", "clear counters all", "clear table fe_main",
    "disable server be/s1", "enable frontend fe", "shutdown sessions server be/s1", "shutdown frontend fe",
    "set table fe_main key 1.2.3.4 data.gpc0 1", "add acl /x 1.2.3.4", "del map /x k", "set maxconn global 1",
    "show info;clear counters", "show stat; disable server be/s1", "show info\nclear counters",
    "show info\n", "show info\r\nclear counters", "show stat\x00clear counters", "show info ",
    " show info", "SHOW INFO", "show sess", "show env", "show table fe_main key 1.2.3.4",
    "show table fe_main data.gpc0 gt 0;clear table fe_main", "show table fe_main\nclear table fe_main",
    "show table fe_main data.gpc0 gt 0 data.gpc0 gt 0 data.gpc0 gt 0 data.gpc0 gt 0 data.gpc0 gt 0",
    "show table fe main", "show table fe\\;x", "@1 show info", "@@1 clear counters", "prompt", "quit", "expert-mode on", "",
    "@!123 clear counters", "@!123 show info;clear counters", "@!12 @!13 show info", "@!x show info", "@! show info",
    "@!123  show info", "@master show proc", "@@!123 show info",
    "set ssl cert /x.pem", "commit ssl cert /x.pem", "abort ssl cert /x.pem", "new ssl cert /x.pem", "del ssl cert /x.pem",
    "show ssl cert */x.pem", "show ssl cert /x.pem;commit ssl cert /x.pem", "show ssl cert /x.pem /y.pem",
    "show ssl cert /x.pem\ncommit ssl cert /x.pem", "show ssl cert ",
    "update ssl ocsp-response /x.pem", "set ssl ocsp-response abc", "show ssl ocsp-response /x.pem",
    "show ssl ocsp-response base64 ab", "show ssl ocsp-response ab;set ssl ocsp-response ab",
    "show ssl ocsp-updates 10", "show ssl ocsp-updates;update ssl ocsp-response /x.pem", "show ssl ocsp-updates ",
    # the maps source reads the listings only, the errors source the whole dump only
    "show map #1", "show map /x.map", "show acl #0", "show acl /x.acl 1.2.3.4", "show map ", "clear map /x.map",
    "add map /x.map k v", "set map /x.map k v", "prepare map /x.map", "commit map @1 /x.map", "clear acl #0",
    "show errors fe_web", "show errors -1 response", "show errors;clear counters",
]


@pytest.mark.parametrize("command", REFUSED)
def test_anything_else_is_refused_before_reaching_a_socket(tmp_path: Path, command: str) -> None:
    with pytest.raises(CommandRefused):
        allowlist().check(command)
    # Through the client too: a listening socket that records connections sees none.
    path = str(tmp_path / "s.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(path)
        listener.listen(1)
        listener.settimeout(0)
        with pytest.raises(CommandRefused):
            RuntimeClient(parse_address(path), allowlist(), TargetConfig(connect_timeout=1, timeout=1)).run(command)
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected
