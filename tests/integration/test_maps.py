"""Two map files, an ACL file and inline ACLs on a real HAProxy of every version, entries added and
deleted through the admin socket by the test: each exported count equals the number of entries
HAProxy itself lists for that file (``show map <file>`` / ``show acl <file>``, one line each)."""

from __future__ import annotations

import re

from exposition import samples, value

from exporter.config import build_config
from exporter.poll.poller import Poller
from exporter.poll.snapshot import Store

CFG = """
global
    stats socket {admin} mode 600 level admin
    stats socket {user} mode 600 level user
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe_web
    bind 127.0.0.1:{p0}
    acl blocked src -f {dir}/block.acl
    acl is_api path_beg /api /v1 /v2
    http-request deny if blocked
    http-request set-header X-Backend %[req.hdr(host),lower,map({dir}/hosts.map,be_app)]
    http-request set-header X-Geo %[src,map_ip({dir}/geo.map,unknown)]
    default_backend be_app
backend be_app
    server s1 127.0.0.1:{p1}
"""


def poll(address: str) -> dict:
    store = Store(30)
    Poller(build_config({"haproxy": {"address": address}}), store).poll_once()
    return samples(b"".join(p.text for p in store.parts()).decode())


def listed(hap, what: str, ref: str) -> int:
    """How many entries HAProxy lists for the file (one ``0x... pattern [value]`` line each)."""
    return len([line for line in hap.cmd(f"show {what} {ref}").split("\n") if re.match(r"0x[0-9a-f]+ ", line)])


def inline_acls(hap) -> list[tuple[str, int]]:
    return [(line.split()[0], int(line.rsplit("entry_cnt=", 1)[1]))
            for line in hap.cmd("show acl").split("\n") if " () " in line]


def test_entry_counts_equal_what_haproxy_lists(haproxy_factory) -> None:
    hap = haproxy_factory(CFG, nports=2, start=False)
    (hap.dir / "hosts.map").write_text("".join(f"h{i}.example be_{i}\n" for i in range(50)))
    (hap.dir / "geo.map").write_text("10.0.0.0/8 ten\n192.168.0.0/16 lan\n")
    (hap.dir / "block.acl").write_text("10.1.1.1\n10.2.2.2\n10.3.3.3\n")
    hap.start()
    hosts, geo, block = (str(hap.dir / name) for name in ("hosts.map", "geo.map", "block.acl"))
    # Changes through the runtime API, by the test's own admin connection (never the exporter).
    for i in range(50, 57):
        assert hap.cmd(f"add map {hosts} h{i}.example be_{i}").strip() == ""
    assert hap.cmd(f"del map {hosts} h0.example").strip() == ""
    assert hap.cmd(f"clear map {geo}").strip() == ""
    assert hap.cmd(f"add acl {block} 10.9.9.9").strip() == ""
    assert hap.cmd(f"del acl {block} 10.1.1.1").strip() == ""

    got = poll(hap.admin)
    assert value(got, "haproxy_exporter_source_success", source="maps") == 1
    expected = {hosts: 56, geo: 0}
    for ref, count in expected.items():
        assert listed(hap, "map", ref) == count
        assert value(got, "haproxy_map_entries", file=ref) == count, ref
    assert listed(hap, "acl", block) == 3
    assert value(got, "haproxy_acl_entries", file=block) == 3
    assert {k[1] for k in got if k[0] == "haproxy_map_entries"} == {(("file", f),) for f in expected}
    assert {k[1] for k in got if k[0] == "haproxy_acl_entries"} == {(("file", block),)}
    inline = inline_acls(hap)
    assert sum(n for _, n in inline) == sum(listed(hap, "acl", f"#{i}") for i, _ in inline)
    assert value(got, "haproxy_acl_inline_lists") == len(inline) >= 2  # src's own and path_beg's
    assert value(got, "haproxy_acl_inline_entries") == sum(n for _, n in inline) >= 3


def test_level_user_reads_the_listings_up_to_3_2_and_not_on_3_4(haproxy_factory, haproxy_bin) -> None:
    hap = haproxy_factory(CFG, nports=2, start=False)
    for name in ("hosts.map", "geo.map", "block.acl"):
        (hap.dir / name).write_text("")
    hap.start()
    got = poll(hap.user)
    denied = hap.cmd("show map", hap.user).startswith("Permission denied")
    assert denied == (haproxy_bin.name == "3.4")  # what each version was seen to do
    if denied:
        assert value(got, "haproxy_exporter_source_success", source="maps") == 0
        assert value(got, "haproxy_exporter_command_errors_total", command="show map", reason="permission_denied") == 1
        assert value(got, "haproxy_up") == 1  # only these series are lost
    else:
        assert value(got, "haproxy_exporter_source_success", source="maps") == 1
        assert value(got, "haproxy_map_entries", file=str(hap.dir / "hosts.map")) == 0
