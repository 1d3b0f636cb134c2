"""A real resolvers section sending real queries (to a loopback port where nothing answers), on
every HAProxy version: each counter equals what ``show resolvers`` says, read by the test around
the poll."""

from __future__ import annotations

from exposition import samples, value
from support import resolver_counters, wait_for

from exporter.config import build_config
from exporter.poll.poller import Poller
from exporter.poll.snapshot import Store

CFG = """
global
    stats socket {admin} mode 600 level admin
resolvers dns1
    nameserver ns1 127.0.0.1:{p0}
    nameserver ns2 127.0.0.1:{p1}
    resolve_retries 1
    timeout resolve 100ms
    timeout retry 100ms
    hold valid 1s
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
backend be_dns
    server-template web 2 app.invalid:80 resolvers dns1 init-addr none
"""


def test_resolver_counters_equal_show_resolvers(haproxy_factory) -> None:
    hap = haproxy_factory(CFG, nports=2)
    wait_for(lambda: resolver_counters(hap.cmd("show resolvers")).get(("dns1", "ns1", "sent"), 0) > 0, 10,
             "HAProxy sent no DNS query")
    store = Store(30)
    before = resolver_counters(hap.cmd("show resolvers"))
    assert Poller(build_config({"haproxy": {"address": hap.admin}}), store).poll_once()
    after = resolver_counters(hap.cmd("show resolvers"))
    got = samples(b"".join(p.text for p in store.parts()).decode())
    checked = 0
    for (section, nameserver, name), low in before.items():
        exported = value(got, f"haproxy_resolver_{name}", resolver=section, nameserver=nameserver)
        assert low <= exported <= after[(section, nameserver, name)], (section, nameserver, name)
        checked += 1
    assert checked >= 30
    assert value(got, "haproxy_resolver_sent", resolver="dns1", nameserver="ns2") > 0
    assert value(got, "haproxy_exporter_source_success", source="resolvers") == 1
