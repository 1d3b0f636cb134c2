"""Bad answers from a scripted socket: every one is survived, counted, explained once, and kept out
of the snapshot.

What the exporter does (stated in docs/reliability.md): a failed poll keeps the previous complete
HAProxy snapshot, served with ``haproxy_up 0`` until it is older than ``poll.max_age``; after that
(or when there never was a good poll) no HAProxy series at all are served, only the exporter's
own.  The real transport and parsers are used; only the socket's peer is scripted.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families
from support import EMPTY_ANSWERS, FakeClock, answering

from exporter.config import build_config
from exporter.poll.poller import Poller
from exporter.poll.snapshot import Store
from exporter.runtime.advice import ADVICE
from testkit.fakesocket import Cut, FakeSocket, Hang

FAULTS = Path(__file__).parent.parent / "fixtures" / "faults"
INFO = (FAULTS / "show-info.txt").read_bytes()
STAT = (FAULTS / "show-stat.csv").read_bytes()
GOOD = {"show info": INFO, "show stat": STAT, **{c: a.encode() + b"\n" for c, a in EMPTY_ANSWERS.items()}}
MAX_AGE = 10.0


def exposition(store: Store, now: float) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """What /metrics would serve at ``now``, read back with prometheus_client's own parser."""
    text = b"".join(p.text for p in store.parts(now)).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


def value(samples: dict, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def haproxy_series(samples: dict) -> set[str]:
    """Series that come from HAProxy, not from the exporter about itself."""
    return {n for n, _ in samples if n.startswith("haproxy_") and not n.startswith("haproxy_exporter_")
            and n != "haproxy_up"}


@pytest.fixture
def fake() -> Iterator[FakeSocket]:
    with tempfile.TemporaryDirectory(prefix="hrxf") as d, FakeSocket(Path(d) / "fake.sock", GOOD) as server:
        yield server


def make_poller(path: str, clock: FakeClock, **haproxy: object) -> tuple[Poller, Store]:
    config = build_config({"haproxy": {"address": path, "timeout": "300ms", **haproxy},
                           "poll": {"interval": "1s", "max_age": f"{MAX_AGE:g}s"}})
    store = Store(config.poll.max_age, clock)
    return Poller(config, store, clock=clock), store


HTML = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n"
        b"<!doctype html><html><body><h1>It works</h1></body></html>\n")
