"""The pid of the process serving a log stream, from the ``show info`` chained before it on the
stream's own connection (exporter/sources/logs/reader.py), and what a renew does with it.

The captures (tests/fixtures/logs/<version>/stream-heads.json, capture_heads.py) are what HAProxy
2.6 to 3.4 send for ``show info;show events <ring> -w -n``: on an operator socket the stream goes
on after show info's answer, on a ``level user`` socket and for a ring HAProxy does not have its
refusal follows it.  The stream loop runs here against socketpairs the test writes to as HAProxy
would: a renew for the pid the stream is served by leaves it alone (a restart: the loop opened it
on the new process already), one for another pid opens it again (a reload: it is the old
process's), and one that comes while the stream's show info is not read yet waits for it.
"""

from __future__ import annotations

import json
import logging
import queue
import socket
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from exporter.runtime.client import Stream
from exporter.sources.logs import wire
from exporter.sources.logs.reader import NO_PID, REFUSALS, StreamLoop, pid_of

CAPTURES = sorted((Path(__file__).resolve().parents[1] / "fixtures" / "logs").glob("*/stream-heads.json"))


def test_every_version_is_captured() -> None:
    assert {path.parent.name for path in CAPTURES} >= {"2.6.12", "2.8.25", "3.2.0", "3.4.0"}


def stream_of(data: bytes, size: int) -> Stream:
    """``data`` as HAProxy would send it, ``size`` bytes a write (from a thread: a socketpair holds few writes)."""
    ours, theirs = socket.socketpair()

    def write() -> None:
        with theirs:
            for at in range(0, len(data), size):
                theirs.sendall(data[at:at + size])

    threading.Thread(target=write, daemon=True).start()
    return Stream(ours, "show events logs -w -n", 1)


@pytest.mark.parametrize("path", CAPTURES, ids=lambda path: path.parent.name)
@pytest.mark.parametrize("size", [1, 5, 1 << 16])
def test_the_captured_streams_name_their_process_and_go_on_as_before(path: Path, size: int) -> None:
    captured = json.loads(path.read_text())
    pid = str(captured["pid"])
    operator = stream_of(captured["operator"].encode(), size)
    heads = operator.heads()
    assert heads is not None and pid_of(heads[0]) == pid
    lines = "".join(operator.texts()).split("\n")[:-1]
    assert len(lines) == 1 and lines[0].endswith('"GET /captured HTTP/1.1"')
    for kind, reason in (("user", "permission_denied"), ("no_ring", "no_ring")):
        refused = stream_of(captured[kind].encode(), size)
        heads = refused.heads()
        assert heads is not None and pid_of(heads[0]) == pid  # show info answers at level user too
        texts = list(refused.texts())
        assert len(texts) == 1 and REFUSALS[texts[0].rstrip("\n")] == reason and refused.end == "ended"


@pytest.mark.parametrize("info", [
    "", "Unknown command: 'show info'\n", "Permission denied\n", "Name: HAProxy\nVersion: 3.4.0\n",  # none, cut
    "Name: HAProxy\nPid: \n", "Name: HAProxy\nPid: 12a\n", "Name: HAProxy\nXPid: 12\n", "Pid: -1\n",
])
def test_an_answer_that_names_no_pid_gives_none(info: str) -> None:
    assert pid_of(info) == ""


def test_the_pid_is_read_wherever_it_stands() -> None:
    assert pid_of("Pid: 7\n") == pid_of("Name: HAProxy\nPid: 7\nUptime: 0d\n") == pid_of("Name: x\nPid: 7") == "7"


# ---------------------------------------------------------------- the loop against fake HAProxys


class Events:
    def __init__(self) -> None:
        self.connects = 0
        self.up_now = False
        self.failures: Counter[str] = Counter()

    def up(self, up: bool) -> None:
        self.up_now = up
        self.connects += up

    def note(self, reason: str, message: str) -> None:
        self.failures[reason] += 1

    def count(self, reason: str) -> None:
        self.failures[reason] += 1

    def resumed(self) -> None:
        pass


class Socket:
    """What a test holds of one stream the loop opened: HAProxy's end of it."""

    def __init__(self, theirs: socket.socket, line: str) -> None:
        self.theirs = theirs
        self.line = line

    def head(self, pid: str | None) -> None:
        info = "Name: HAProxy\nVersion: 3.4.0\n" + (f"Pid: {pid}\n" if pid is not None else "")
        self.theirs.sendall((info + "\n").encode())

    def closed(self, timeout: float = 5.0) -> bool:
        """Whether the loop closed its end (what it does to open the stream again)."""
        self.theirs.settimeout(timeout)
        try:
            return self.theirs.recv(1) == b""
        except socket.timeout:
            return False
        except OSError:
            return True


