"""The log source on every HAProxy version: real requests through real backends with known delays,
their log lines streamed from HAProxy's rings, and the histograms and codes held to two oracles
that are not the exporter: HAProxy's own counters (``show stat`` read by the test before and after
the traffic) and the client's clock and status codes.

* each backend's and server's histogram ``_count`` is the change of its responses in ``show stat``,
  and the exact codes add up to its ``hrsp_*`` classes, frontends' too;
* ``_sum / _count`` is the mean the client measured, within a few ms (the client also times its
  own connect and read, so it sees a little more, never less);
* the same for ``tcplog`` (sessions) and a custom ``log-format``;
* a restart of HAProxy does not reset the histograms, and the stream comes back by itself, once
  (no second reconnect when the poll then sees the new pid);
* a ``-sf`` reload moves the stream to the new process;
* below level operator, and for a ring HAProxy does not have, the stream's refusal is counted and
  the rest of the poll is exported.
"""

from __future__ import annotations

import http.client as http_client
import statistics
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterator

import pytest
from exposition import samples, value
from support import HAProxy, promtool_check_metrics, settled_counters, stat_counters, stat_delta, timed_request, wait_for

from exporter.config import TargetConfig, build_config
from exporter.poll.poller import Poller
from exporter.poll.snapshot import Store
from exporter.runtime.address import parse_address
from exporter.runtime.client import RuntimeClient
from exporter.sources import registry
from exporter.sources.logs.config import LogsConfig
from exporter.sources.logs.tally import Known, Tally
from exporter.validation import ConfigError
from testkit.servers import DelayedOrigin

CUSTOM = "%ci:%cp [%tr] %ft %b/%s TR=%TR Tw=%Tw Tc=%Tc Tr=%Tr Ta=%Ta %ST %B %tsc %rc"
CFG = """
global
    stats socket {admin} mode 600 level admin
    stats socket {user} mode 600 level user
ring httplog
    format raw
    maxlen 2048
    size 1048576
ring small
    format raw
    maxlen 2048
    size 32768
ring tcplog
    format rfc3164
    maxlen 2048
    size 1048576
ring custom
    format iso
    maxlen 2048
    size 1048576
defaults
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe_http
    mode http
    option httplog
    log ring@httplog local0
    log ring@small local0
    bind 127.0.0.1:{p0}
    use_backend be_slow if {{ path_beg /slow }}
    default_backend be_fast
frontend fe_custom
    mode http
    log ring@custom local0
    log-format "%s"
    bind 127.0.0.1:{p1}
    default_backend be_fast
frontend fe_tcp
    mode tcp
    option tcplog
    log ring@tcplog local0
    bind 127.0.0.1:{p2}
    default_backend be_tcp
backend be_fast
    mode http
    balance roundrobin
    server f1 127.0.0.1:{origin}
    server f2 127.0.0.1:{origin}
backend be_slow
    mode http
    server s1 127.0.0.1:{origin}
backend be_tcp
    mode tcp
    server t1 127.0.0.1:{origin}
""".replace('log-format "%s"', f'log-format "{CUSTOM}"')
CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")


@pytest.fixture
def logged(haproxy_factory, origin: DelayedOrigin) -> HAProxy:
    hap: HAProxy = haproxy_factory(CFG.replace("{origin}", str(origin.port)), nports=3)
    return hap


class Exporter:
    """The poller in this process, its stream threads stopped at the end of the test."""

    def __init__(self, address: str, **logs: Any) -> None:
        self.store = Store(30)
        config: dict[str, Any] = {"haproxy": {"address": address}}
        if logs:
            config["logs"] = logs
        self.poller = Poller(build_config(config), self.store)

    def text(self) -> str:
        self.poller.poll_once()
        return b"".join(p.text for p in self.store.parts()).decode()

    def page(self) -> dict[Any, float]:
        return samples(self.text())

    def until(self, what: str, check: Any, timeout: float = 15) -> dict[Any, float]:
        found: dict[Any, float] = {}

        def polled() -> bool:
            found.clear()
            found.update(self.page())
            return bool(check(found))

        try:
            wait_for(polled, timeout, what, step=0.1)
        except TimeoutError:
            shown = sorted(k for k in found if "log" in k[0] or k[0] in ("haproxy_up", "haproxy_exporter_snapshot_stale"))
            raise TimeoutError(f"{what}: {[(k, found[k]) for k in shown]}; the page: {self.text()[-3000:]!r}") from None
        return found

    def close(self) -> None:
        self.poller.close()


