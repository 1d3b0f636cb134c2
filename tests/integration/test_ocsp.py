"""Stapled OCSP responses on a real HAProxy of every version: one good, one revoked, made by the test
with openssl's OCSP responder code and loaded by HAProxy beside their certificates.

The oracle is openssl reading the response files (``ocsp -respin ... -text``), and HAProxy's own
``show ssl ocsp-response`` read by the test.
"""

from __future__ import annotations

import re
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest
from exposition import samples, value
from support import ADMIN_HTTP_HEAD

from exporter.config import build_config
from exporter.poll.poller import Poller
from exporter.poll.snapshot import Store
from testkit.tlscerts import ocsp_stapled

CFG = ADMIN_HTTP_HEAD.replace("level admin", "level admin\n    stats socket {user} mode 600 level user") + """
frontend fe_tls
    bind 127.0.0.1:{p0} ssl crt GOOD crt REVOKED
    http-request return status 200
"""


def openssl_says(response: Path) -> dict[str, str]:
    text = subprocess.run(["openssl", "ocsp", "-respin", str(response), "-text", "-noverify"], check=True,
                          capture_output=True, text=True, timeout=60).stdout
    return {k: v.strip() for k, v in re.findall(r"^\s*(Cert Status|Next Update|This Update): (.*)$", text, flags=re.M)}


def epoch(text: str) -> int:
    return int(datetime.strptime(" ".join(text.split()), "%b %d %H:%M:%S %Y GMT").replace(tzinfo=timezone.utc).timestamp())


@pytest.fixture
def stapled(tmp_path: Path) -> dict[str, Path]:
    return ocsp_stapled(tmp_path / "ocsp", {"good.example": "good", "revoked.example": "revoked"})


def poll(address: str) -> dict:
    store = Store(30)
    assert Poller(build_config({"haproxy": {"address": address}}), store).poll_once()
    return samples(b"".join(p.text for p in store.parts()).decode())


def test_each_stapled_response_as_openssl_reads_it(haproxy_factory, haproxy_bin, stapled: dict[str, Path]) -> None:
    hap = haproxy_factory(CFG.replace("GOOD", str(stapled["good.example"])).replace("REVOKED", str(stapled["revoked.example"])),
                          nports=1)
    listing = hap.cmd("show ssl ocsp-response")
    serials = re.findall(r"Serial Number: (\w+)", listing)
    assert len(serials) == 2, listing
    got = poll(hap.admin)
    for pem in stapled.values():
        serial = subprocess.run(["openssl", "x509", "-noout", "-serial", "-in", str(pem)], check=True,
                                capture_output=True, text=True, timeout=60).stdout.split("=")[1].strip()
        assert serial in serials
        want = openssl_says(Path(f"{pem}.ocsp"))
        labels = {"serial": serial} if haproxy_bin.name.startswith("2.6") else {"serial": serial, "file": str(pem)}
        assert value(got, "haproxy_ssl_ocsp_response_next_update_timestamp_seconds", **labels) == epoch(want["Next Update"])
        assert value(got, "haproxy_ssl_ocsp_response_status", **labels, state=want["Cert Status"]) == 1
    assert value(got, "haproxy_exporter_source_success", source="ocsp") == 1


def test_level_user(haproxy_factory, haproxy_bin, stapled: dict[str, Path]) -> None:
    """HAProxy 3.4 refuses the list below admin: counted, the rest exported; older ones answer it."""
    hap = haproxy_factory(CFG.replace("GOOD", str(stapled["good.example"])).replace("REVOKED", str(stapled["revoked.example"])),
                          nports=1)
    refused = hap.cmd("show ssl ocsp-response", hap.user).startswith("Permission denied")
    got = poll(hap.user)
    assert value(got, "haproxy_up") == 1
    served = [k for k in got if k[0].startswith("haproxy_ssl_ocsp_response_")]
    if refused:
        assert value(got, "haproxy_exporter_command_errors_total", command="show ssl ocsp-response",
                     reason="permission_denied") == 1
        assert served == []
    else:
        assert served and value(got, "haproxy_exporter_source_success", source="ocsp") == 1
