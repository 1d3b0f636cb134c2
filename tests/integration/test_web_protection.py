"""/metrics behind --web.config.file: real TLS clients, basic auth, client certificates.

The server is the exporter's own HTTP server on a loopback port, serving a poll of a real HAProxy.
"""

from __future__ import annotations

import base64
import http.client
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Iterator

import bcrypt
import pytest
from exposition import samples, value
from httpraw import Answer, read_all
from httpraw import get as request_bytes
from support import ADMIN_HTTP_HEAD, HAProxy, free_ports, stop_process, wait_for

from exporter.cli import new_store
from exporter.clock import SYSTEM_CLOCK
from exporter.config import build_config
from exporter.poll.poller import Poller
from exporter.web.config import load_web_config
from exporter.web.server import start_server
from testkit.tlscerts import Certs, make_certs, make_leaf

# The exporter's own side is under test here; HAProxy only gives it a page to serve.
pytestmark = pytest.mark.one_haproxy

CFG = ADMIN_HTTP_HEAD + """
frontend fe_web
    bind 127.0.0.1:{p0}
    http-request return status 200 content-type text/plain string ok
"""
REPO = Path(__file__).resolve().parents[2]
HASH = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(4)).decode()


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def serve(haproxy_factory, tmp_path: Path) -> Iterator[Callable[[str | None], int]]:
    """Start the exporter's HTTP server with the given web config text; returns its port."""
    hap = haproxy_factory(CFG, nports=1)
    servers = []

    def start(web_yaml: str | None, **limits: object) -> int:
        port = free_ports(1)[0]
        config = build_config({"haproxy": {"address": hap.admin},
                               "web": {"listen_address": f"127.0.0.1:{port}", **limits}})
        store = new_store(config, SYSTEM_CLOCK)
        assert Poller(config, store).poll_once()
        web = None
        if web_yaml is not None:
            path = tmp_path / "web.yml"
            path.write_text(web_yaml)
            web = load_web_config(str(path))
        servers.append(start_server(config, store, lambda: True, web))
        return port

    start.servers = servers  # type: ignore[attr-defined]

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def tls_yaml(certs: Certs, extra: str = "") -> str:
    return certs.web_config(extra)


def auth_yaml() -> str:
    return f"basic_auth_users:\n  prometheus: '{HASH}'\n"


def get(url: str, context: ssl.SSLContext | None = None, user: str | None = None,
        password: str | None = None) -> tuple[int, dict[str, str], str]:
    request = urllib.request.Request(url)
    if user is not None:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=5, context=context) as resp:
            return resp.status, dict(resp.headers), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


def client_context(ca: Path, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca))
    if cert is not None:
        ctx.load_cert_chain(str(cert), str(key))
    return ctx


def test_default_serves_metrics_to_anyone_over_plain_http(serve) -> None:
    port = serve(None)
    status, _, body = get(f"http://127.0.0.1:{port}/metrics")
    assert status == 200 and value(samples(body), "haproxy_up") == 1


def test_tls_serves_the_configured_certificate(serve, certs: Certs) -> None:
    port = serve(tls_yaml(certs))
    status, _, body = get(f"https://127.0.0.1:{port}/metrics", client_context(certs.ca))
    assert status == 200 and value(samples(body), "haproxy_up") == 1

    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with client_context(certs.ca).wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            served = tls.getpeercert(binary_form=True)
    assert served == ssl.PEM_cert_to_DER_cert(certs.server_cert.read_text())

    with pytest.raises(urllib.error.URLError) as err:  # a client that trusts another CA refuses it
        get(f"https://127.0.0.1:{port}/metrics", client_context(certs.other_ca))
    assert isinstance(err.value.reason, ssl.SSLCertVerificationError)

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)  # plain HTTP: hung up on, no answer
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        conn.request("GET", "/metrics")
        conn.getresponse()
    conn.close()


