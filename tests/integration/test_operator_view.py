"""The operator's view on real HAProxys: the debug text against what really went to the socket, the
pages behind basic auth, and the landing page in a real browser while an HAProxy goes and comes back.

Oracles, each independent of the exporter: a recording relay in front of the stats socket (every
command and every answer byte, as HAProxy's peer saw them); HAProxy's own refusals on a ``level
user`` socket (the test sends each listed command itself); and Debian's chromium, which renders the
landing page (a screenshot) and prints the DOM it built from it (``--dump-dom``).
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from typing import Iterator

import bcrypt
import pytest
from support import ADMIN_HTTP_HEAD, HAProxy, free_ports, haproxy_binary, raw_command, require, stop_process, wait_for

from exporter.config import build_config
from exporter.poll.poller import Poller
from exporter.poll.snapshot import Store
from exporter.web.config import load_web_config
from exporter.web.routes import Request, route_table
from exporter.web.server import start_server
from testkit.servers import accept_loop
from testkit.tlscerts import make_certs

EXPORTER = [sys.executable, "-m", "exporter"]
CFG = ADMIN_HTTP_HEAD + """
frontend fe_main
    bind 127.0.0.1:{p0}
    stick-table type ip size 100 expire 10m store gpc0,http_req_cnt
    http-request track-sc0 src
    http-request return status 200 content-type text/plain string ok
