"""Stick tables on a real HAProxy: exported entries equal what ``show table`` says, read directly.

Tables of every key type are filled by real HTTP traffic (urllib / http.client through frontends
that track the client) and, in setup only, by ``set table`` on the admin socket.  The test reads
``show table <name>`` itself just before and just after the exporter's poll: counters that do not
move must match exactly, and rates (which decay) and ``exp`` (which counts down) must lie between
the two readings.  The key labels are checked against the keys the test sent, escaped here the
way HAProxy escapes them, so neither side borrows the exporter's parser.
"""

from __future__ import annotations

import base64
import http.client
import logging
import re
import socket
import tracemalloc

import pytest
from exposition import label_bytes, samples, value
from support import answering, raw_command

from exporter.config import build_config
from exporter.poll.poller import Poller
from exporter.poll.process import make_client
from exporter.poll.snapshot import Store
from testkit.runtime import pipelined, raw_bytes

CFG = """
global
    stats socket {admin} level admin
    stats socket {user} level user
    stats timeout 10s
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe_web
    bind 127.0.0.1:{p0}
    bind [::1]:{p0}
    stick-table type ip size 100 expire 10m store gpc0,gpt0,conn_cnt,conn_cur,http_req_cnt,http_req_rate(10s),bytes_out_cnt
    http-request track-sc0 src
    http-request track-sc1 src table st_ip6
    http-request track-sc2 req.hdr(x-user) table st_str if {{ req.hdr(x-user) -m found }}
    http-request sc-inc-gpc0(0)
    http-request sc-inc-gpc(1,1)
    http-request sc-set-gpt0(0) 1 if {{ path_beg /block }}
    http-request sc-inc-gpc0(2) if {{ req.hdr(x-user) -m found }}
    use_backend be_app if {{ path_beg /app }}
    use_backend be_bin if {{ req.hdr(x-bin) -m found }}
    http-request return status 200 unless {{ path_beg /app }} || {{ req.hdr(x-bin) -m found }}
backend st_ip6
    stick-table type ipv6 size 100 expire 10m store http_req_cnt,gpc(2),gpt(2),gpc_rate(2,10s)
backend st_str
    stick-table type string len 48 size 100 expire 10m store gpc0,http_req_cnt,http_req_rate(10s)
backend be_bin
    stick-table type binary len 8 size 100 expire 10m store gpc0,http_req_cnt
    http-request track-sc2 req.hdr(x-bin),b64dec
    http-request sc-inc-gpc0(2)
    http-request return status 200
backend st_int
    stick-table type integer size 1000 expire 10m store gpc0,conn_cnt
backend st_keys
    stick-table type string len 16 size 100 expire 10m store gpc0
backend be_app
    stick-table type ip size 100 expire 10m store server_id,server_key
    stick on src
    server s1 127.0.0.1:{p1}
frontend fe_origin
    bind 127.0.0.1:{p1}
    http-request return status 200
"""

TABLES = ("fe_web", "st_ip6", "st_str", "be_bin", "st_int", "be_app", "st_keys")
USERS = ["alice", "bob smith", "eq=sign", "back\\slash", 'quo"te', "tab\there", "café", "x" * 40]
INT_KEYS = {0: 5, 7: 3, 4294967295: 1}
# Keys set with set table (the CLI unescapes a doubled backslash): the byte 0xFF and the text \xff,
# which once made one label, and others with a backslash or UTF-8.  bytes of the key → its gpc0.
BYTE_KEYS = {b"\xff": 1, b"\\xff": 2, b"caf\xc3\xa9": 3, b"a\\b": 4, b"\xc3(": 5, b"\\\\": 6}


def cli_key(key: bytes) -> bytes:
    """A key as a CLI argument: the CLI takes a backslash as an escape, and a doubled one as itself."""
    return key.replace(b"\\", b"\\\\")


def haproxy_unescape(printed: str) -> bytes:
    """A string key's bytes from HAProxy's printed form (dump_text: \\ , \\=, \\\\, \\t, \\n, \\r, \\e,
    \\xNN), read here independently of the exporter."""
    simple = {"t": b"\t", "n": b"\n", "r": b"\r", "e": b"\x1b"}
    out, pos = bytearray(), 0
    while pos < len(printed):
        if printed[pos] != "\\":
            out += printed[pos].encode()
            pos += 1
        elif printed[pos + 1] == "x":
            out.append(int(printed[pos + 2:pos + 4], 16))
            pos += 4
        else:
            out += simple.get(printed[pos + 1], printed[pos + 1].encode())
            pos += 2
    return bytes(out)