def test_basic_auth_over_tls(serve, certs: Certs) -> None:
    port = serve(tls_yaml(certs) + auth_yaml())
    url, ctx = f"https://127.0.0.1:{port}/metrics", client_context(certs.ca)
    for user, password in ((None, None), ("prometheus", "wrong"), ("admin", "s3cret"), ("prometheus", "")):
        status, headers, body = get(url, ctx, user, password)
        assert status == 401, (user, password)
        assert headers["WWW-Authenticate"].startswith('Basic realm="haproxy-runtime-exporter"')
        assert "haproxy_up" not in body
    for path in ("/", "/healthz", "/-/healthy", "/-/ready"):  # every path is protected, as with the exporter-toolkit
        assert get(f"https://127.0.0.1:{port}{path}", ctx)[0] == 401
        assert get(f"https://127.0.0.1:{port}{path}", ctx, "prometheus", "s3cret")[0] == 200
    status, _, body = get(url, ctx, "prometheus", "s3cret")
    assert status == 200 and value(samples(body), "haproxy_up") == 1


def test_basic_auth_without_tls(serve) -> None:
    port = serve(auth_yaml())
    assert get(f"http://127.0.0.1:{port}/metrics")[0] == 401
    assert get(f"http://127.0.0.1:{port}/metrics", None, "prometheus", "s3cret")[0] == 200


def test_client_certificate_required(serve, certs: Certs) -> None:
    port = serve(tls_yaml(certs, f"  client_ca_file: {certs.ca}\n  client_auth_type: RequireAndVerifyClientCert\n"))
    url = f"https://127.0.0.1:{port}/metrics"
    with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
        get(url, client_context(certs.ca))  # no client certificate: the handshake is refused
    status, _, body = get(url, client_context(certs.ca, certs.client_cert, certs.client_key))
    assert status == 200 and value(samples(body), "haproxy_up") == 1


def served_certificate(port: int, ca: Path) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with client_context(ca).wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            return tls.getpeercert(binary_form=True)


def der(cert: Path) -> bytes:
    return ssl.PEM_cert_to_DER_cert(cert.read_text())


def replace_file(target: Path, source: Path) -> None:
    """As renewal tools do: write a new file beside it, then rename it over the old one."""
    tmp = target.with_suffix(".new")
    shutil.copyfile(source, tmp)
    os.replace(tmp, target)