@pytest.fixture
def exporters() -> Iterator[list[Exporter]]:
    made: list[Exporter] = []
    yield made
    for exporter in made:
        exporter.close()


def streaming(exporters: list[Exporter], address: str, **logs: Any) -> Exporter:
    exporter = Exporter(address, **logs)
    exporters.append(exporter)
    exporter.until("the log stream never opened", lambda got: value(got, "haproxy_exporter_log_stream_up") == 1)
    return exporter


RESPONSES = tuple(f"hrsp_{c}" for c in CLASSES) + ("hrsp_other",)


def lines_read(got: dict[Any, float]) -> float:
    return value(got, "haproxy_exporter_log_lines_read_total") or 0


def test_http_histograms_and_codes_are_haproxys_counts_and_the_clients_times(logged: HAProxy, exporters) -> None:
    exporter = streaming(exporters, logged.admin, ring="httplog", format="httplog", servers=True)
    before = stat_counters(logged)
    seen: dict[str, list[tuple[int, float]]] = {"be_fast": [], "be_slow": []}
    for path, count in (("/fast", 30), ("/missing", 4), ("/error", 3), ("/slow", 6)):
        for n in range(count):
            seen["be_slow" if path == "/slow" else "be_fast"].append(timed_request(logged.ports[0], f"{path}/{n}"))
    after = settled_counters(logged)
    sent = sum(len(v) for v in seen.values())
    got = exporter.until("not every log line was read", lambda got: lines_read(got) >= sent)
    assert lines_read(got) == sent
    assert value(got, "haproxy_exporter_log_ring_dropped_total", ring="httplog") == 0
    assert not [k for k in got if k[0] in ("haproxy_exporter_log_lines_rejected_total",
                                           "haproxy_exporter_log_samples_unexported_total")]
    for backend, results in seen.items():
        count = value(got, "haproxy_backend_log_total_time_seconds_count", proxy=backend)
        assert count == stat_delta(before, after, (backend, "BACKEND"), *RESPONSES) == len(results)
        # The exact codes add up to HAProxy's classes, and are the codes the client got
        for cls in CLASSES:
            exact = sum(v for (name, labels), v in got.items()
                        if name == "haproxy_backend_log_http_responses_total" and ("proxy", backend) in labels
                        and dict(labels)["code"].startswith(cls[0]))
            assert exact == stat_delta(before, after, (backend, "BACKEND"), f"hrsp_{cls}"), (backend, cls)
        for code in {status for status, _ in results}:
            assert value(got, "haproxy_backend_log_http_responses_total", proxy=backend, code=str(code)) == sum(
                1 for status, _ in results if status == code)
        # The mean the log says is the mean the client measured, less the client's own overhead
        mean = value(got, "haproxy_backend_log_total_time_seconds_sum", proxy=backend) / count
        client = statistics.fmean(seconds for _, seconds in results)
        assert -0.0015 <= client - mean <= 0.010, (backend, client, mean)
    assert value(got, "haproxy_frontend_log_http_responses_total", proxy="fe_http", code="404") == 4
    for server, backend in (("f1", "be_fast"), ("f2", "be_fast"), ("s1", "be_slow")):
        assert value(got, "haproxy_server_log_total_time_seconds_count", proxy=backend, server=server) == stat_delta(
            before, after, (backend, server), *RESPONSES)
        assert value(got, "haproxy_server_log_response_time_seconds_count", proxy=backend, server=server) == stat_delta(
            before, after, (backend, server), *RESPONSES)
    # The slow path's 200 ms are in the (0.1, 0.25] bucket: none below, all of them at 0.25
    assert value(got, "haproxy_backend_log_response_time_seconds_bucket", proxy="be_slow", le="0.1") == 0
    assert value(got, "haproxy_backend_log_response_time_seconds_bucket", proxy="be_slow", le="0.25") == 6
    assert value(got, "haproxy_frontend_log_terminations_total", proxy="fe_http", state="--") == sent
    assert promtool_check_metrics(exporter.text()) == []  # histograms and all, as Prometheus' own linter reads them


