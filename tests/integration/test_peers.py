"""Two real HAProxys joined as peers on loopback, on every HAProxy version, the exporter reading one
of them through a level-user socket: the link is reported up as HAProxy's own ``show peers`` says,
then, once the other HAProxy is stopped, down, again as ``show peers`` says around the poll."""

from __future__ import annotations

from exposition import samples, value
from support import free_ports, haproxy_seconds, peer_links, wait_for

from exporter.config import build_config
from exporter.poll.poller import Poller
from exporter.poll.snapshot import Store
from exporter.sources.peers.naming import STATUSES

CFG = """
global
    stats socket {{admin}} mode 600 level admin
    stats socket {{user}} mode 600 level user
    localpeer {me}
peers mesh
    peer hap_a 127.0.0.1:{pa}
    peer hap_b 127.0.0.1:{pb}
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
backend st_src
    stick-table type ip size 1k expire 1m peers mesh store http_req_cnt
"""
LINK = ("mesh", "hap_b")


def established(fields: dict[str, str]) -> bool:
    return fields["session"] == "active" and fields["last_status"] == "ESTA"


def poll_between(hap) -> tuple[dict[str, str], dict, dict[str, str]]:
    """HAProxy's own view of the link just before and just after one poll, and the poll's samples."""
    store = Store(30)
    before = peer_links(hap.cmd("show peers"))[LINK]
    assert Poller(build_config({"haproxy": {"address": hap.user}}), store).poll_once()
    after = peer_links(hap.cmd("show peers"))[LINK]
    got = samples(b"".join(p.text for p in store.parts()).decode())
    assert value(got, "haproxy_exporter_source_success", source="peers") == 1
    return before, got, after


def exported_status(got: dict) -> str:
    ones = [s for s in STATUSES if value(got, "haproxy_peer_status", peers="mesh", peer="hap_b", status=s) == 1]
    assert len(ones) == 1, ones
    return ones[0]


def test_a_peer_link_up_then_down_as_show_peers_says(haproxy_factory) -> None:
    pa, pb = free_ports(2)
    hap_a = haproxy_factory(CFG.format(me="hap_a", pa=pa, pb=pb))
    hap_b = haproxy_factory(CFG.format(me="hap_b", pa=pa, pb=pb))
    wait_for(lambda: established(peer_links(hap_a.cmd("show peers"))[LINK]), 20, "the peers did not connect")

    before, got, after = poll_between(hap_a)
    assert established(before) and established(after)
    labels = {"peers": "mesh", "peer": "hap_b"}
    assert value(got, "haproxy_peer_connected", **labels) == 1
    assert exported_status(got) == "ESTA"
    age = value(got, "haproxy_peer_last_handshake_seconds", **labels)
    assert haproxy_seconds(before["last_hdshk"]) <= age <= haproxy_seconds(after["last_hdshk"])
    for field, name in (("new_conn", "new_connections_total"), ("rx_hbt", "heartbeats_received_total")):
        exported = value(got, f"haproxy_peer_{name}", **labels)
        assert int(before[field]) <= exported <= int(after[field]), field
    assert value(got, "haproxy_peer_connected", peers="mesh", peer="hap_a") is None  # the local peer: itself

    hap_b.stop()
    wait_for(lambda: not established(peer_links(hap_a.cmd("show peers"))[LINK]), 15,
             "show peers still says the link is established")
    before, got, after = poll_between(hap_a)
    assert not established(before) and not established(after)
    assert value(got, "haproxy_peer_connected", **labels) == 0
    assert exported_status(got) in {before["last_status"], after["last_status"]}
