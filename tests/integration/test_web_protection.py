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
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Iterator

import bcrypt
import pytest

from exporter.config import build_config
from exporter.web.server import start_server
from exporter.poll.poller import Poller
from exporter.poll.snapshot import Store
from exporter.web.config import load_web_config
from exposition import samples, value
from support import ADMIN_HTTP_HEAD, free_ports, stop_process, wait_for
from tlscerts import Certs, make_certs, make_leaf

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
        store = Store(config.max_age)
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
    return f"tls_server_config:\n  cert_file: {certs.server_cert}\n  key_file: {certs.server_key}\n{extra}"


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
    for path in ("/", "/healthz"):  # every path is protected, as with the exporter-toolkit
        assert get(f"https://127.0.0.1:{port}{path}", ctx)[0] == 401
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