def haproxy_escape(text: str) -> str:
    """How HAProxy prints a string key (written from observed dumps, independent of the exporter)."""
    out = []
    for byte in text.encode("utf-8"):
        ch = chr(byte)
        if ch in " =\\":
            out.append("\\" + ch)
        elif ch == "\t":
            out.append("\\t")
        elif 0x20 < byte < 0x7F:
            out.append(ch)
        else:
            out.append(f"\\x{byte:02X}")
    return "".join(out)


def request(host: str, port: int, path: str = "/", headers: dict[str, str] | None = None) -> int:
    conn = http.client.HTTPConnection(host, port, timeout=5)
    try:
        conn.request("GET", path, headers=headers or {})
        return conn.getresponse().status
    finally:
        conn.close()


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.fixture
def tables_haproxy(haproxy_factory):
    if not ipv6_loopback():
        pytest.skip("no IPv6 loopback")
    hap = haproxy_factory(CFG, nports=2)
    port = hap.ports[0]
    for _ in range(3):
        assert request("127.0.0.1", port) == 200
    assert request("::1", port) == 200
    assert request("127.0.0.1", port, "/block") == 200
    assert request("127.0.0.1", port, "/app") == 200
    for user in USERS:
        # http.client sends the header bytes as latin-1: encode UTF-8 first so HAProxy sees UTF-8.
        assert request("127.0.0.1", port, headers={"x-user": user.encode().decode("latin-1")}) == 200
    for raw in (b"\x00\xff\n A", b"\x01\x02\x03\x04\x05\x06\x07\x08"):
        assert request("127.0.0.1", port, headers={"x-bin": base64.b64encode(raw).decode()}) == 200
    # set table in setup only (the exporter never writes), pipelined on one connection with ';'
    hap.cmd(";".join(f"set table st_int key {k} data.gpc0 {v} data.conn_cnt {v * 2}" for k, v in INT_KEYS.items()))
    hap.cmd("set table st_ip6 key 2001:db8::1 data.http_req_cnt 9")
    hap.cmd("set table fe_web key 10.0.0.9 data.gpt0 1 data.gpc0 100;set table fe_web key 10.0.0.8 data.gpc0 3")
    for key, gpc in BYTE_KEYS.items():
        assert raw_bytes(hap.admin, b"set table st_keys key " + cli_key(key) + b" data.gpc0 %d" % gpc) == b"\n"
    return hap


def poll(address: str, tables: list[object], fetch=None) -> tuple[bool, dict, str]:  # type: ignore[no-untyped-def]
    config = build_config({"haproxy": {"address": address}, "stick_tables": tables})
    store = Store(30)
    poller = Poller(config, store, connect=make_client if fetch is None else answering(fetch))
    ok = poller.poll_once()
    text = b"".join(p.text for p in store.parts()).decode()
    return ok, samples(text), text


_ENTRY = re.compile(r"0x[0-9a-f]+: key=((?:\\.|[^\\ ])*) (.*)")


def read_dump(hap, command: str) -> dict[str, dict[str, str]]:
    """``show table`` read directly: {key as printed: {token name: value}}."""
    text = raw_command(hap.admin, command)
    entries = {}
    for line in text.splitlines()[1:]:
        if line:
            m = _ENTRY.fullmatch(line)
            assert m, line
            entries[m.group(1)] = dict(tok.split("=", 1) for tok in m.group(2).split(" "))
    return entries


def series_for(token: str) -> tuple[str, dict[str, str]]:
    """Metric name and extra labels the documentation promises for one dump token."""
    m = re.fullmatch(r"(gpc|gpt)(\d+)(_rate)?(?:\((\d+)\))?|([a-z_]+)(?:\((\d+)\))?", token)
    assert m, token
    if m.group(1):
        name, extra = m.group(1) + (m.group(3) or ""), {"index": m.group(2)}
        period = m.group(4)
    else:
        name, extra, period = m.group(5), {}, m.group(6)
    if period:
        ms = int(period)
        extra["period"] = f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"
    names = {"use": "use", "exp": "expire_seconds"}
    return "haproxy_sticktable_entry_" + names.get(name, name), extra