class Client:
    """Gives the loop a socketpair per stream; the test gets the other end."""

    def __init__(self) -> None:
        self.opened: queue.Queue[Socket] = queue.Queue()

    def run(self, command: str, budget: object = None) -> str:  # pragma: no cover - never polled
        raise AssertionError(command)

    def stream(self, command: str, before: tuple[str, ...] = ()) -> Stream:
        ours, theirs = socket.socketpair()
        self.opened.put(Socket(theirs, ";".join((*before, command))))
        return Stream(ours, command, len(before))


@pytest.fixture
def loop():
    client, events = Client(), Events()
    fed: list[str] = []
    stream_loop = StreamLoop("show events logs -w -n", client, fed.append, events, pauses=(0.05,))
    thread = threading.Thread(target=stream_loop.run, daemon=True)
    thread.start()
    yield stream_loop, client, events, fed
    stream_loop.stop()
    thread.join(5)
    assert not thread.is_alive()


def next_stream(client: Client) -> Socket:
    return client.opened.get(timeout=5)


def wait(check, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_the_stream_is_opened_with_show_info_before_it(loop) -> None:
    _, client, _, fed = loop
    first = next_stream(client)
    assert first.line == "show info;show events logs -w -n"
    first.head("100")
    first.theirs.sendall(b"<134>a log line\n")
    wait(lambda: fed == ["<134>a log line\n"])  # show info's answer is no log line


def test_a_renew_for_the_process_that_serves_the_stream_leaves_it_open(loop) -> None:
    stream_loop, client, events, _ = loop
    first = next_stream(client)
    first.head("100")
    wait(lambda: stream_loop._stream_pid == "100")
    stream_loop.renew("100")
    assert not first.closed(0.3) and events.connects == 1 and client.opened.empty()


def test_a_renew_for_another_process_opens_the_stream_again(loop) -> None:
    stream_loop, client, events, _ = loop
    first = next_stream(client)
    first.head("100")
    wait(lambda: stream_loop._stream_pid == "100")
    stream_loop.renew("200")
    assert first.closed()
    second = next_stream(client)
    second.head("200")
    wait(lambda: events.connects == 2 and stream_loop._stream_pid == "200")
    assert not events.failures  # opened again on purpose: no failure


@pytest.mark.parametrize("served, renewed", [("200", False), ("100", True)])
def test_a_renew_that_comes_before_the_streams_show_info_is_answered_by_it(loop, served: str, renewed: bool) -> None:
    """The stream connected before the poll saw pid 200: it may be the old process's or the new one's."""
    stream_loop, client, events, _ = loop
    first = next_stream(client)
    stream_loop.renew("200")
    first.head(served)
    assert first.closed(1.0 if renewed else 0.3) == renewed
    if renewed:
        second = next_stream(client)  # held: its end closed would end the stream
        second.head("200")
        wait(lambda: events.connects == 2)
    assert not events.failures


def test_a_renew_between_two_streams_is_met_by_the_next_one(loop) -> None:
    stream_loop, client, events, _ = loop
    first = next_stream(client)
    first.head("100")
    wait(lambda: stream_loop._stream_pid == "100")
    first.theirs.close()  # the old process ended (a restart)
    wait(lambda: not events.up_now)
    stream_loop.renew("200")  # the poll saw the new process before the loop connected to it
    second = next_stream(client)
    second.head("200")
    wait(lambda: stream_loop._stream_pid == "200")
    assert not second.closed(0.3) and events.connects == 2 and events.failures == Counter(ended=1)


def test_without_a_pid_every_renew_opens_the_stream_again_counted_and_said_once(loop, caplog) -> None:
    stream_loop, client, events, _ = loop
    caplog.set_level(logging.WARNING, "exporter.logs")
    for n in range(3):
        stream = next_stream(client)
        stream.head(None)
        wait(lambda n=n: events.failures[NO_PID] == n + 1 and not stream_loop._opening)
        stream_loop.renew("100")
        assert stream.closed()
    assert events.failures == Counter({NO_PID: 3})
    assert len([r for r in caplog.records if "named no Pid" in r.getMessage()]) == 1


def test_a_stream_cut_within_its_show_info_is_an_end_like_any_other(loop) -> None:
    stream_loop, client, events, fed = loop
    first = next_stream(client)
    first.theirs.sendall(b"Name: HAProxy\nPid: 1")
    first.theirs.close()
    second = next_stream(client)
    second.head("100")
    second.theirs.sendall(b"<134>line\n")
    wait(lambda: fed == ["<134>line\n"])
    assert events.failures == Counter(ended=1) and events.connects == 2


@pytest.mark.parametrize("pid, line", [("4242", b"r4242\n"), (None, b"r\n"), ("42 ", b"r\n"), ("x\ns", b"r\n")])
def test_a_renew_carries_the_pid_to_the_reader_and_nothing_else(pid: str | None, line: bytes) -> None:
    assert wire.renew(pid) == line
    commands = wire.Commands()
    data = wire.renew(pid) + b"junk\n" + wire.STOP
    got = [c for at in range(len(data)) for c in commands.feed(data[at:at + 1])]  # a byte at a time
    assert got == [(wire.RENEW, pid if line != b"r\n" else None), (wire.STOP, None)]
