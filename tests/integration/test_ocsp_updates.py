"""HAProxy's OCSP updater on a real HAProxy of every version: two certificates with ``[ocsp-update on]``,
one whose OCSP URI is a loopback responder the test runs (openssl answering, tests/ocspresponder.py),
one whose URI is a loopback port where nothing listens.  HAProxy runs in a +0530 time zone, as its
table's dates are in local time.

The oracle is HAProxy's own ``show ssl ocsp-updates`` read by the test (``str.split``, ``strptime``),
and the wall clock around the test.  2.6 has no updater: the exporter must count no error there.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from pathlib import Path

import pytest
from exposition import samples, value
from ocspresponder import Responder, updatable
from support import ADMIN_HTTP_HEAD, free_ports, promtool_check_metrics, wait_for

from exporter.config import build_config
from exporter.poll.poller import Poller
from exporter.poll.snapshot import Store

PREFIX = "haproxy_ssl_ocsp_update_"
COMMAND = "show ssl ocsp-updates"
# mindelay 30: after the first try of each certificate (at once, as neither has a response yet),
# the next is 30 to 60 s away, so the test's reading and the exporter's see the same table.
CFG = ADMIN_HTTP_HEAD.replace("level admin", "level admin\n    stats socket {user} mode 600 level user\n"
                              "    TUNE.mindelay 30\n    TUNE.maxdelay 60\n    httpclient.resolvers.disabled on") + """
frontend fe_tls
    bind 127.0.0.1:{p0} ssl crt-list CRTLIST
    http-request return status 200
"""
CFG_26 = ADMIN_HTTP_HEAD.replace("level admin", "level admin\n    stats socket {user} mode 600 level user") + """
frontend fe_tls
    bind 127.0.0.1:{p0} ssl crt-list CRTLIST
    http-request return status 200
