"""The registry is the one door between the poll and the sources, on a real HAProxy.

A new kind of data is one module and one line in exporter/sources/registry.py: here the module is
this file and the line a monkeypatch of the registry's tuple, and nothing else is touched.  A
polled throwaway source (``show version``) is then allowed by the client, read and exported, and
its rows stand in the README's generated tables; a streaming throwaway (a reader thread counting
lines handed to it in place of ``show events -w``) starts before its process's first read, is
built from what it accumulated at each poll, and stops with its process or its target.

The level probe the registry declares: a socket below what a configured source needs is said once,
in one line naming each such source, at every version (the level is HAProxy's own answer, read
here with the test's own socket reader).
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any, Mapping, Sequence

import pytest
from exposition import samples, value
from support import raw_command, wait_for

from exporter.config import TargetConfig, build_config
from exporter.docs import metrics_markdown
from exporter.exposition.families import GLOBAL, Family, LabelSet
from exporter.poll.poller import Poller
from exporter.poll.snapshot import Store
from exporter.runtime.address import parse_address
from exporter.runtime.client import CommandRefused, RuntimeClient
from exporter.runtime.errors import first_line
from exporter.sources import registry
from exporter.sources.base import Command, Link, ModelStats, Source
from exporter.sources.doctable import DocRows, DocTable

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

VERSION_DOCS = DocTable("**A throwaway table** (`show version`)", ("metric", "labels", "from", "promex"))


class VersionSource(Source):
    """A throwaway polled source: the version the process runs, one command per poll."""

    name = "throwaway_version"
    allowed = (r"show version",)

    def commands(self) -> Sequence[Command]:
        return (Command("show version", first_line),)

    def build(self, answers: Mapping[str, Any], stats: ModelStats) -> list[Family]:
        return [Family("haproxy_throwaway_version_info", "gauge", "The version the process runs (show version)",
                       [(LabelSet((("version", answers["show version"]),)), "1")], scope=GLOBAL)]

    @classmethod
    def docs(cls) -> Sequence[DocRows]:
        return ((VERSION_DOCS, ["| `haproxy_throwaway_version_info` | version | `show version` | ours |"]),)


class EventStream(Source):
    """A throwaway streaming source: between polls a thread of its own reads lines (here from a
    queue the test writes to, in place of a ``show events <ring> -w -n`` connection) and counts
    them by status; a poll builds the counts as they are then.  ``started`` keeps every instance
    the poll started, for the test to look at."""

    name = "throwaway_events"
    allowed = (r"show events throwaway -w -n",)
    started: list[EventStream] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.link: Link | None = None
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.counts: dict[str, int] = {}
        self.stops = 0
        self._lock = threading.Lock()
        self._reader: threading.Thread | None = None

    def start(self, link: Link) -> None:
        self.link = link
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        EventStream.started.append(self)

    def _read(self) -> None:
        while (line := self.lines.get()) is not None:
            with self._lock:
                self.counts[line] = self.counts.get(line, 0) + 1
            self.lines.task_done()
        self.lines.task_done()

    def stop(self) -> None:
        self.stops += 1
        self.lines.put(None)
        assert self._reader is not None
        self._reader.join(5)

    def running(self) -> bool:
        return self._reader is not None and self._reader.is_alive()

    def build(self, answers: Mapping[str, Any], stats: ModelStats) -> list[Family]:
        with self._lock:
            counts = sorted(self.counts.items())
        return [Family("haproxy_throwaway_events_total", "counter", "Events read from the stream, by status",
                       [(LabelSet((("status", status),)), str(n)) for status, n in counts], scope=GLOBAL)]


@pytest.fixture
def haproxy(haproxy_factory):
    return haproxy_factory(CFG, nports=1)


@pytest.fixture
def streaming(monkeypatch: pytest.MonkeyPatch) -> type[EventStream]:
    monkeypatch.setattr(EventStream, "started", [])
    monkeypatch.setattr(registry, "WORKER_SOURCES", (*registry.WORKER_SOURCES, EventStream))  # the one line
    return EventStream


def poll(poller: Poller, store: Store) -> dict:
    assert poller.poll_once()
    return samples(b"".join(p.text for p in store.parts()).decode())


def test_a_polled_source_is_one_module_and_one_registry_line(haproxy, haproxy_bin,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    client = RuntimeClient(parse_address(haproxy.admin), registry.allowlist(), TargetConfig())
    with pytest.raises(CommandRefused):
        client.run("show version")
    assert "haproxy_throwaway_version_info" not in metrics_markdown()

    monkeypatch.setattr(registry, "WORKER_SOURCES", (*registry.WORKER_SOURCES, VersionSource))  # the one line

    assert first_line(RuntimeClient(parse_address(haproxy.admin), registry.allowlist(), TargetConfig()).run("show version")) \
        == haproxy_bin.version  # allowed now, and HAProxy answers what its binary says
    store = Store(30)
    got = poll(Poller(build_config({"haproxy": {"address": haproxy.admin}}), store), store)
    assert value(got, "haproxy_up") == 1
    assert value(got, "haproxy_throwaway_version_info", version=haproxy_bin.version) == 1
    assert value(got, "haproxy_exporter_source_success", source="throwaway_version") == 1
    assert value(got, "haproxy_exporter_command_success", command="show version") == 1
    assert ("\n**A throwaway table** (`show version`)\n\n| metric | labels | from | promex |\n|---|---|---|---|\n"
            "| `haproxy_throwaway_version_info` | version | `show version` | ours |\n\n**The exporter's own metrics**"
            in metrics_markdown())


def test_a_streaming_source_runs_with_its_target_and_each_poll_takes_a_snapshot(haproxy, streaming) -> None:
    config = build_config({"targets": [{"name": "edge", "address": haproxy.admin},
                                       {"name": "other", "address": haproxy.user}]})
    store = Store(30)
    poller = Poller(config, store)
    assert streaming.started == []  # nothing runs before a target's process is first read
    assert poller.poll_once()
    assert len(streaming.started) == 2
    stream = next(s for s in streaming.started if s.link is not None and s.link.where == "target edge: ")
    assert stream.link is not None and stream.link.route == ""  # a worker's own socket
    assert stream.link.client is not None and str(stream.link.client.address) == str(parse_address(haproxy.admin))
    stream.link.client.allowlist.check("show events throwaway -w -n")  # its declared command is allowed

    for line in ("200", "200", "503"):
        stream.lines.put(line)
    stream.lines.join()  # the reader has counted them
    got = samples(b"".join(p.text for p in store.probe("edge") or []).decode())
    assert value(got, "haproxy_throwaway_events_total", status="200") is None  # read before the poll: not yet built
    assert poller.poll_once()
    got = samples(b"".join(p.text for p in store.probe("edge") or []).decode())
    assert value(got, "haproxy_up") == 1
    assert value(got, "haproxy_throwaway_events_total", status="200") == 2
    assert value(got, "haproxy_throwaway_events_total", status="503") == 1
    assert value(got, "haproxy_exporter_source_success", source="throwaway_events") == 1
    assert not [k for k in got if k[0].startswith("haproxy_exporter_command") and "events" in str(k[1])]  # nothing sent
    stream.lines.put("200")
    stream.lines.join()
    assert poller.poll_once()
    got = samples(b"".join(p.text for p in store.probe("edge") or []).decode())
    assert value(got, "haproxy_throwaway_events_total", status="200") == 3
    assert len(streaming.started) == 2 and stream.running()  # started once, running between polls

    poller.reconfigure(build_config({"targets": [{"name": "other", "address": haproxy.user}]}))
    assert not stream.running() and stream.stops == 1  # edge left the config: its stream stopped
    other = next(s for s in streaming.started if s is not stream)
    assert other.running()
    assert poller.poll_once()
    assert len(streaming.started) == 2  # nothing started again for the target that left
    poller.close()  # the exporter stops
    assert not other.running() and other.stops == 1


def test_a_streaming_source_follows_the_current_worker_through_a_master(haproxy_factory, streaming) -> None:
    hap = haproxy_factory(CFG, nports=1, start=False).start_master()
    store = Store(30)
    poller = Poller(build_config({"haproxy": {"address": hap.master}}), store)
    assert poller.poll_once()
    [first] = hap.workers()[0]
    assert [s.link.route for s in streaming.started if s.link] == [f"@!{first} "]

    second = hap.reload()
    wait_for(lambda: first not in raw_command(hap.master, "show proc"), 10, "the old worker did not leave")
    assert poller.poll_once()
    assert [s.link.route for s in streaming.started if s.link] == [f"@!{first} ", f"@!{second} "]
    assert not streaming.started[0].running() and streaming.started[0].stops == 1  # its worker left
    assert streaming.started[1].running()
    poller.close()
    assert not streaming.started[1].running()


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
