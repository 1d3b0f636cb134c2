"""The syslog receiver on every HAProxy version: HAProxy sends its log lines as datagrams, over UDP
(``format rfc5424``) from one frontend and to a UNIX datagram socket (``format rfc3164``) from
another, real requests go through an origin with known delays, and the receivers feed real
tallies.  The oracle is HAProxy's own: each backend's and frontend's counts are the change of its
``show stat`` counters over the traffic (``hrsp_*``), the slow path's response times fall in the
bucket of its known delay, no datagram was cut or refused, the kernel dropped none, and HAProxy
dropped none either (``show info``'s ``DroppedLogs``, the only count of a UNIX socket's losses).
"""

from __future__ import annotations

import socket
import time
from typing import Iterator

import pytest
from support import HAProxy, settled_counters, stat_counters, stat_delta, timed_request, wait_for

from exporter.sources.logs.config import LogsConfig
from exporter.sources.logs.source import known_names
from exporter.sources.logs.syslog import SyslogConfig, SyslogReceiver
from exporter.sources.logs.tally import Tally, View
from exporter.sources.stat.parse import parse_stat
from testkit.servers import DelayedOrigin

# `log udp@HOST:PORT` and `log /path` are read alike by 2.6 to 3.4 (2.6 also takes `log HOST:PORT`).
CFG = """
global
    stats socket {admin} mode 600 level admin
defaults
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe_udp
    mode http
    option httplog
    log udp@127.0.0.1:@SYSLOG_PORT@ format rfc5424 local0
    bind 127.0.0.1:{p0}
    use_backend be_slow if {{ path_beg /slow }}
    default_backend be_fast
frontend fe_unix
    mode http
    option httplog
    log {dir}/log.sock format rfc3164 local0
    bind 127.0.0.1:{p1}
    default_backend be_unix
backend be_fast
    mode http
    balance roundrobin
    server f1 127.0.0.1:@ORIGIN@
    server f2 127.0.0.1:@ORIGIN@
backend be_slow
    mode http
    server s1 127.0.0.1:@ORIGIN@
backend be_unix
    mode http
    server u1 127.0.0.1:@ORIGIN@
"""
CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
RESPONSES = tuple(f"hrsp_{c}" for c in CLASSES) + ("hrsp_other",)


class Receiving:
    """A receiver feeding a tally of HAProxy's httplog lines under the syslog format's header."""

    def __init__(self, listen: str, syslog_format: str, hap: HAProxy) -> None:
        self.tally = Tally(LogsConfig(ring="x", format="httplog", ring_format=syslog_format, servers=True))
        self.tally.set_known(known_names(parse_stat(hap.cmd("show stat"))))
        self.receiver = SyslogReceiver(SyslogConfig(listen=listen, format=syslog_format), self.tally.feed)
        self.receiver.start()
        wait_for(lambda: self.receiver.up, 5, f"the receiver did not bind {listen}")

    def until(self, lines: int) -> View:
        wait_for(lambda: self.tally.view().lines >= lines, 10,
                 f"not every log line came: {self.tally.view().lines} of {lines}")
        return self.tally.view()


@pytest.fixture
def receiving() -> Iterator[list[Receiving]]:
    made: list[Receiving] = []
    yield made
    for one in made:
        one.receiver.close()


def udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def dropped_logs(hap: HAProxy) -> int:
    info = dict(line.split(": ", 1) for line in hap.cmd("show info").splitlines() if ": " in line)
    return int(info["DroppedLogs"])


def codes(view: View, scope: str, proxy: str) -> dict[int, int]:
    return {code: n for name, code, n in view.codes[scope] if name == proxy}


def histogram(view: View, scope: str, timer: str, *key: str) -> tuple[list[int], int]:
    found = [(counts, total) for labels, counts, total in view.histograms[(scope, timer)] if labels == key]
    assert len(found) == 1, (scope, timer, key, view.histograms[(scope, timer)])
    return found[0]


def test_udp_and_unix_syslog_lines_are_counted_as_haproxy_counts(haproxy_factory, origin: DelayedOrigin,
                                                                  receiving: list[Receiving]) -> None:
    port = udp_port()
    template = CFG.replace("@SYSLOG_PORT@", str(port)).replace("@ORIGIN@", str(origin.port))
    hap: HAProxy = haproxy_factory(template, nports=2)
    udp = Receiving(f"udp://127.0.0.1:{port}", "rfc5424", hap)
    unix = Receiving(f"unix://{hap.dir}/log.sock", "rfc3164", hap)
    receiving.extend((udp, unix))
    dropped = dropped_logs(hap)
    before = stat_counters(hap)
    sent = {"be_fast": [], "be_slow": [], "be_unix": []}
    for path, count in (("/fast", 30), ("/missing", 4), ("/error", 3), ("/slow", 6)):
        for n in range(count):
            sent["be_slow" if path == "/slow" else "be_fast"].append(timed_request(hap.ports[0], f"{path}/{n}"))
    for path, count in (("/fast", 12), ("/missing", 2), ("/error", 1)):
        for n in range(count):
            sent["be_unix"].append(timed_request(hap.ports[1], f"{path}/{n}"))
    after = settled_counters(hap)
    udp.until(43)
    unix.until(15)
    time.sleep(0.2)  # and nothing more comes
    views = {"fe_udp": udp.tally.view(), "fe_unix": unix.tally.view()}
    assert (views["fe_udp"].lines, views["fe_unix"].lines) == (43, 15)
    for frontend, backends in (("fe_udp", ("be_fast", "be_slow")), ("fe_unix", ("be_unix",))):
        view = views[frontend]
        assert view.rejected == {} and view.unexported == {}, (frontend, view.rejected, view.unexported)
        for scope, proxy in (("frontend", frontend), *(("backend", backend) for backend in backends)):
            row = (proxy, "FRONTEND" if scope == "frontend" else "BACKEND")
            exact = codes(view, scope, proxy)
            for cls in CLASSES:  # HAProxy's classes are the sums of the exact codes
                assert sum(n for code, n in exact.items() if str(code)[0] == cls[0]) == stat_delta(
                    before, after, row, f"hrsp_{cls}"), (proxy, cls, exact)
            assert sum(exact.values()) == stat_delta(before, after, row, *RESPONSES)
        for backend in backends:
            # Every response is a sample, per backend and per server, as show stat counts them
            counts, _ = histogram(view, "backend", "total", backend)
            assert sum(counts) == stat_delta(before, after, (backend, "BACKEND"), *RESPONSES) == len(sent[backend])
            for (proxy, server), _row in after.items():
                if proxy == backend and server not in ("BACKEND", "FRONTEND"):
                    counts, _ = histogram(view, "server", "response", backend, server)
                    assert sum(counts) == stat_delta(before, after, (backend, server), *RESPONSES), (backend, server)
            assert codes(view, "backend", backend) == {
                code: sum(1 for status, _ in sent[backend] if status == code) for code, _ in sent[backend]}
    # The slow path's 200 ms are in the (0.1, 0.25] bucket: its delay as HAProxy timed it
    bounds = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25)
    counts, total_ms = histogram(views["fe_udp"], "backend", "response", "be_slow")
    assert counts[bounds.index(0.25)] == sum(counts) == 6
    assert 6 * 200 <= total_ms <= 6 * 260
    for one in (udp, unix):
        receiver = one.receiver
        assert (receiver.truncated, receiver.refused, receiver.kernel_drops) == (0, 0, 0)
        assert not receiver.failures
    assert udp.receiver.datagrams == 43 and unix.receiver.datagrams == 15
    assert dropped_logs(hap) == dropped  # HAProxy could send every line
