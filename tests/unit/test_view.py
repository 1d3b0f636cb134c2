"""The operator's view (exporter/web/view.py, exporter/poll/record.py): the landing page and the
debug text, made from what the poll recorded, on captured answers through a fake socket.

What an operator reads must be true (the commands listed are those the fake socket was sent,
with their sizes), safe (a hostile target name, address or error text comes out escaped, in HTML
and in the text) and bounded (the failure history keeps 16 entries whatever the failure rate).
Wall times come from freezegun, ages from a fake monotonic clock: nothing here waits.
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest
from freezegun import freeze_time
from support import EMPTY_ANSWERS, FakeClock, answering

from exporter.clock import SYSTEM_CLOCK
from exporter.config import Config, TargetConfig, build_config
from exporter.poll.poller import Poller
from exporter.poll.record import HISTORY, MAX_EXCHANGES, History, Recorder
from exporter.poll.snapshot import Store
from exporter.runtime.address import parse_address
from exporter.runtime.client import TransportError
from exporter.web.routes import Request, route_table
from exporter.web.view import DOWN, NEVER, STALE, UP, Landing, debug_text

FAULTS = Path(__file__).parent.parent / "fixtures" / "faults"
ANSWERS = {"show info": (FAULTS / "show-info.txt").read_text()[:-1],
           "show stat": (FAULTS / "show-stat.csv").read_text()[:-1], **EMPTY_ANSWERS}
UNKNOWN = "Unknown command\n"
HOSTILE = '<script>alert("x")</script>&\x1b[31m'


class Socket:
    """A fake stats socket that answers from ANSWERS and writes down every command it is sent;
    ``down`` makes it refuse connections (with a hostile message), as a stopped HAProxy's would;
    ``denied`` answers ``show stat`` as a socket of too low a level does."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.down = False
        self.denied = False

    def __call__(self, command: str) -> str:
        self.sent.append(command)
        if self.down:
            raise TransportError("refused", f"connection refused: {HOSTILE}")
        if self.denied and command == "show stat":
            return "Permission denied\n"
        return ANSWERS.get(command, UNKNOWN)


def setup(config: Config) -> tuple[Poller, Store, FakeClock, Socket]:
    clock = FakeClock(500.0, wall=SYSTEM_CLOCK.wall)  # wall times are freezegun's
    store = Store(config.poll.max_age, clock)
    sock = Socket()
    return Poller(config, store, connect=answering(sock), clock=clock), store, clock, sock