def test_tcplog_sessions_are_counted_with_their_total_time(logged: HAProxy, exporters) -> None:
    exporter = streaming(exporters, logged.admin, ring="tcplog", format="tcplog", ring_format="rfc3164")
    before = stat_counters(logged)
    times = [timed_request(logged.ports[2], "/fast")[1] for _ in range(12)]
    after = settled_counters(logged)
    got = exporter.until("not every log line was read", lambda got: lines_read(got) >= len(times))
    count = value(got, "haproxy_backend_log_total_time_seconds_count", proxy="be_tcp")
    assert count == stat_delta(before, after, ("be_tcp", "BACKEND"), "stot") == len(times)
    mean = value(got, "haproxy_backend_log_total_time_seconds_sum", proxy="be_tcp") / count
    assert -0.0015 <= statistics.fmean(times) - mean <= 0.010
    states = {dict(labels)["state"]: v for (name, labels), v in got.items()
              if name == "haproxy_frontend_log_terminations_total"}
    assert sum(states.values()) == stat_delta(before, after, ("fe_tcp", "FRONTEND"), "stot")
    assert value(got, "haproxy_backend_log_response_time_seconds_count", proxy="be_tcp") is None  # no %Tr in tcplog


def test_a_custom_log_format_is_read_from_the_same_string_as_haproxy_cfg(logged: HAProxy, exporters) -> None:
    exporter = streaming(exporters, logged.admin, ring="custom", format=CUSTOM, ring_format="iso")
    before = stat_counters(logged)
    results = [timed_request(logged.ports[1], path) for path in ["/fast"] * 8 + ["/missing"] * 2]
    after = settled_counters(logged)
    got = exporter.until("not every log line was read", lambda got: lines_read(got) >= len(results))
    assert value(got, "haproxy_backend_log_total_time_seconds_count", proxy="be_fast") == stat_delta(
        before, after, ("be_fast", "BACKEND"), *RESPONSES) == 10
    assert value(got, "haproxy_frontend_log_http_responses_total", proxy="fe_custom", code="404") == 2
    assert value(got, "haproxy_backend_log_connect_time_seconds_count", proxy="be_fast") == 10


RESTARTS = 2


def cli_sessions(hap: HAProxy) -> int:
    """The CLI sessions HAProxy holds: the test's own ``show sess``, and the exporter's stream if
    it is open (the exporter polls only when the test asks it to)."""
    return sum(" fe=GLOBAL " in line for line in hap.cmd("show sess").splitlines())


def settling(seen: list[float]) -> Callable[[dict[Any, float]], bool]:
    """A check for Exporter.until: the stream up, and its connects (kept in ``seen``, one a poll)
    the same over the last six polls."""
    def settled(got: dict[Any, float]) -> bool:
        seen.append(value(got, "haproxy_exporter_log_stream_connects_total"))
        return value(got, "haproxy_exporter_log_stream_up") == 1 and len(seen) > 5 and seen[-6] == seen[-1]
    return settled


