from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from support import wait_for

from testkit.servers import DelayedOrigin

STATES_CFG = (Path(__file__).parent / "states.cfg").read_text()

# What each server of states.cfg must show once settled, written out independently of the code.
EXPECTED_STATUS = {
    ("be_app", "up1"): ("UP", "UP"),
    ("be_app", "down1"): ("DOWN", "DOWN"),
    ("be_app", "maint1"): ("MAINT", "MAINT"),
    ("be_app", "drain1"): ("DRAIN", "DRAIN"),
    ("be_app", "nocheck1"): ("no check", "UP"),
    ("be_app", "bk1"): ("UP", "UP"),
    ("be_track", "via1"): ("MAINT (via be_app/maint1)", "MAINT"),
    ("be_down", "d1"): ("DOWN", "DOWN"),
    ("be_down", "sts1"): ("DOWN", "DOWN"),
}


@pytest.fixture
def states_haproxy(haproxy_factory):
    """HAProxy with servers in every state, some traffic, and health checks settled."""
    hap = haproxy_factory(STATES_CFG)
    hap.cmd("set server be_app/drain1 state drain")

    def settled() -> bool:
        rows = {(r["pxname"], r["svname"]): r for r in hap.stat()}
        return all(rows[key]["status"] == status for key, (status, _) in EXPECTED_STATUS.items()) and \
            rows[("be_down", "sts1")]["check_status"] == "L7STS"

    wait_for(settled, 15, "servers did not reach their expected states")
    for _ in range(6):
        assert hap.get(0) == 200
    assert hap.get(0, "/down") == 503  # no usable server: HAProxy answers itself
    return hap


@pytest.fixture
def origin() -> Iterator[DelayedOrigin]:
    """An HTTP origin answering after known delays (~5 ms, /slow ~200 ms): the log tests' oracle."""
    served = DelayedOrigin(fast=0.005, slow=0.2)
    yield served
    served.close()