def test_tls_files_are_reloaded_when_they_change(serve, certs: Certs, tmp_path: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    live = tmp_path / "live"
    live.mkdir()
    cert, key = live / "tls.crt", live / "tls.key"
    shutil.copyfile(certs.server_cert, cert)
    shutil.copyfile(certs.server_key, key)
    port = serve(f"tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n")
    assert served_certificate(port, certs.ca) == der(certs.server_cert)

    renewed_cert, renewed_key = make_leaf(certs, "renewed")
    replace_file(key, renewed_key)
    replace_file(cert, renewed_cert)  # no SIGHUP: the next connections get the renewed pair
    wait_for(lambda: served_certificate(port, certs.ca) == der(renewed_cert), 10, "renewed certificate not served")
    status, _, body = get(f"https://127.0.0.1:{port}/metrics", client_context(certs.ca))
    assert status == 200 and value(samples(body), "haproxy_up") == 1

    caplog.clear()
    replace_file(cert, certs.server_cert)  # a pair that does not match: keep serving the last good one
    deadline = time.monotonic() + 3  # several checks (one a second) on new connections
    while time.monotonic() < deadline:
        assert served_certificate(port, certs.ca) == der(renewed_cert)
        time.sleep(0.2)
    refusals = [r for r in caplog.records if "cannot be loaded" in r.getMessage()]
    assert len(refusals) == 1 and refusals[0].levelname == "ERROR"  # said once, not per connection

    replace_file(key, certs.server_key)  # the pair matches again
    wait_for(lambda: served_certificate(port, certs.ca) == der(certs.server_cert), 10, "fixed pair not loaded")


def live_pair(certs: Certs, directory: Path) -> tuple[Path, Path, str]:
    """The certificate and key a renewal tool keeps replacing, and a web config naming them."""
    directory.mkdir()
    cert, key = directory / "tls.crt", directory / "tls.key"
    shutil.copyfile(certs.server_cert, cert)
    shutil.copyfile(certs.server_key, key)
    return cert, key, f"tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n"


def renew(certs: Certs, cert: Path, key: Path, name: str) -> Path:
    """A new pair from the same CA, put in place as certbot does (key first); its certificate."""
    new_cert, new_key = make_leaf(certs, name)
    replace_file(key, new_key)
    replace_file(cert, new_cert)
    return new_cert


def test_a_renewal_before_the_first_connection_is_served(serve, certs: Certs, tmp_path: Path) -> None:
    """The context is built at load; the files are renewed before any client came: the very first
    connection gets the new pair (it used to get the loaded one until the next renewal)."""
    cert, key, web_yaml = live_pair(certs, tmp_path / "live")
    port = serve(web_yaml)
    renewed = renew(certs, cert, key, "before-first")
    assert served_certificate(port, certs.ca) == der(renewed)


def test_a_renewal_while_the_files_are_being_read_is_served(serve, certs: Certs, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The renewal lands just after load read the files and built its context: the signature the
    context is kept under is of the files it was built from, so the renewal is a change."""
    from exporter.web import config as web_config

    cert, key, web_yaml = live_pair(certs, tmp_path / "live")
    build, renewed = web_config.ssl_context, []

    def build_then_renew(path: str, tls: web_config.TLSSettings) -> ssl.SSLContext:
        context = build(path, tls)
        if not renewed:  # once: the reload builds from the renewed files
            renewed.append(renew(certs, cert, key, "while-read"))
        return context

    monkeypatch.setattr(web_config, "ssl_context", build_then_renew)
    port = serve(web_yaml)
    assert renewed and served_certificate(port, certs.ca) == der(renewed[0])


def test_renewals_before_the_first_connection_after_start_and_after_sighup(certs: Certs, tmp_path: Path) -> None:
    """The real CLI (no HAProxy needed: only the handshake is looked at), renewed before its first
    connection, then reloaded with SIGHUP and renewed again before the next connection."""
    cert, key, web_yaml = live_pair(certs, tmp_path / "live")
    web = tmp_path / "web.yml"
    web.write_text(web_yaml)
    port, log = free_ports(1)[0], tmp_path / "exporter.log"
    with open(log, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "exporter", "--haproxy.address", str(tmp_path / "none.sock"),
                                 "--web.listen-address", f"127.0.0.1:{port}", "--web.config.file", str(web),
                                 "--log.level", "info"], stdout=subprocess.DEVNULL, stderr=err, cwd=REPO)
    try:
        wait_for(lambda: "listening on" in log.read_text(), 15, "the exporter did not listen")
        first = renew(certs, cert, key, "after-start")
        assert served_certificate(port, certs.ca) == der(first)

        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "config reloaded" in log.read_text(), 15, f"SIGHUP not applied: {log.read_text()}")
        second = renew(certs, cert, key, "after-sighup")
        assert served_certificate(port, certs.ca) == der(second)
    finally:
        stop_process(proc)


def test_tls_handshake_timeout_frees_the_connection(serve, certs: Certs) -> None:
    port = serve(tls_yaml(certs), tls_handshake_timeout="0.5s")
    server = serve.servers[-1]
    silent = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(50)]  # never say hello
    try:
        wait_for(lambda: len(server.connections) == 50, 10, "connections not taken")
        for sock in silent:
            sock.settimeout(10)
            assert sock.recv(100) == b""  # closed by the server at the handshake deadline
        wait_for(lambda: len(server.connections) == 0, 10, "timed-out handshakes still held")
        assert server.counts["tls_handshake_failed"] == 50
    finally:
        for sock in silent:
            sock.close()
    status, _, body = get(f"https://127.0.0.1:{port}/metrics", client_context(certs.ca))
    assert status == 200 and value(samples(body), "haproxy_up") == 1


# -- passwords: what a check costs, and who waits for one (exporter/web/auth.py) --------------

class BcryptSpy:
    """Every call into the bcrypt library while installed: which, at what cost, with how many
    password bytes, and whether it ran (the library raises before hashing what it refuses)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[str, int, int, bool]] = []
        for name in ("checkpw", "hashpw"):
            monkeypatch.setattr(bcrypt, name, self._wrap(name, getattr(bcrypt, name)))

    def _wrap(self, name: str, real: Callable[[bytes, bytes], object]) -> Callable[[bytes, bytes], object]:
        def call(password: bytes, salted: bytes) -> object:
            try:
                result = real(password, salted)
            except ValueError:
                self.calls.append((name, int(salted[4:6]), len(password), False))
                raise
            self.calls.append((name, int(salted[4:6]), len(password), True))
            return result
        return call

    def take(self) -> list[tuple[str, int, int, bool]]:
        calls, self.calls = self.calls, []
        return calls


def raw_basic(port: int, user: bytes, password: bytes, source: str = "127.0.0.1", wait: float = 20.0) -> Answer:
    token = base64.b64encode(user + b":" + password).decode()
    with socket.create_connection(("127.0.0.1", port), timeout=wait, source_address=(source, 0)) as sock:
        sock.sendall(request_bytes("/metrics", {"Authorization": f"Basic {token}"}))
        return read_all(sock, wait)


SHAPES = {  # passwords of every branch: short, at and over bcrypt's 72 bytes, odd bytes
    "short": b"wrong",
    "empty": b"",
    "72 bytes": b"a" * 72,
    "100 bytes": b"b" * 100,
    "5000 bytes": b"c" * 5000,
    "NUL bytes": b"wr\x00ng",
    "not UTF-8": b"wr\xff\xfeng",
    "colon": b"wr:ng",
}


def test_known_and_unknown_users_cost_the_same_bcrypt_work(serve, monkeypatch: pytest.MonkeyPatch) -> None:
    """Counted, not timed: for every kind of password the library does the same work (calls,
    cost, bytes hashed) for a wrong password of a configured user as for a name that is not one."""
    hashed5 = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(5)).decode()
    port = serve(f"basic_auth_users:\n  prometheus: '{hashed5}'\n  grafana: '{hashed5}'\n")
    spy = BcryptSpy(monkeypatch)
    for n, (shape, password) in enumerate(SHAPES.items()):
        work = {}
        for user in (b"prometheus", f"nobody{n}".encode()):
            assert raw_basic(port, user, password).status == 401, (shape, user)
            work[user] = spy.take()
        known, unknown = work.values()
        assert known == unknown and known and all(cost == 5 for _, cost, _, _ in known), (shape, known, unknown)
    assert raw_basic(port, b"\xff\xfe", b"wrong").status == 401  # a name that is not UTF-8: an unknown user
    assert spy.take() == [("checkpw", 5, 5, True)]