def test_a_restart_of_haproxy_keeps_the_counts_and_the_stream_comes_back_once(logged: HAProxy, exporters) -> None:
    """Each restart (a new process on the same socket, the old one gone) costs one reconnect: the
    stream comes back by itself, and the poll that then sees the new pid does not open it again,
    as the stream's own show info names that pid.  The stream is let come back before any poll
    sees the new process: the order in which an extra reconnect would be made."""
    exporter = streaming(exporters, logged.admin, ring="httplog")
    for _ in range(5):
        timed_request(logged.ports[0], "/fast")
    exporter.until("not every log line was read", lambda got: lines_read(got) >= 5)
    for restart in range(1, RESTARTS + 1):
        logged.stop()
        logged.start()
        wait_for(lambda: cli_sessions(logged) >= 2, 15, "the stream did not open again on the new process")
        connects, requests = 1 + restart, 5 + 3 * restart
        seen: list[float] = []
        exporter.until("the stream did not settle", settling(seen))  # the first of these polls sees the new pid
        assert set(seen) == {connects}, f"restart {restart}: connects {seen}, not {connects} all along"
        for _ in range(3):
            timed_request(logged.ports[0], "/fast")
        got = exporter.until("not every log line was read", lambda got, requests=requests: (value(
            got, "haproxy_backend_log_total_time_seconds_count", proxy="be_fast") or 0) >= requests)
        # HAProxy's own counters started again from zero; the histograms did not
        assert stat_counters(logged)[("be_fast", "BACKEND")]["hrsp_2xx"] == 3
        assert value(got, "haproxy_backend_log_total_time_seconds_count", proxy="be_fast") == requests
    assert value(got, "haproxy_exporter_log_stream_connects_total") == 1 + RESTARTS
    assert value(got, "haproxy_exporter_log_stream_failures_total", reason="ended") >= RESTARTS
    assert value(got, "haproxy_exporter_log_stream_failures_total", reason="no_pid") is None


@pytest.mark.parametrize("socket_name, ring, reason", [
    ("user.sock", "httplog", "permission_denied"),  # below operator level
    ("admin.sock", "nosuchring", "no_ring"),  # a ring HAProxy does not have
])
def test_a_refused_stream_is_counted_and_the_rest_is_exported(logged: HAProxy, exporters, socket_name: str,
                                                              ring: str, reason: str) -> None:
    exporter = Exporter(str(logged.dir / socket_name), ring=ring)
    exporters.append(exporter)
    # Each new attempt (after 0.1, 1, 2, 5, 10, then every 30 s) is an open stream for the moment
    # HAProxy takes to refuse it: a poll may meet one, so the refusal is waited for with the stream
    # closed, not sampled once right after the first refusal.
    got = exporter.until("the refusal was not counted with the stream closed", lambda got: (value(
        got, "haproxy_exporter_log_stream_failures_total", reason=reason) or 0) >= 1 and value(
        got, "haproxy_exporter_log_stream_up") == 0)
    assert value(got, "haproxy_up") == 1
    assert value(got, "haproxy_exporter_log_stream_up") == 0
    assert value(got, "haproxy_backend_status", proxy="be_fast", state="UP") == 1
    assert lines_read(got) == 0  # HAProxy's refusal is not taken for a log line


def test_off_by_default_nothing_is_streamed_nor_asked(logged: HAProxy, exporters) -> None:
    exporter = Exporter(logged.admin)
    exporters.append(exporter)
    got = exporter.page()
    assert value(got, "haproxy_up") == 1
    assert not [k for k in got if "_log_" in k[0]]
    assert value(got, "haproxy_exporter_command_success", command="show events") is None