"""
USER_SOCKET = "    stats socket {user} mode 600 level user\n"
# How HAProxy says no below a command's level, in the versions tested: the plain refusal, a table's
# header without its contents, and 2.6's answer to ``show ssl cert`` at level user.
REFUSALS = ("Permission denied", "contents not dumped due to insufficient privileges", "Can't allocate memory")


def refused_by(socket_path: str, command: str) -> bool:
    answer = raw_command(socket_path, command)
    return any(text in answer for text in REFUSALS)


class Relay:
    """A UNIX socket in front of ``upstream`` that keeps, per connection, what the client sent and
    how many bytes HAProxy answered."""

    def __init__(self, path: str, upstream: str) -> None:
        self.path, self.upstream = path, upstream
        self.seen: list[tuple[str, int]] = []
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
            answered = 0
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as up:
                up.settimeout(5)
                up.connect(self.upstream)
                up.sendall(data)
                up.shutdown(socket.SHUT_WR)
                while chunk := up.recv(65536):
                    answered += len(chunk)
                    client.sendall(chunk)
            self.seen.append((data.decode(), answered))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()


LISTED = re.compile(r"^  '(?P<sent>[^']*)'\s+(?P<size>\d+) B\s+[\d.]+s  (?P<outcome>\S+?)(?::|$| )")


def listed(text: str) -> list[tuple[str, int, str]]:
    """(command, bytes, outcome) of each command the debug text lists."""
    found = [LISTED.match(line) for line in text.splitlines()]
    return [(m["sent"], int(m["size"]), m["outcome"]) for m in found if m]


@pytest.fixture
def user_level(haproxy_factory) -> Iterator[tuple[HAProxy, Relay]]:
    hap = haproxy_factory(CFG.replace("defaults\n", USER_SOCKET + "defaults\n"), nports=1)
    assert hap.get(0) == 200  # an entry in fe_main's table
    relay = Relay(str(Path(hap.admin).with_name("relay.sock")), hap.user)
    yield hap, relay
    relay.close()


def test_the_debug_view_lists_what_went_to_a_level_user_socket_and_what_it_refused(user_level) -> None:
    hap, relay = user_level
    config = build_config({"haproxy": {"address": relay.path}, "stick_tables": [{"name": "fe_main"}]})
    store = Store(config.poll.max_age)
    poller = Poller(config, store)
    assert poller.poll_once()  # the first poll asks the socket what it is; the second is a plain one
    relay.seen.clear()
    assert poller.poll_once()
    response = route_table(config, store, lambda: True)["/metrics"](Request("GET", "/metrics", "debug=true", {}))
    text = b"".join(bytes(c) for c in response.body).decode()
    assert response.status == 200

    got = listed(text)
    assert [(sent, size) for sent, size, _ in got] == [(sent[:-1], size) for sent, size in relay.seen]
    refused = {sent for sent, _, outcome in got if outcome == "permission_denied"}
    assert "show table fe_main" in refused  # a table's entries need level operator
    for sent, _, outcome in got:  # HAProxy's own word on each, asked by the test on both sockets
        assert refused_by(hap.user, sent) == (sent in refused), sent
        assert not refused_by(hap.admin, sent), sent
        assert outcome in ("ok", "permission_denied"), (sent, outcome)
    assert "sticktables                  failed       show table fe_main: permission_denied" in text
    assert "to fix: the socket's level is too low for this command" in text
    assert "State: up" in text


def test_the_new_pages_need_credentials_and_show_no_secret(tmp_path: Path) -> None:
    """Basic auth over TLS (as the exporter-toolkit's web config): 401 without the password; with
    it, neither page names the password, its hash, or the TLS files."""
    base = Path(tempfile.mkdtemp(prefix="hrxv"))
    hap = HAProxy(base, CFG, nports=1, binary=require(haproxy_binary(), "haproxy")).start()
    certs = make_certs(tmp_path / "certs")
    password_hash = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(4)).decode()
    web_yml = tmp_path / "web.yml"
    web_yml.write_text(certs.web_config() + f"basic_auth_users:\n  prometheus: '{password_hash}'\n")
    port = free_ports(1)[0]
    config = build_config({"haproxy": {"address": hap.admin},
                           "web": {"listen_address": f"127.0.0.1:{port}", "config_file": str(web_yml)}})
    store = Store(config.poll.max_age)
    assert Poller(config, store).poll_once()
    server = start_server(config, store, lambda: True, load_web_config(str(web_yml)))
    try:
        import ssl

        context = ssl.create_default_context(cafile=str(certs.ca))
        for path, real in (("/", 'data-state="up"'), ("/metrics?debug=true", "'show info'")):
            assert get(f"https://127.0.0.1:{port}{path}", context)[0] == 401, path
            status, body = get(f"https://127.0.0.1:{port}{path}", context, ("prometheus", "s3cret"))
            assert status == 200 and real in body, path  # the real page, with what it must show
            for secret in ("s3cret", password_hash, str(certs.server_key), str(certs.server_cert), str(web_yml)):
                assert secret not in body, (path, secret)
    finally:
        server.shutdown()
        server.server_close()
        hap.stop()
        shutil.rmtree(base, ignore_errors=True)


def get(url: str, context: object = None, user: tuple[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url)
    if user is not None:
        request.add_header("Authorization", "Basic " + base64.b64encode(":".join(user).encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=5, context=context) as resp:  # type: ignore[arg-type]
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


# ---------------------------------------------------------------------------------- the browser


class Rows(HTMLParser):
    """Each target row's state (``data-state``) and text, from the DOM chromium printed."""

    def __init__(self) -> None:
        super().__init__()
        self.states: dict[str, str] = {}
        self.text: dict[str, str] = {}
        self._row: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "tr" and (found.get("id") or "").startswith("target-"):
            self._row = (found["id"] or "")[len("target-"):]
            self.states[self._row] = found.get("data-state") or ""
            self.text[self._row] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr":
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._row is not None:
            self.text[self._row] += data


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    """Headless chromium with a profile of the test's own (root needs --no-sandbox)."""
    binary = require(shutil.which("chromium"), "chromium (Debian package chromium; .ci/run installs it)")
    return subprocess.run([binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           f"--user-data-dir={profile}", *args], capture_output=True, text=True, timeout=60)


def dom_rows(url: str, profile: Path) -> Rows:
    result = chromium("--dump-dom", url, profile=profile)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = Rows()
    rows.feed(result.stdout)
    return rows


def page_states(url: str) -> dict[str, str]:
    """The states as served, read without a browser: what the test waits on before asking chromium."""
    with urllib.request.urlopen(url, timeout=5) as resp:
        rows = Rows()
        rows.feed(resp.read().decode())
    return rows.states


def test_the_landing_page_in_a_browser_while_an_haproxy_goes_and_comes_back(tmp_path: Path) -> None:
    require(shutil.which("chromium"), "chromium (Debian package chromium; .ci/run installs it)")
    binary = require(haproxy_binary(), "haproxy")
    base = Path(tempfile.mkdtemp(prefix="hrxb"))
    haps = {}
    for name in ("edge1", "edge2"):
        (base / name).mkdir()
        haps[name] = HAProxy(base / name, CFG, nports=1, binary=binary).start()
    port = free_ports(1)[0]
    config = tmp_path / "exporter.yaml"
    config.write_text(json.dumps({
        "targets": [{"name": name, "address": hap.admin} for name, hap in haps.items()],
        "poll": {"interval": "200ms"}, "web": {"listen_address": f"127.0.0.1:{port}"}}))
    proc = subprocess.Popen(EXPORTER + ["--config.file", str(config)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url, profile = f"http://127.0.0.1:{port}/", tmp_path / "chromium"
    try:
        def states(wanted: dict[str, str]) -> bool:
            return page_states(url) == wanted

        up = {"edge1": "up", "edge2": "up"}
        wait_for(lambda: states(up), 15, "both targets did not come up", retry=(OSError,))
        assert dom_rows(url, profile).states == up

        haps["edge2"].stop()
        wait_for(lambda: page_states(url)["edge2"] == "down", 15, "edge2's stop was not seen")
        rows = dom_rows(url, profile)
        assert rows.states == {"edge1": "up", "edge2": "down"}
        # a poll under way while HAProxy closes may see the connection cut; the next ones, no socket
        assert re.search(r"show info failed \((no_socket|refused|io|empty|truncated)\)", rows.text["edge2"]), \
            rows.text["edge2"]
        assert "to fix:" in rows.text["edge2"] and "to fix:" not in rows.text["edge1"]
        shot = tmp_path / "landing.png"  # what an operator sees during the outage
        result = chromium(f"--screenshot={shot}", "--window-size=1280,800", url, profile=profile)
        assert result.returncode == 0, result.stderr[-2000:]
        assert shot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") and shot.stat().st_size > 1000

        haps["edge2"].start()  # the same config, the same socket path
        wait_for(lambda: states(up), 15, "edge2 did not come back")
        rows = dom_rows(url, profile)
        assert rows.states == up
        # the outage stays in view, its polls folded into one entry a reason
        assert re.search(r"recent failed polls \([1-3]\)", rows.text["edge2"]), rows.text["edge2"]
        assert "recent failed polls" not in rows.text["edge1"]
    finally:
        stop_process(proc)
        for hap in haps.values():
            hap.stop()
        shutil.rmtree(base, ignore_errors=True)


def test_through_a_master_cli_the_debug_view_names_each_worker_it_read(tmp_path: Path) -> None:
    """One HAProxy version: the routing is the exporter's, the same on all of them."""
    base = Path(tempfile.mkdtemp(prefix="hrxm"))
    hap = HAProxy(base, CFG, nports=1, binary=require(haproxy_binary(), "haproxy")).start_master()
    relay = Relay(str(base / "relay.sock"), hap.master)
    try:
        config = build_config({"haproxy": {"address": relay.path}})
        store = Store(config.poll.max_age)
        poller = Poller(config, store)
        assert poller.poll_once()
        relay.seen.clear()
        assert poller.poll_once()
        response = route_table(config, store, lambda: True)["/metrics"](Request("GET", "/metrics", "debug=true", {}))
        text = b"".join(bytes(c) for c in response.body).decode()
        got = listed(text)
        assert [(sent, size) for sent, size, _ in got] == [(sent[:-1], size) for sent, size in relay.seen]
        (worker,), _ = hap.workers()
        assert f"'@!{worker} show info'" in text and "Socket read as: a master CLI" in text
        assert re.search(rf"^  info @!{worker} +read ", text, re.M), text
        assert re.search(r"^  proc +read ", text, re.M), text  # the master's own source
    finally:
        relay.close()
        hap.stop()
        shutil.rmtree(base, ignore_errors=True)