def test_unknown_names_are_checked_at_the_costs_of_the_configured_users(serve, monkeypatch: pytest.MonkeyPatch) -> None:
    """Users whose hashes have different costs: unknown names cost one of those, not one fixed cost."""
    cheap, dear = (bcrypt.hashpw(b"s3cret", bcrypt.gensalt(cost)).decode() for cost in (4, 6))
    port = serve(f"basic_auth_users:\n  cheap: '{cheap}'\n  dear: '{dear}'\n")
    spy = BcryptSpy(monkeypatch)
    for n in range(24):
        assert raw_basic(port, f"nobody{n}".encode(), b"wrong").status == 401
    assert {cost for _, cost, _, ran in spy.take() if ran} == {4, 6}


def test_passwords_longer_than_72_bytes_count_by_their_first_72_as_the_toolkit(serve) -> None:
    """Go's bcrypt (the exporter-toolkit's) reads 72 bytes of a password and ignores the rest;
    htpasswd and bcrypt.hashpw hash no more than those either."""
    password = bytes(range(40, 40 + 100))
    hashed = bcrypt.hashpw(password[:72], bcrypt.gensalt(4)).decode()
    port = serve(f"basic_auth_users:\n  long: '{hashed}'\n")
    assert raw_basic(port, b"long", password).status == 200
    assert raw_basic(port, b"long", password[:72] + b"ignored, as by Go").status == 200
    assert raw_basic(port, b"long", password[:71]).status == 401
    assert raw_basic(port, b"long", b"x" + password[1:]).status == 401


