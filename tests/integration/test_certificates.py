"""Certificates on a real HAProxy of every version: a self-signed certificate that expires in 10 days,
one in a crt-list and one in a ``crt`` directory, made by the test with openssl.

The oracle for the dates is openssl reading the files (``x509 -enddate``), for the list HAProxy's
own ``show ssl cert`` read by the test; a ``set ssl cert`` transaction opened by the test through
the admin socket is not exported until it is committed.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from exposition import samples, value
from support import ADMIN_HTTP_HEAD, require

from exporter.config import build_config
from exporter.poll.poller import Poller
from exporter.poll.snapshot import Store
from testkit.tlscerts import self_signed_pem

CFG = ADMIN_HTTP_HEAD.replace("level admin", "level admin\n    stats socket {user} mode 600 level user") + """
frontend fe_tls
    bind 127.0.0.1:{p0} ssl crt CERTS/soon.pem crt-list CERTS/list.txt crt CERTS/dir/
    http-request return status 200
"""


def not_after(path: Path) -> int:
    """openssl's own reading of the file: the independent oracle for the date."""
    out = subprocess.run(["openssl", "x509", "-enddate", "-noout", "-in", str(path)],
                         check=True, capture_output=True, text=True, timeout=60).stdout
    when = datetime.strptime(" ".join(out.strip().removeprefix("notAfter=").split()), "%b %d %H:%M:%S %Y GMT")
    return int(when.replace(tzinfo=timezone.utc).timestamp())


@pytest.fixture
def certs(tmp_path: Path) -> Path:
    require(shutil.which("openssl"), "openssl")
    d = tmp_path / "c"
    (d / "dir").mkdir(parents=True)
    self_signed_pem(d / "soon.pem", "soon.example", 10)
    self_signed_pem(d / "listed.pem", "listed.example", 90)
    self_signed_pem(d / "dir" / "indir.pem", "indir.example", 400)
    self_signed_pem(d / "renewed.pem", "soon.example", 365)
    (d / "list.txt").write_text(f"{d}/listed.pem\n")
    return d


def poll(address: str, **certificates: object) -> tuple[dict, Poller]:
    store = Store(30)
    poller = Poller(build_config({"haproxy": {"address": address}, "certificates": certificates}), store)
    assert poller.poll_once()
    return samples(b"".join(p.text for p in store.parts()).decode()), poller


def listed(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith(("#", "*"))]


def test_every_certificate_haproxy_lists_with_openssls_dates(haproxy_factory, certs: Path) -> None:
    hap = haproxy_factory(CFG.replace("CERTS", str(certs)), nports=1)
    files = listed(hap.cmd("show ssl cert"))
    assert sorted(files) == sorted(str(certs / f) for f in ("soon.pem", "listed.pem", "dir/indir.pem"))
    got, _ = poll(hap.admin)
    for file in files:
        assert value(got, "haproxy_ssl_certificate_not_after_timestamp_seconds", file=file) == not_after(Path(file))
        assert value(got, "haproxy_ssl_certificate_used", file=file) == 1
    left = value(got, "haproxy_ssl_certificate_not_after_timestamp_seconds", file=str(certs / "soon.pem")) - time.time()
    assert 9 * 86400 < left <= 10 * 86400  # the one the expiry alert is for
    assert value(got, "haproxy_exporter_source_success", source="certificates") == 1


def test_an_uncommitted_renewal_is_not_live_until_committed(haproxy_factory, certs: Path) -> None:
    hap = haproxy_factory(CFG.replace("CERTS", str(certs)), nports=1)
    soon, renewed = certs / "soon.pem", certs / "renewed.pem"
    answer = hap.cmd(f"set ssl cert {soon} <<\n{renewed.read_text()}\n")  # the test's own admin connection
    assert "Transaction created" in answer or "Transaction updated" in answer, answer
    assert f"*{soon}" in hap.cmd("show ssl cert")
    store = Store(30)
    poller = Poller(build_config({"haproxy": {"address": hap.admin}, "certificates": {"refresh_interval": "200ms"}}),
                    store)
    assert poller.poll_once()
    page = b"".join(p.text for p in store.parts()).decode()
    assert value(samples(page), "haproxy_ssl_certificate_not_after_timestamp_seconds", file=str(soon)) == not_after(soon)
    assert "*" not in "".join(k[1][0][1] for k in samples(page) if k[0].startswith("haproxy_ssl_certificate_"))
    committed = hap.cmd(f"commit ssl cert {soon}")
    assert "Success" in committed, committed
    time.sleep(0.3)  # past the refresh interval: the list and the certificates are read again
    assert poller.poll_once()
    got = samples(b"".join(p.text for p in store.parts()).decode())
    assert value(got, "haproxy_ssl_certificate_not_after_timestamp_seconds", file=str(soon)) == not_after(renewed)


def test_a_socket_at_level_user_costs_only_the_certificates(haproxy_factory, certs: Path) -> None:
    hap = haproxy_factory(CFG.replace("CERTS", str(certs)), nports=1)
    got, _ = poll(hap.user)
    assert value(got, "haproxy_up") == 1
    assert value(got, "haproxy_exporter_source_success", source="certificates") == 0
    assert value(got, "haproxy_exporter_command_errors_total", command="show ssl cert", reason="permission_denied") == 1
    assert not [k for k in got if k[0].startswith("haproxy_ssl_certificate_")]
    assert value(got, "haproxy_frontend_status", proxy="fe_tls", state="UP") == 1


def test_disabled_sends_no_ssl_command(haproxy_factory, certs: Path) -> None:
    hap = haproxy_factory(CFG.replace("CERTS", str(certs)), nports=1)
    got, _ = poll(hap.admin, enabled=False)
    assert not [k for k in got if "ssl cert" in str(k) or k[0].startswith("haproxy_ssl_certificate_")]