GARBAGE = bytes(range(256)) * 4 + b"\n\n"
# (name, command, answer, reason, haproxy options)
CASES = [
    ("hang", "show info", Hang(), "timeout", {}),
    ("hang after half an answer", "show stat", Hang(STAT[:500]), "timeout", {}),
    ("cut mid-row", "show stat", Cut(STAT, len(STAT) // 2 + 7), "truncated", {}),
    ("cut right after a row", "show stat", Cut(STAT, STAT.index(b"\n", 400) + 1), "truncated", {}),
    ("garbage", "show info", GARBAGE, "unexpected_response", {}),
    ("garbage stat", "show stat", GARBAGE, "unexpected_response", {}),
    ("html page", "show info", HTML, "not_haproxy", {}),
    ("html page ending in a blank line", "show stat", b"<html><body>503</body></html>\n\n", "not_haproxy", {}),
    ("empty answer", "show info", b"", "empty", {}),
    ("unknown command", "show stat", (FAULTS / "unknown-command.txt").read_bytes(), "unknown_command", {}),
    ("permission denied", "show stat", b"Permission denied\n\n", "permission_denied", {}),
    ("beyond the size cap", "show stat", STAT, "too_large", {"max_response_bytes": len(INFO) + 100}),
    ("header only, rows cut with a blank line", "show stat",
     STAT.split(b"\n")[0] + b"\n" + STAT.split(b"\n")[1][:40] + b"\n\n", "malformed_row", {}),
]


@pytest.mark.parametrize("name,command,answer,reason,options", CASES, ids=[c[0] for c in CASES])
def test_bad_answer_keeps_last_good_snapshot_counts_and_explains(
    fake: FakeSocket, caplog: pytest.LogCaptureFixture, name: str, command: str, answer: object,
    reason: str, options: dict,
) -> None:
    clock = FakeClock(1_700_000_000.0)
    poller, store = make_poller(fake.path, clock, **options)
    if reason != "too_large":
        assert poller.poll_once(), "the scripted good answers must poll cleanly first"
    good_at = clock.now
    good = exposition(store, clock.now)
    fake.answers[command] = answer  # type: ignore[assignment]

    clock.now += 1
    with caplog.at_level(logging.INFO, logger="exporter.poll"):
        assert poller.poll_once() is False  # no exception escapes
        poller.poll_once()  # the same fault again: counted again, not logged again

    now = exposition(store, clock.now)
    assert value(now, "haproxy_up") == 0
    assert value(now, "haproxy_exporter_command_errors_total", command=command, reason=reason) == 2
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert f"({reason})" in warnings[0].getMessage()
    assert ADVICE[reason] in warnings[0].getMessage()

    if reason == "too_large":  # never a good poll: no HAProxy series at all
        assert haproxy_series(now) == set()
        return
    # The previous complete snapshot is still served, unchanged, until it is older than max_age ...
    names = haproxy_series(good)
    assert names and {k: v for k, v in now.items() if k[0] in names} == {k: v for k, v in good.items() if k[0] in names}
    assert value(now, "haproxy_exporter_snapshot_stale") == 0
    # ... and not a moment past it.
    late = exposition(store, good_at + MAX_AGE + 0.001)
    assert haproxy_series(late) == set()
    assert value(late, "haproxy_exporter_snapshot_stale") == 1
    assert value(late, "haproxy_up") == 0

    # It recovers on the next poll, and says so once.
    fake.answers.update(GOOD)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="exporter.poll"):
        assert poller.poll_once()
    assert value(exposition(store, clock.now), "haproxy_up") == 1
    assert any("works again" in r.getMessage() for r in caplog.records)


def test_unreachable_socket_is_not_asked_twice_per_poll(fake: FakeSocket) -> None:
    """A hang on show info ends the poll: show stat is not sent to wait out a second timeout."""
    poller, _ = make_poller(fake.path, FakeClock(1_700_000_000.0))
    assert poller.poll_once()  # the first poll also asks what the socket is (show proc, show cli level)
    fake.answers["show info"] = Hang()
    fake.commands.clear()
    assert poller.poll_once() is False
    assert fake.commands == ["show info"]


def test_header_whose_columns_change_between_polls(fake: FakeSocket) -> None:
    """Columns are found by name: a dropped column's series go, the rest keep their values.

    This is not an error: HAProxy's header changes across reloads into another version.
    """
    clock = FakeClock(1_700_000_000.0)
    poller, store = make_poller(fake.path, clock)
    assert poller.poll_once()
    before = exposition(store, clock.now)
    lines = STAT.decode().split("\n")
    names = lines[0][2:].rstrip(",").split(",")
    drop = names.index("bout")
    moved = ["# " + ",".join(n for i, n in enumerate(names) if i != drop) + ",new_col,"]
    for line in lines[1:]:
        if line:
            cells = line.split(",")[:-1]  # every cell is followed by a comma
            moved.append(",".join(c for i, c in enumerate(cells) if i != drop) + ",7,")
    fake.answers["show stat"] = ("\n".join(moved) + "\n\n").encode()
    clock.now += 1
    assert poller.poll_once()
    after = exposition(store, clock.now)
    assert not [k for k in after if k[0] == "haproxy_frontend_bytes_out_total"]
    assert [k for k in before if k[0] == "haproxy_frontend_bytes_out_total"]
    same = [k for k in before if k[0] == "haproxy_frontend_bytes_in_total"]
    assert same and all(after[k] == before[k] for k in same)
    assert not [k for k in after if k[0] == "haproxy_exporter_command_errors_total"]


def test_every_reason_has_advice() -> None:
    """A reason the transport or parsers can produce must come with a fix in the log line."""
    import re

    root = Path(__file__).parent.parent.parent / "exporter"
    source = "".join(p.read_text() for p in root.rglob("*.py"))
    produced = set(re.findall(r'(?:TransportError|ParseError)\(\s*"([a-z_]+)"', source))
    produced |= set(re.findall(r'return "([a-z_]+)"', (root / "runtime" / "errors.py").read_text()))
    assert produced, "the pattern must find the reasons"
    assert produced - set(ADVICE) == set()


def test_a_bug_is_counted_logged_with_traceback_and_the_loop_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    def fetch(command: str) -> str:
        raise RuntimeError("boom")  # stands for any bug below the poller

    config = build_config({"poll": {"interval": "1s", "max_age": "10s"}})
    clock = FakeClock(1_700_000_000.0)
    store = Store(config.poll.max_age, clock)
    poller = Poller(config, store, connect=answering(fetch), clock=clock)
    with caplog.at_level(logging.WARNING, logger="exporter.poll"):
        assert poller.poll_once() is False
    got = exposition(store, clock.monotonic())
    assert value(got, "haproxy_exporter_command_errors_total", command="show info", reason="internal_error") == 1
    assert any(r.exc_info for r in caplog.records), "the traceback must be logged"
    assert ADVICE["internal_error"] in caplog.text