def table_value(got: dict, metric: str, **labels: str) -> float | None:
    """Like exposition.value, for the summary families whose label is called ``name``."""
    labels["name"] = labels.pop("table_name")
    return got.get((metric, tuple(sorted(labels.items()))))


def label_of(printed: str, table: str, got: dict) -> str:
    """The exported key label of an entry: for a string key, the one label (of the table's) that
    reads back to the key's bytes; each key must have exactly one."""
    if table not in ("st_str", "st_keys"):
        return printed
    keys = {dict(lab)["key"] for name, lab in got if name == "haproxy_sticktable_entry_use" and dict(lab)["table"] == table}
    found = [label for label in keys if label_bytes(label) == haproxy_unescape(printed)]
    assert len(found) == 1, (printed, found)
    return found[0]


def test_entries_equal_show_table_for_every_key_type(tables_haproxy) -> None:
    hap = tables_haproxy
    before = {t: read_dump(hap, f"show table {t}") for t in TABLES}
    ok, got, text = poll(hap.admin, [{"name": t} for t in TABLES])
    after = {t: read_dump(hap, f"show table {t}") for t in TABLES}
    assert ok
    assert set(before["st_str"]) == {haproxy_escape(u[:48]) for u in USERS}  # the keys arrived as sent
    assert {"::1", "::ffff:127.0.0.1", "2001:db8::1"} == set(before["st_ip6"])
    assert set(before["st_int"]) == {str(k) for k in INT_KEYS}
    assert set(before["be_bin"]) == {"00FF0A2041000000", "0102030405060708"}
    assert {haproxy_unescape(k) for k in before["st_str"]} == {u.encode()[:48] for u in USERS}
    assert {haproxy_unescape(k) for k in before["st_keys"]} == set(BYTE_KEYS)
    assert before["be_app"]["127.0.0.1"]["server_key"] == "s1"
    compared = 0
    for table in TABLES:
        assert set(before[table]) == set(after[table]), table
        for printed, fields in before[table].items():
            labels = {"table": table, "key": label_of(printed, table, got)}
            for token, cell in fields.items():
                if token == "shard":
                    continue
                if token == "server_key":
                    assert value(got, "haproxy_sticktable_entry_server_key_info", server=cell, **labels) == 1
                    continue
                name, extra = series_for(token)
                exported = value(got, name, **labels, **extra)
                assert exported is not None, (table, printed, token)
                lo, hi = sorted((int(cell), int(after[table][printed][token])))
                scale = 1000 if token == "exp" else 1
                assert lo <= exported * scale <= hi, (table, printed, token, exported, cell)
                compared += 1
        assert value(got, "haproxy_sticktable_entries_seen", table=table) == len(before[table])
        assert value(got, "haproxy_sticktable_entries_dropped", table=table) == 0
    assert compared > 100
    # The key label of a string key is the text that was sent, however odd.
    assert value(got, "haproxy_sticktable_entry_gpc", table="st_str", key='quo"te', index="0") == 1
    assert value(got, "haproxy_sticktable_entry_http_req_cnt", table="st_str", key="tab\there") == 1
    assert value(got, "haproxy_sticktable_entry_gpc", table="st_str", key="x" * 40, index="0") == 1


def test_string_keys_keep_their_bytes_apart(tables_haproxy) -> None:
    """The byte 0xFF and the text \\xff were one label (one entry lost); each key is now its own
    label, read back to the key's bytes as docs/sticktables.md says."""
    hap = tables_haproxy
    printed = read_dump(hap, "show table st_keys")
    assert "\\xFF" in printed and "\\\\xff" in printed  # HAProxy itself tells the two apart
    ok, got, text = poll(hap.admin, [{"name": "st_keys"}])
    assert ok
    exported = {dict(lab)["key"]: v for (name, lab), v in got.items() if name == "haproxy_sticktable_entry_gpc"}
    assert {label_bytes(label): v for label, v in exported.items()} == BYTE_KEYS
    assert exported["\\xff"] == 1 and exported["\\\\xff"] == 2 and exported["café"] == 3
    assert exported["a\\\\b"] == 4 and exported["\\xc3("] == 5 and exported["\\\\\\\\"] == 6
    assert value(got, "haproxy_exporter_invalid_values_total") == 0