"""


def table(text: str) -> dict[str, dict[str, str]]:
    lines = [line for line in text.split("\n") if line.strip()]
    assert lines[0].startswith("OCSP Certid"), text
    names = [c.strip() for c in lines[0].split("|")]
    found = [dict(zip(names, (c.strip() for c in line.split("|")))) for line in lines[1:]]
    return {row["Path"]: row for row in found}


def epoch(text: str) -> int:
    return int(datetime.strptime(text, "%d/%b/%Y:%H:%M:%S %z").timestamp())


def poll(address: str) -> tuple[dict, str]:
    store = Store(30)
    assert Poller(build_config({"haproxy": {"address": address}}), store).poll_once()
    page = b"".join(p.text for p in store.parts()).decode()
    return samples(page), page


def is_26(haproxy_bin) -> bool:
    return haproxy_bin.name.startswith("2.6")


@pytest.fixture
def updater(haproxy_factory, haproxy_bin, tmp_path: Path, monkeypatch):
    """A running HAProxy whose updater has tried each certificate once: (hap, pems, started)."""
    monkeypatch.setenv("TZ", "XST-5:30")  # HAProxy inherits it; the exporter must not care
    good_port, dead_port = free_ports(2)
    certs = updatable(tmp_path / "certs", {"good.example": f"http://127.0.0.1:{good_port}/",
                                           "fail.example": f"http://127.0.0.1:{dead_port}/"})
    option = "" if is_26(haproxy_bin) else " [ocsp-update on]"
    crt_list = tmp_path / "crt.list"
    crt_list.write_text("".join(f"{pem}{option}\n" for pem in certs.pems.values()))
    tune = "tune.ssl.ocsp-update" if haproxy_bin.name.startswith("2.") else "ocsp-update"
    cfg = (CFG_26 if is_26(haproxy_bin) else CFG.replace("TUNE", tune)).replace("CRTLIST", str(crt_list))
    with Responder(certs.dir, good_port) as responder:
        started = int(time.time())
        hap = haproxy_factory(cfg, nports=1)
        if not is_26(haproxy_bin):
            def tried() -> bool:
                rows = table(hap.cmd(COMMAND)).values()
                return len(rows) == 2 and all(int(r["Successes"]) + int(r["Failures"]) >= 1 for r in rows)

            wait_for(tried, 15, f"the updater did not try both certificates: {hap.cmd(COMMAND)}")
            assert responder.requests >= 1
        yield hap, certs.pems, started


def test_the_updater_as_haproxy_shows_it(updater, haproxy_bin) -> None:
    hap, pems, started = updater
    if is_26(haproxy_bin):
        pytest.skip("HAProxy 2.6 has no OCSP updater (test_2_6_counts_no_error)")
    got, page = poll(hap.admin)
    ended = time.time()
    rows = table(hap.cmd(COMMAND))
    assert set(rows) == {str(p) for p in pems.values()}
    for file, row in rows.items():
        assert "+0530" in row["Next Update"]
        assert value(got, PREFIX + "successes_total", file=file) == int(row["Successes"])
        assert value(got, PREFIX + "failures_total", file=file) == int(row["Failures"])
        assert value(got, PREFIX + "next_update_timestamp_seconds", file=file) == epoch(row["Next Update"])
        want_last = None if row["Last Update"] == "-" else epoch(row["Last Update"])
        assert value(got, PREFIX + "last_update_timestamp_seconds", file=file) == want_last
    good, fail = str(pems["good.example"]), str(pems["fail.example"])
    assert value(got, PREFIX + "successes_total", file=good) >= 1
    assert value(got, PREFIX + "failures_total", file=fail) >= 1
    assert value(got, PREFIX + "status", file=good, state="successful") == 1
    assert value(got, PREFIX + "status", file=fail, state="http_error") == 1
    assert value(got, PREFIX + "status", file=fail, state="successful") == 0
    # the dates are the real moments, whatever HAProxy's time zone: the offset was applied
    assert started - 1 <= value(got, PREFIX + "last_update_timestamp_seconds", file=good) <= ended + 1
    assert started + 29 <= value(got, PREFIX + "next_update_timestamp_seconds", file=fail) <= ended + 61
    assert value(got, "haproxy_exporter_source_success", source="ocsp_updates") == 1
    assert promtool_check_metrics(page) == []
    # show ssl ocsp-response lists the failing certificate with no response (its detail is empty):
    # no series for it, and no error for the ocsp source
    assert value(got, "haproxy_exporter_source_success", source="ocsp") == 1
    assert not [k for k in got if k[0] == "haproxy_exporter_command_errors_total"]
    assert [dict(k[1])["file"] for k in got if k[0] == "haproxy_ssl_ocsp_response_next_update_timestamp_seconds"] == [good]


def test_level_user(updater, haproxy_bin) -> None:
    """3.3+ refuse the command below admin: counted, the rest exported; 2.8 to 3.2 answer it."""
    hap, pems, _ = updater
    if is_26(haproxy_bin):
        pytest.skip("HAProxy 2.6 has no OCSP updater")
    refused = hap.cmd(COMMAND, hap.user).startswith("Permission denied")
    assert refused == (not haproxy_bin.name.startswith(("2.", "3.0", "3.1", "3.2")))
    got, _ = poll(hap.user)
    assert value(got, "haproxy_up") == 1
    served = [k for k in got if k[0].startswith(PREFIX)]
    if refused:
        assert value(got, "haproxy_exporter_command_errors_total", command=COMMAND, reason="permission_denied") == 1
        assert value(got, "haproxy_exporter_source_success", source="ocsp_updates") == 0
        assert served == []
    else:
        assert value(got, PREFIX + "successes_total", file=str(pems["good.example"])) >= 1


def test_2_6_counts_no_error(updater, haproxy_bin, caplog) -> None:
    hap, _, _ = updater
    if not is_26(haproxy_bin):
        pytest.skip("only HAProxy 2.6 lacks the command")
    assert hap.cmd(COMMAND).startswith("Unknown command")
    store = Store(30)
    poller = Poller(build_config({"haproxy": {"address": hap.admin}}), store)
    with caplog.at_level(logging.INFO, logger="exporter"):
        for _ in range(3):
            assert poller.poll_once()
    got = samples(b"".join(p.text for p in store.parts()).decode())
    assert value(got, "haproxy_exporter_source_success", source="ocsp_updates") == 1
    assert not [k for k in got if k[0] == "haproxy_exporter_command_errors_total" and ("command", COMMAND) in k[1]]
    assert not [k for k in got if k[0].startswith(PREFIX)]
    said = [r for r in caplog.records if COMMAND in r.getMessage()]
    assert [r.levelno for r in said] == [logging.INFO], [r.getMessage() for r in said]