class Tags(HTMLParser):
    """The elements of a page, to show that nothing from outside became markup."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: str) -> Tags:
    tags = Tags()
    tags.feed(page)
    return tags


SINGLE = {"poll": {"interval": "5s", "max_age": "30s"}, "haproxy": {"address": "/run/haproxy/admin.sock"}}


def get(config: Config, store: Store, path: str, query: str = "") -> tuple[int, str]:
    table = route_table(config, store, lambda: True)
    response = table[path](Request("GET", path, query, {}))
    return response.status, b"".join(bytes(chunk) for chunk in response.body).decode()


@freeze_time("2026-12-05 08:00:00")
def test_the_debug_text_lists_every_command_the_socket_was_sent_in_order_with_its_size() -> None:
    config = build_config(SINGLE)
    poller, store, _, sock = setup(config)
    assert poller.poll_once()
    status, text = get(config, store, "/metrics", "debug=true")
    assert status == 200
    listed = [line.split("'")[1] for line in text.splitlines() if line.startswith("  '")]
    assert listed == sock.sent  # what went to the socket, nothing more, nothing less, in order
    info_line = next(line for line in text.splitlines() if line.startswith("  'show info'"))
    assert f" {len(ANSWERS['show info'])} B " in info_line  # the answer's size as the socket gave it
    assert "Last poll: 2026-12-05T08:00:00.000Z" in text
    assert "State: up" in text
    assert "info" in text and "read" in text


@freeze_time("2026-12-05 08:00:00")
def test_a_hostile_name_address_and_error_are_escaped_in_the_page_and_the_text() -> None:
    """The config refuses such a name; the page must not depend on it doing so."""
    target = TargetConfig(name=HOSTILE, address=parse_address("/tmp/<i>evil</i>.sock"))
    config = Config(targets=(target,))
    poller, store, _, sock = setup(config)
    sock.down = True
    assert not poller.poll_once()
    page = Landing(config, store).page()
    found = parse(page)
    assert "script" not in found.tags and "i" not in found.tags
    assert found.tags <= {"html", "head", "meta", "title", "style", "body", "h1", "p", "ul", "li", "a", "table",
                          "tr", "th", "td", "br", "small", "code", "span", "details", "summary", "ol", "b"}
    joined = "".join(found.text)
    assert HOSTILE.replace("\x1b", "\\x1b") in joined  # the name shown as text, the escape character spelled out
    assert "connection refused: " + HOSTILE.replace("\x1b", "\\x1b") in joined  # and the error
    assert "\x1b" not in page
    text = debug_text(config, target, store)
    assert "\x1b" not in text
    assert "refused: connection refused: <script>" in text  # text/plain: shown as it was, minus control bytes
    assert "to fix: nothing accepts connections there" in text


def test_the_state_goes_up_down_stale_and_up_again() -> None:
    config = build_config(SINGLE)
    poller, store, clock, sock = setup(config)
    landing = Landing(config, store)

    def state() -> str:
        return parse_state(landing.page())

    assert state() == NEVER
    assert poller.poll_once()
    assert state() == UP
    sock.down = True
    assert not poller.poll_once()
    assert state() == DOWN  # the last good data is still served
    clock.now += config.poll.max_age + 1
    assert not poller.poll_once()
    assert state() == STALE
    sock.down = False
    assert poller.poll_once()
    assert state() == UP


def parse_state(page: str) -> str:
    start = page.index('data-state="') + len('data-state="')
    return page[start:page.index('"', start)]


def test_the_history_stays_bounded_and_folds_repeats() -> None:
    config = build_config(SINGLE)
    poller, store, clock, sock = setup(config)
    sock.down = True
    with freeze_time("2026-12-05 08:00:00") as frozen:
        for _ in range(5):  # the same failure five times: one entry
            assert not poller.poll_once()
            frozen.tick(5)
        record = store.published.record if store.published else None
        assert record is not None and len(record.history) == 1
        entry = record.history[0]
        assert (entry.count, entry.first, entry.last) == (5, 1796457600.0, 1796457620.0)
        sock.down = False
        for n in range(1000):  # alternating causes: every poll a new entry, the deque keeps 16
            sock.denied = n % 2 == 0
            sock.down = not sock.denied
            assert not poller.poll_once()
            frozen.tick(5)
    record = store.published.record
    assert record is not None and len(record.history) == HISTORY
    assert len(poller.targets[""].history.items()) == HISTORY
    newest = record.history[-1]
    assert (newest.count, newest.last) == (1, 1796457625.0 + 999 * 5)  # the 1000th poll of the run
    assert newest.failures[0].command == "show info" and record.history[-2].failures[0].reason == "permission_denied"


def test_a_failure_history_of_any_length_holds_16_entries() -> None:
    history = History()
    recorder = Recorder(0.0)
    for n in range(10_000):
        recorder.failures = []
        recorder.failed(f"show table t{n}", "no_such_table", "No such table")
        recorder.finish(False, "worker", 0.1, history, {})
    assert len(history.items()) == HISTORY
    assert history.items()[-1].failures[0].command == "show table t9999"


def test_a_poll_keeps_at_most_max_exchanges_and_counts_the_rest() -> None:
    recorder = Recorder(0.0)
    for n in range(MAX_EXCHANGES + 7):
        recorder.exchange(f"show ssl cert {n}", 10, 0.001)
    record = recorder.finish(True, "worker", 1.0, History(), {})
    assert (len(record.exchanges), record.more_exchanges) == (MAX_EXCHANGES, 7)


def test_an_error_message_is_kept_short_and_on_one_line() -> None:
    recorder = Recorder(0.0)
    recorder.failed("show info", "malformed", "x\n" * 10_000)
    assert len(recorder.failures[0].message) <= 300 and "\n" not in recorder.failures[0].message


MULTI = {"targets": [{"name": "edge1", "address": "unix@/run/h1.sock"},
                     {"name": "edge2", "address": "ipv4@127.0.0.1:9999"}]}


@pytest.mark.parametrize("query, status", [
    ("target=edge1&debug=true", 200), ("target=edge1&debug=false", 200), ("target=edge1&debug=yes", 400),
    ("target=edge1&debug=true&debug=true", 400), ("target=edge9&debug=true", 404),
    ("target=127.0.0.1:9999&debug=true", 400), ("target=/run/h1.sock&debug=true", 400), ("debug=true", 400),
])
def test_probe_debug_follows_probes_rules(query: str, status: int) -> None:
    """Only configured names: nothing in a URL can make the exporter connect anywhere."""
    config = build_config(MULTI)
    poller, store, _, sock = setup(config)
    poller.poll_once()
    sent = len(sock.sent)
    assert get(config, store, "/probe", query)[0] == status
    assert len(sock.sent) == sent  # a page view sends nothing


def test_probe_debug_of_a_target_never_polled_says_so() -> None:
    config = build_config(MULTI)
    _, store, _, _ = setup(config)
    status, text = get(config, store, "/probe", "target=edge2&debug=true")
    assert status == 200 and "State: never polled" in text


def test_metrics_debug_with_several_targets_points_at_probe() -> None:
    config = build_config(MULTI)
    _, store, _, _ = setup(config)
    status, text = get(config, store, "/metrics", "debug=true")
    assert status == 400 and "/probe?target=<name>&debug=true" in text


def test_the_landing_page_lists_every_target_with_its_links() -> None:
    config = build_config(MULTI)
    poller, store, _, _ = setup(config)
    poller.poll_once()
    status, page = get(config, store, "/")
    assert status == 200
    for name in ("edge1", "edge2"):
        assert f'id="target-{name}" data-state="up"' in page
        assert f'href="/probe?target={name}&amp;debug=true"' in page
    assert "unix@/run/h1.sock" in page and "ipv4@127.0.0.1:9999" in page