def test_summary_equals_show_table_on_every_table(tables_haproxy) -> None:
    hap = tables_haproxy
    ok, got, _ = poll(hap.admin, [])
    assert ok
    lines = [line for line in raw_command(hap.admin, "show table").splitlines() if line]
    assert len(lines) == len(TABLES)
    for line in lines:
        m = re.fullmatch(r"# table: (\S+), type: (\S+), size:(\d+), used:(\d+)", line)
        assert m, line
        name, kind, size, used = m.groups()
        assert table_value(got, "haproxy_sticktable_size", table_name=name, type=kind) == int(size)
        assert table_value(got, "haproxy_sticktable_used", table_name=name, type=kind) == int(used)
        assert table_value(got, "haproxy_sticktable_utilization_ratio", table_name=name, type=kind) == int(used) / int(size)
    assert not [k for k in got if k[0].startswith("haproxy_sticktable_entry")]  # nothing configured


def test_filter_passes_only_blocked_clients(tables_haproxy) -> None:
    hap = tables_haproxy
    blocked = read_dump(hap, "show table fe_web data.gpt0 gt 0")
    everything = read_dump(hap, "show table fe_web")
    assert set(blocked) == {"127.0.0.1", "10.0.0.9"} and set(everything) - set(blocked)  # a real choice
    ok, got, _ = poll(hap.admin, [{"name": "fe_web", "filters": ["data.gpt0 gt 0"]}])
    assert ok
    exported = {dict(lab)["key"] for name, lab in got if name == "haproxy_sticktable_entry_gpt"}
    assert exported == set(blocked)
    assert value(got, "haproxy_sticktable_entries_seen", table="fe_web") == len(blocked)
    for key, fields in blocked.items():
        assert value(got, "haproxy_sticktable_entry_gpc", table="fe_web", key=key, index="0") == int(fields["gpc0"])


def test_cap_keeps_the_top_entries_and_counts_the_rest(haproxy_factory) -> None:
    hap = haproxy_factory(CFG, nports=2)
    n, cap = 300, 20
    pipelined(hap.admin, [f"set table st_int key {i} data.gpc0 {(i * 37) % n} data.conn_cnt {i}" for i in range(n)], 50)
    direct = read_dump(hap, "show table st_int")
    assert len(direct) == n
    top = sorted(direct, key=lambda k: int(direct[k]["gpc0"]), reverse=True)[:cap]
    ok, got, _ = poll(hap.admin, [{"name": "st_int", "max_entries": cap, "sort_by": "gpc0"}])
    assert ok
    exported = {dict(lab)["key"]: v for (name, lab), v in got.items()
                if name == "haproxy_sticktable_entry_gpc" and dict(lab)["table"] == "st_int"}
    assert set(exported) == set(top)
    assert all(exported[k] == int(direct[k]["gpc0"]) for k in top)
    assert value(got, "haproxy_sticktable_entries_seen", table="st_int") == n
    assert value(got, "haproxy_sticktable_entries_exported", table="st_int") == cap
    assert value(got, "haproxy_sticktable_entries_dropped", table="st_int") == n - cap
    assert table_value(got, "haproxy_sticktable_used", table_name="st_int", type="integer") == n


def test_level_user_socket_keeps_the_rest_and_says_why(tables_haproxy, caplog) -> None:
    hap = tables_haproxy
    assert "insufficient privileges" in raw_command(hap.user, "show table fe_web")
    with caplog.at_level(logging.INFO):
        ok, got, _ = poll(hap.user, [{"name": "fe_web"}, {"name": "st_int"}])
    assert ok and value(got, "haproxy_up") == 1
    assert value(got, "haproxy_exporter_command_errors_total", command="show table fe_web",
                 reason="permission_denied") == 1
    assert value(got, "haproxy_exporter_command_success", command="show table fe_web") == 0
    assert value(got, "haproxy_exporter_command_success", command="show table") == 1
    assert not [k for k in got if k[0].startswith("haproxy_sticktable_entr")]
    for t in TABLES:  # the summary is allowed at level user
        assert table_value(got, "haproxy_sticktable_used", table_name=t, type={
            "st_ip6": "ipv6", "st_str": "string", "st_keys": "string", "be_bin": "binary", "st_int": "integer"}.get(t, "ip")
        ) is not None
    assert value(got, "haproxy_frontend_http_requests_total", proxy="fe_web") is not None
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len([w for w in warnings if "show table fe_web" in w]) == 1
    assert any("insufficient privileges" in w for w in warnings)