def test_a_right_password_is_remembered_across_a_reload_and_wrong_ones(serve, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    port = serve(auth_yaml())
    server = serve.servers[-1]
    spy = BcryptSpy(monkeypatch)
    assert raw_basic(port, b"prometheus", b"s3cret").status == 200
    assert len(spy.take()) == 1
    for n in range(100):  # far more distinct wrong passwords than are remembered
        assert raw_basic(port, b"prometheus", f"guess{n}".encode()).status in (401, 503)
    server.web = load_web_config(str(tmp_path / "web.yml"))  # SIGHUP, as exporter/cli.py applies it
    spy.take()
    assert raw_basic(port, b"prometheus", b"s3cret").status == 200
    assert spy.take() == []  # answered from memory: the hash did not change


REPO = Path(__file__).resolve().parents[2]
PAD = "p" * 15_000  # a 15 kB header: what each waiting check used to pin


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def flood(port: int, count: int, stop: threading.Event) -> int:
    """Distinct wrong passwords with a big header, each on its own connection, which is closed
    without waiting for the answer (a client that times out at once); how many were sent."""
    sent = 0
    for n in range(count):
        if stop.is_set():
            break
        token = base64.b64encode(f"prometheus:guess{n}".encode()).decode()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.sendall(request_bytes("/metrics", {"Authorization": f"Basic {token}", "X-Pad": PAD}))
        except OSError:
            continue
        sent += 1
    return sent


def answers(port: int, user: bytes, password: bytes, source: str) -> int:
    try:
        return raw_basic(port, user, password, source, wait=2).status
    except OSError:
        return 0


def test_a_flood_of_wrong_passwords_neither_delays_the_right_one_nor_grows_memory(tmp_path: Path) -> None:
    """The real CLI, bcrypt cost 10 (~50 ms a check, two threads): 3,000 distinct wrong passwords
    with 15 kB headers, a SIGHUP in the middle, and meanwhile Prometheus' address (127.0.0.2)
    scrapes with a password it used before and Grafana's (127.0.0.3) with one never checked."""
    base = Path(tempfile.mkdtemp(prefix="hrx"))  # a short path: UNIX socket names are limited
    hap = HAProxy(base, CFG, nports=1).start()
    port = free_ports(1)[0]
    hashes = {user: bcrypt.hashpw(f"{user}-pass".encode(), bcrypt.gensalt(10)).decode() for user in ("prometheus", "grafana")}
    web = tmp_path / "web.yml"
    web.write_text("basic_auth_users:\n" + "".join(f"  {u}: '{h}'\n" for u, h in hashes.items()))
    log = tmp_path / "exporter.log"
    with open(log, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "exporter", "--haproxy.address", hap.admin,
                                 "--web.listen-address", f"127.0.0.1:{port}", "--web.config.file", str(web),
                                 "--log.level", "info"], stdout=subprocess.DEVNULL, stderr=err, cwd=REPO)
    stop = threading.Event()
    sent: list[int] = []
    flooder = threading.Thread(target=lambda: sent.append(flood(port, 3000, stop)), daemon=True)
    try:
        wait_for(lambda: answers(port, b"prometheus", b"prometheus-pass", "127.0.0.2") == 200,
                 30, "the exporter did not serve /metrics")
        before = rss_kib(proc.pid)
        flooder.start()
        peak = before
        for _ in range(1200):  # sampled every 0.1 s while the flood lasts (bounded: 2 minutes)
            if not flooder.is_alive():
                break
            peak = max(peak, rss_kib(proc.pid))
            time.sleep(0.1)
        flooder.join(60)
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "config reloaded" in log.read_text(), 10, "no reload")
        stop.clear()
        again = threading.Thread(target=flood, args=(port, 1000, stop), daemon=True)  # still flooding
        again.start()
        prometheus = raw_basic(port, b"prometheus", b"prometheus-pass", "127.0.0.2", wait=20)
        grafana = raw_basic(port, b"grafana", b"grafana-pass", "127.0.0.3", wait=20)
        stop.set()
        again.join(60)
        peak = max(peak, rss_kib(proc.pid))
        growth_mib = (peak - before) / 1024
        print(f"RSS {before / 1024:.1f} MiB before, peak {peak / 1024:.1f} MiB during the flood")
        assert prometheus.status == 200 and b"haproxy_up 1" in prometheus.body, prometheus.raw[:300]
        assert grafana.status == 200, grafana.raw[:300]
        assert sent and sent[0] >= 2500, sent
        assert growth_mib < 40, f"RSS grew {growth_mib:.0f} MiB under the flood"
        assert proc.poll() is None
        text = log.read_text()
        assert text.count("auth_busy from") == 1  # refused at once, counted, logged once at info
    finally:
        stop.set()
        stop_process(proc)
        hap.stop()
        shutil.rmtree(base, ignore_errors=True)