def test_a_reload_behind_the_socket_moves_the_stream_to_the_new_process(logged: HAProxy, exporters) -> None:
    """A standalone HAProxy reloaded with -sf: the new process takes the socket over, the old one
    soft-stops but would live as long as a CLI stream holds it.  The exporter sees the new pid in
    show info and opens the stream again on the new process: the old one exits, and the new one's
    lines are counted on top of the old one's."""
    exporter = streaming(exporters, logged.admin, ring="httplog")
    for _ in range(4):
        timed_request(logged.ports[0], "/fast")
    exporter.until("not every log line was read", lambda got: lines_read(got) >= 4)
    old = logged.proc
    assert old is not None
    new = subprocess.Popen([logged.binary, "-db", "-f", str(logged.cfg), "-sf", str(old.pid)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=logged.dir)
    logged.proc = new  # stopped by the fixture
    wait_for(lambda: str(new.pid) in logged.cmd("show info"), 10, "the new process did not take the socket over")
    exporter.until("the stream was not opened again on the new process",
                   lambda got: value(got, "haproxy_exporter_log_stream_connects_total") == 2
                   and value(got, "haproxy_exporter_log_stream_up") == 1)
    old.wait(10)  # the old process is not kept alive by the exporter's stream
    for _ in range(3):
        timed_request(logged.ports[0], "/fast")
    got = exporter.until("not every log line was read", lambda got: (value(
        got, "haproxy_backend_log_total_time_seconds_count", proxy="be_fast") or 0) >= 7)
    assert value(got, "haproxy_backend_log_total_time_seconds_count", proxy="be_fast") == 7


def test_a_master_worker_reload_moves_the_stream_from_the_workers_socket_to_the_new_worker(
        haproxy_factory, origin: DelayedOrigin, exporters) -> None:
    """The target at the worker's own stats socket of a master-worker HAProxy: after a reload
    (SIGUSR2) the new worker serves the socket, and the stream still open is the old worker's,
    whose pid its show info named: the poll's new pid opens it again, once, on the new worker,
    the old worker leaves, and the new one's lines are counted on top of the old one's."""
    hap: HAProxy = haproxy_factory(CFG.replace("{origin}", str(origin.port)), nports=3, start=False).start_master()
    (old,), _ = hap.workers()
    exporter = streaming(exporters, hap.admin, ring="httplog")
    for _ in range(4):
        timed_request(hap.ports[0], "/fast")
    exporter.until("not every log line was read", lambda got: lines_read(got) >= 4)
    new = hap.reload()
    wait_for(lambda: f"Pid: {new}\n" in hap.cmd("show info"), 10, "the new worker did not take the socket over")
    exporter.until("the stream was not opened again on the new worker",
                   lambda got: value(got, "haproxy_exporter_log_stream_connects_total") == 2
                   and value(got, "haproxy_exporter_log_stream_up") == 1)
    wait_for(lambda: hap.workers() == ([new], []), 15, "the old worker did not leave")  # no stream holds it
    for _ in range(3):
        timed_request(hap.ports[0], "/fast")
    got = exporter.until("not every log line was read", lambda got: (value(
        got, "haproxy_backend_log_total_time_seconds_count", proxy="be_fast") or 0) >= 7)
    assert value(got, "haproxy_backend_log_total_time_seconds_count", proxy="be_fast") == 7
    assert value(got, "haproxy_exporter_log_stream_connects_total") == 2
    assert old != new


def test_lines_a_lagging_reader_lost_are_what_haproxy_announces(logged: HAProxy) -> None:
    """A reader that stops reading: HAProxy drops the lines the ring cannot hold and, once it can
    write again, announces how many ("N events dropped").  Lines read and lines announced add up
    to the requests the frontend counted: nothing is lost without being counted."""
    client = RuntimeClient(parse_address(logged.admin), registry.allowlist(), TargetConfig())
    tally = Tally(LogsConfig(ring="small", format="httplog"))
    tally.set_known(Known(frozenset({"fe_http"}), frozenset({"be_fast", "be_slow"}), frozenset()))
    before = stat_counters(logged)[("fe_http", "FRONTEND")]["req_tot"]
    stream = client.stream("show events small -w -n")
    texts = stream.texts()
    with ThreadPoolExecutor(8) as pool:  # far more than the ring (32 kB) and the socket's buffers hold
        list(pool.map(lambda n: keepalive(logged.ports[0], 250), range(16)))
    reader = ThreadPoolExecutor(1)
    done = reader.submit(lambda: [tally.feed(text) for text in texts])
    wait_for(lambda: tally.view().lines >= 100, 10, "the stream gave nothing")
    time.sleep(0.5)  # the reader has caught up: HAProxy can write again
    timed_request(logged.ports[0], "/fast")  # the next line comes after HAProxy's notice
    total = stat_counters(logged)[("fe_http", "FRONTEND")]["req_tot"] - before
    wait_for(lambda: accounted(tally) >= total, 10, f"read and announced fell short of {total}: {tally.view()}")
    stream.close()
    done.result(10)
    reader.shutdown()
    view = tally.view()
    assert view.dropped > 0, "the ring never overflowed: the test proves nothing"
    assert accounted(tally) == total and not view.rejected


def accounted(tally: Tally) -> int:
    """Requests read (each one code) and requests HAProxy said it dropped."""
    view = tally.view()
    return sum(n for _, _, n in view.codes["frontend"]) + view.dropped


def keepalive(port: int, count: int) -> None:
    """``count`` requests on one connection (fast: many log lines in little time)."""
    conn = http_client.HTTPConnection("127.0.0.1", port, timeout=5)
    for n in range(count):
        conn.request("GET", f"/fast/{n}")
        conn.getresponse().read()
    conn.close()


MASTER_WORKER = """
global
    stats socket {admin} mode 600 level admin
defaults
    mode http
    timeout connect 1s
    timeout client 10s
    timeout server 10s
frontend fe_http
    option httplog
    log udp@127.0.0.1:{p1} format rfc5424 local0
    bind 127.0.0.1:{p0}
    default_backend be_app
backend be_app
    server a1 127.0.0.1:{origin}
"""


def test_through_a_master_cli_syslog_counts_every_worker_across_a_reload(haproxy_factory, exporters) -> None:
    """Master-worker: every worker sends its lines to the exporter's syslog socket, the one that a
    reload leaves draining too.  A request in flight on the old worker during the reload ends
    there, and its line is counted in the same histograms as the new worker's: none is reset."""
    origin = DelayedOrigin(fast=0.005, slow=1.5)
    try:
        hap: HAProxy = haproxy_factory(MASTER_WORKER.replace("{origin}", str(origin.port)), nports=2,
                                       start=False).start_master()
        exporter = Exporter(hap.master, syslog={"listen": f"udp://127.0.0.1:{hap.ports[1]}"}, format="httplog")
        exporters.append(exporter)
        exporter.until("the syslog socket was not bound", lambda got: value(got, "haproxy_exporter_log_syslog_up") == 1)
        statuses = [timed_request(hap.ports[0], f"/fast/{n}")[0] for n in range(5)]
        with ThreadPoolExecutor(1) as pool:
            in_flight = pool.submit(timed_request, hap.ports[0], "/slow/draining")
            time.sleep(0.3)  # the request is at the origin, on the first worker
            (old_pid,), _ = hap.workers()
            hap.reload()
            assert old_pid in hap.workers()[1], "the first worker is not draining"
            statuses += [timed_request(hap.ports[0], f"/fast/after/{n}")[0] for n in range(4)]
            statuses.append(in_flight.result(10)[0])
        assert statuses == [200] * 10
        got = exporter.until("not every worker's line was counted", lambda got: value(
            got, "haproxy_backend_log_total_time_seconds_count", proxy="be_app") == 10)
        # The old worker's slow request is there: 9 under a second, one between 1 and 2.5 s
        assert value(got, "haproxy_backend_log_total_time_seconds_bucket", proxy="be_app", le="1") == 9
        assert value(got, "haproxy_backend_log_total_time_seconds_bucket", proxy="be_app", le="2.5") == 10
        assert value(got, "haproxy_frontend_log_http_responses_total", proxy="fe_http", code="200") == 10
        assert value(got, "haproxy_exporter_log_syslog_datagrams_dropped_total", reason="kernel") == 0
        assert value(got, "haproxy_exporter_log_stream_up") is None  # no ring stream through a master CLI
    finally:
        origin.close()


def test_syslog_for_several_targets_is_refused_with_one_line() -> None:
    with pytest.raises(ConfigError, match=r"^logs\.syslog: one socket for 2 targets"):
        build_config({"targets": [{"name": "a", "address": "/a.sock"}, {"name": "b", "address": "/b.sock"}],
                      "logs": {"syslog": {}}})