def test_missing_table_and_refused_filter_cost_only_their_own_series(tables_haproxy) -> None:
    hap = tables_haproxy
    ok, got, _ = poll(hap.admin, [{"name": "nope"}, {"name": "st_int", "filters": ["data.http_req_cnt gt 0"]},
                                  {"name": "fe_web"}])
    assert ok
    assert value(got, "haproxy_exporter_command_errors_total", command="show table nope",
                 reason="no_such_table") == 1
    assert value(got, "haproxy_exporter_command_errors_total", command="show table st_int",
                 reason="bad_filter") == 1
    assert value(got, "haproxy_sticktable_entries_seen", table="fe_web") == len(read_dump(hap, "show table fe_web"))
    assert value(got, "haproxy_sticktable_entries_seen", table="st_int") is None


def test_only_show_commands_are_sent(tables_haproxy) -> None:
    hap = tables_haproxy
    sent: list[str] = []
    config = build_config({"haproxy": {"address": hap.admin}})
    client = make_client(config.poll_targets()[0])

    def recording(command: str) -> str:
        sent.append(command)
        return client.run(command)

    ok, _, _ = poll(hap.admin, [{"name": t, "filters": ["data.gpc0 ge 0"]} for t in ("fe_web", "st_int")], recording)
    assert ok
    # First what the socket is (a master CLI would answer show proc) and its level, then the poll.
    assert sent == ["show proc", "show cli level", "show info", "show stat", "show table",
                    "show table fe_web data.gpc0 ge 0", "show table st_int data.gpc0 ge 0", "show resolvers",
                    "show ssl cert", "show ssl ocsp-response", "show ssl ocsp-updates", "show peers", "show map",
                    "show acl"]


BIG_CFG = """
global
    stats socket {admin} level admin
    stats timeout 30s
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{p0}
    http-request return status 200
backend st_big
    stick-table type ip size 100k expire 1h store gpc0,conn_cnt
"""


def test_a_big_dump_costs_about_its_text_and_the_kept_entries(haproxy_factory) -> None:
    """50,000 entries, the default cap of 1000: the dump is ranked while read, so a poll allocates
    about the dump's size at its peak (measured: 1.2 times; 6.3 times when every entry was made
    and then ranked), and exports the 1000 highest of conn_cnt (the default order's first stored
    type, which does not decay between two readings) of what HAProxy itself dumps."""
    hap = haproxy_factory(BIG_CFG, nports=1)
    count = 50_000
    # set table in setup only, pipelined with ';' (150 to a line fit in the CLI's 16 kB)
    pipelined(hap.admin, [f"set table st_big key 10.{n >> 16}.{n >> 8 & 255}.{n & 255} data.gpc0 {n % 7} "
                          f"data.conn_cnt {(n * 7919) % count}" for n in range(count)], 150)
    dump = raw_command(hap.admin, "show table st_big", timeout=30)
    counts = {m.group(1): int(m.group(2)) for m in re.finditer(r"key=(\S+) .* conn_cnt=(\d+)", dump)}
    assert len(counts) == count
    config = build_config({"haproxy": {"address": hap.admin, "timeout": "30s"}, "stick_tables": [{"name": "st_big"}]})
    store = Store(30)
    poller = Poller(config, store)
    assert poller.poll_once()  # the first poll also asks what the socket is; the measured one reads only
    tracemalloc.start()
    try:
        assert poller.poll_once()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    got = samples(b"".join(p.text for p in store.parts()).decode())
    exported = {dict(labels)["key"] for (name, labels) in got if name == "haproxy_sticktable_entry_conn_cnt"}
    assert exported == {key for key, n in counts.items() if n >= count - 1000}  # conn_cnt: 0..count-1, once each
    assert value(got, "haproxy_sticktable_entries_seen", table="st_big") == count
    assert peak < 2 * len(dump), f"a poll of a {len(dump) / 1e6:.1f} MB dump allocated {peak / 1e6:.1f} MB"