class GatedBcrypt:
    """bcrypt.checkpw held until the test opens the gate: checks stay running (or queued behind
    the running ones) as long as the test needs; every call that got through is recorded."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.open = threading.Event()
        self.ran: list[bytes] = []
        real = bcrypt.checkpw

        def checkpw(password: bytes, hashed: bytes) -> bool:
            assert self.open.wait(30), "gate never opened"
            self.ran.append(password)
            return bool(real(password, hashed))
        monkeypatch.setattr(bcrypt, "checkpw", checkpw)


def send_basic(port: int, user: str, password: str) -> socket.socket:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(request_bytes("/metrics", {"Authorization": f"Basic {token}"}))
    return sock


def test_a_client_that_leaves_cancels_its_queued_check(serve, monkeypatch: pytest.MonkeyPatch) -> None:
    port = serve(auth_yaml())
    server = serve.servers[-1]
    gate = GatedBcrypt(monkeypatch)
    running = [send_basic(port, "prometheus", f"running{n}") for n in range(2)]  # both bcrypt threads
    queued = [send_basic(port, "prometheus", f"queued{n}") for n in range(3)]
    wait_for(lambda: len(server.connections) == 5, 10, "connections not taken")
    for sock in queued:
        sock.close()  # gone before their turn
    wait_for(lambda: server.counts.get("auth_abandoned") == 3, 10, "closed clients still waiting")
    gate.open.set()
    for sock in running:
        assert read_all(sock, 10).status == 401
        sock.close()
    wait_for(lambda: len(server.connections) == 0, 10, "connections left")
    assert sorted(gate.ran) == [b"running0", b"running1"]  # the three that left were never checked


def test_a_check_that_waits_too_long_gets_503_not_an_empty_reply(serve, monkeypatch: pytest.MonkeyPatch) -> None:
    port = serve(auth_yaml(), write_stall_timeout="1s", write_timeout="1s")
    gate = GatedBcrypt(monkeypatch)
    try:
        socks = [send_basic(port, "prometheus", f"slow{n}") for n in range(3)]  # two run, one waits
        answers = [read_all(sock, 10) for sock in socks]
    finally:
        gate.open.set()
    assert sorted(a.status for a in answers) == [503, 503, 503]
    assert all(a.headers.get("retry-after") == "1" and a.closed for a in answers)
