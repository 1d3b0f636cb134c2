"""The registry is the one door between the poll and the sources, on a real HAProxy.

The level probe it declares: a socket below what a configured source needs is said once, in one
line naming each such source, at every version (the level is HAProxy's own answer, read here with
the test's own socket reader).
"""

from __future__ import annotations

import logging

import pytest

from exporter.config import build_config
from exporter.poll.poller import Poller
from exporter.poll.snapshot import Store

CFG = """
global
    stats socket {admin} mode 600 level admin
    stats socket {user} mode 600 level user
    stats socket {dir}/operator.sock mode 600 level operator
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe_main
    bind 127.0.0.1:{p0}
    stick-table type ip size 100 expire 10m store gpc0
    http-request return status 200
"""


@pytest.fixture
def haproxy(haproxy_factory):
    return haproxy_factory(CFG, nports=1)


@pytest.mark.parametrize("socket_level", ["user", "operator", "admin"])
def test_a_socket_below_a_configured_source_is_said_once(haproxy, socket_level: str,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    address = {"user": haproxy.user, "operator": str(haproxy.dir / "operator.sock"), "admin": haproxy.admin}
    assert haproxy.cmd("show cli level", address[socket_level]).strip() == socket_level
    config = build_config({"haproxy": {"address": address[socket_level]}, "stick_tables": [{"name": "fe_main"}],
                           "errors": {"enabled": True}})
    poller = Poller(config, Store(30))
    with caplog.at_level(logging.WARNING, logger="exporter.poll"):
        for _ in range(3):
            assert poller.poll_once()
    said = [r.getMessage() for r in caplog.records if "the socket is at level" in r.getMessage()]
    if socket_level == "admin":
        assert said == []
        return
    assert len(said) == 1, said
    assert said[0].startswith(f"the socket is at level {socket_level}: "), said
    needs = set(said[0].split(": ", 1)[1].split(", so part of it")[0].split(", "))
    # What docs/sources.md and docs/sticktables.md say each needs: stick-table entries, certificates
    # and captured errors operator; the OCSP updater admin (HAProxy logs a warning below it).
    assert needs == ({"ocsp_updates needs admin"} if socket_level == "operator" else {
        "sticktables needs operator", "certificates needs operator", "errors needs operator",
        "ocsp_updates needs admin"}), said
