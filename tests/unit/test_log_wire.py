"""The counts the reader's process sends (exporter/sources/logs/wire.py, counting.Values.bin) make
the same totals in the exporter's process as the tally fed in one process does: the oracle is
Tally.feed, on the captured lines of HAProxy 2.6 to 3.4 mixed with lines that are not log lines
and a ring's drop notice, with servers, native histograms and a series cap that is reached."""

from __future__ import annotations

import io
from collections import Counter
from typing import Any

import pytest

from exporter.runtime.address import parse_address
from exporter.runtime.client import Allowlist, RuntimeClient
from exporter.sources.base import Link
from exporter.sources.logs import child, process, wire
from exporter.sources.logs.child import Counts
from exporter.sources.logs.config import NativeConfig
from exporter.sources.logs.counting import Counting, Values
from exporter.sources.logs.process import ReaderProcess, apply
from exporter.sources.logs.reader import Health
from exporter.sources.logs.tally import Tally
from testkit.procs import wait_for
from tests.unit.test_log_format import CAPTURED, lines
from tests.unit.test_log_tally import GARBAGE, KNOWN, block, config

NOTICE = "<134>Dec  5 03:44:15 localhost haproxy[1]: 12 events dropped"


def through_frames(cfg: Any, blocks: list[str], sends: int) -> Tally:
    """Count ``blocks`` as the reader's process does, send them in ``sends`` moments, each as
    frames read back from bytes, and apply them as the exporter's process does."""
    counting, values = Counting(cfg), Values(cfg)
    tally = Tally(cfg, fold_every=0)
    tally.set_known(KNOWN)
    per = max(1, len(blocks) // sends)
    for at in range(0, len(blocks), per):
        pending = counting.pending()
        for text in blocks[at:at + per]:
            counting.feed(text, pending)
        data = io.BytesIO(b"".join(wire.frames(pending, values, counting.matcher.tls)))
        while (message := wire.read_frame(data.read)) is not None:
            apply(message, tally, Health(), "", "show events r -w -n")
    return tally


@pytest.mark.parametrize("version, name", CAPTURED)
@pytest.mark.parametrize("more", [{}, {"servers": True, "native": "on"}, {"servers": True, "max_series": 2}],
                         ids=["plain", "servers-native", "capped"])
def test_the_counts_sent_make_the_totals_the_tally_makes(version: str, name: str, more: dict[str, Any]) -> None:
    options = {**more, "native": NativeConfig(schema=3, max_buckets=4)} if "native" in more else more
    cfg = config(version, name, **options)
    captured = lines(version, f"{name}.log")
    blocks = [block(captured[at:at + 3] + [GARBAGE[at % len(GARBAGE)]] + [NOTICE]) for at in range(0, len(captured), 3)]
    fed = Tally(cfg, fold_every=0)
    fed.set_known(KNOWN)
    for text in blocks:
        fed.feed(text)
    expected = fed.view()
    assert expected.lines > 0 and sum(n for series in expected.histograms.values() for _, counts, _ in series
                                      for n in counts) > 0
    for sends in (1, 3):
        got = through_frames(cfg, blocks, sends).view()
        assert got.histograms == expected.histograms
        assert got.native == expected.native
        assert (got.codes, got.terminations) == (expected.codes, expected.terminations)
        assert (got.retries, got.redispatches) == (expected.retries, expected.redispatches)
        assert (got.lines, got.dropped, got.rejected, got.unexported) == (
            expected.lines, expected.dropped, expected.rejected, expected.unexported)


class Sent:
    """What a :class:`~exporter.sources.logs.child.Counts` writes to the exporter."""

    def __init__(self) -> None:
        self.data = bytearray()

    def send(self, data: bytes) -> None:
        self.data += data


def sent_by_counts(cfg: Any, blocks: list[str], limit: int) -> tuple[Tally, Counts]:
    """``blocks`` through a reader's :class:`Counts` of the given ``limit`` (its clock stopped: no
    moment ends before the flush), applied as the exporter's process applies them."""
    sent = Sent()
    counts = Counts(Counting(cfg), sent, fold_every=60.0, clock=lambda: 0.0, limit=limit)  # type: ignore[arg-type]
    for text in blocks:
        counts.feed(text)
    counts.flush()
    tally = Tally(cfg, fold_every=0)
    tally.set_known(KNOWN)
    data = io.BytesIO(bytes(sent.data))
    while (message := wire.read_frame(data.read)) is not None:
        apply(message, tally, Health(), "", "show events r -w -n")
    return tally, counts


def same_totals(got: Any, expected: Any) -> None:
    assert got.histograms == expected.histograms and got.native == expected.native
    assert (got.codes, got.terminations, got.retries, got.redispatches) == (
        expected.codes, expected.terminations, expected.retries, expected.redispatches)
    assert (got.lines, got.rejected, got.unexported) == (expected.lines, expected.rejected, expected.unexported)


@pytest.mark.parametrize("version, name", CAPTURED)
@pytest.mark.parametrize("limit", [1, 4, 1 << 16])
def test_times_binned_while_a_moment_lasts_make_the_same_totals(version: str, name: str, limit: int) -> None:
    """Past ``limit`` distinct entries the reader bins its times and keeps them until the moment is
    over; past it with the series too, it sends at once: the totals are the same either way."""
    cfg = config(version, name, servers=True, native=NativeConfig(schema=3, max_buckets=4))
    captured = lines(version, f"{name}.log")
    blocks = [block(captured[at:at + 2] + [GARBAGE[at % len(GARBAGE)]]) for at in range(0, len(captured), 2)]
    fed = Tally(cfg, fold_every=0)
    fed.set_known(KNOWN)
    for text in blocks:
        fed.feed(text)
    got, counts = sent_by_counts(cfg, blocks, limit)
    same_totals(got.view(), fed.view())
    assert counts.sends >= 1


def test_many_distinct_times_are_binned_and_sent_once_a_moment() -> None:
    """A thousand distinct times of one backend are a thousand pending entries and one series: the
    reader bins them when they pass its limit, and sends once, when the moment ends."""
    cfg = config("3.4.0", "httplog")
    line = next(text for text in lines("3.4.0", "httplog.log") if " be_app/app1 0/0/0/0/0 " in text)
    blocks = [block([line.replace(" 0/0/0/0/0 ", f" 0/0/0/{ms}/{ms} ") for ms in range(at, at + 100)])
              for at in range(0, 1000, 100)]
    fed = Tally(cfg, fold_every=0)
    fed.set_known(KNOWN)
    for text in blocks:
        fed.feed(text)
    expected = fed.view()
    assert sum(n for _, counts, _ in expected.histograms[("backend", "total")] for n in counts) == 1000
    got, counts = sent_by_counts(cfg, blocks, limit=250)
    assert counts.sends == 1
    same_totals(got.view(), expected)


def test_no_frame_holds_more_than_its_bound() -> None:
    """What the exporter's process reads back in one C call stays small, however many entries."""
    cfg = config("3.4", "httplog", servers=True)
    counting, values = Counting(cfg), Values(cfg)
    pending = counting.pending()
    pending.outcomes.update({(f"fe{i}", f"be{i}", "200", "----", "0"): 1 for i in range(5 * wire.CHUNK + 1)})
    pending.timers["total"].update({(f"be{i}", "s", str(i % 100)): 1 for i in range(5 * wire.SERIES_CHUNK + 1)})
    sizes: Counter[str] = Counter()
    data = io.BytesIO(b"".join(wire.frames(pending, values, counting.matcher.tls)))
    while (message := wire.read_frame(data.read)) is not None:
        if message[0] == wire.OUTCOMES:
            assert len(message[1]) <= wire.CHUNK
            sizes["outcomes"] += len(message[1])
        elif message[0] == wire.SERIES:
            assert len(message[2]) <= wire.SERIES_CHUNK
            sizes["series"] += len(message[2])
        sizes[message[0]] += 1
    assert sizes["outcomes"] == 5 * wire.CHUNK + 1 and sizes[wire.OUTCOMES] == 6
    assert sizes["series"] == 5 * wire.SERIES_CHUNK + 1 and sizes[wire.SERIES] == 6
    assert sizes[wire.WAITING] == 1


def test_a_pipe_out_of_step_is_said_not_read() -> None:
    data = io.BytesIO(b"\xff\xff\xff\xff" + b"x" * 10)
    with pytest.raises(ValueError):
        wire.read_frame(data.read)
    assert wire.read_frame(io.BytesIO(b"\x00\x00").read) is None  # the child ended mid-frame


class Limits:
    connect_timeout = 1.0
    timeout = 1.0
    max_response_bytes = 1 << 20


def test_a_reader_that_cannot_start_is_counted_once_a_try_and_tried_again_until_stopped(monkeypatch, caplog) -> None:
    tries: list[int] = []

    def failing() -> Any:
        tries.append(1)
        raise OSError("no more processes")

    monkeypatch.setattr(process, "spawn", failing)
    health = Health()
    command = "show events r -w -n"
    client = RuntimeClient(parse_address("/nonexistent/admin.sock"), Allowlist([r"show events r -w -n", r"show info"]),
                           Limits())  # the log source declares both: show info is chained before the stream
    reader = ReaderProcess(command, Tally(config("3.4", "httplog")), health, pauses=(0.01,))
    reader.start(Link("", "", client))
    reader.ready()
    try:
        wait_for(lambda: len(tries) >= 3, 10, "the reader was not tried again")
    finally:
        reader.stop()
    assert health.failures["reader_died"] in (len(tries), len(tries) - 1)  # the last try may be counted or stopped
    assert health.failures["reader_died"] >= 2 and set(health.failures) == {"reader_died"}
    assert sum("reader_died" in r.getMessage() for r in caplog.records) == 1  # said once


def test_a_moment_lasts_longer_while_its_counts_are_many() -> None:
    """A second's counts go after a second when they are few; when they are more than the
    exporter's process should fold a second (child.FOLDS), the moment lasts until they are not, and
    never longer than child.STRETCH seconds."""
    cfg = config("3.4.0", "httplog")
    line = next(text for text in lines("3.4.0", "httplog.log") if " be_app/app1 " in text)
    now = [0.0]
    sent = Sent()
    counts = Counts(Counting(cfg), sent, fold_every=1.0, clock=lambda: now[0])  # type: ignore[arg-type]
    counts.feed(block([line] * 10))
    now[0] = 0.99
    counts.due()
    assert counts.sends == 0
    now[0] = 1.0
    counts.due()
    assert counts.sends == 1  # few: after one second

    many = child.FOLDS * 2 + 1  # distinct outcomes (frontends), one backend: over two seconds' folding
    counts.feed(block([line.replace(" fe_httplog ", f" fe{k} ") for k in range(many)]))
    for at, sends in ((2.0, 1), (3.0, 1), (3.5, 2)):  # since 1.0: 2.5 s of folding is enough
        now[0] = at
        counts.due()
        assert counts.sends == sends, at
    counts.feed(block([line.replace(" fe_httplog ", f" fe{k} ") for k in range(child.FOLDS * 10)]))
    for at, sends in ((4.4, 2), (8.4, 2), (8.5, 3)):  # never longer than STRETCH seconds
        now[0] = at
        counts.due()
        assert counts.sends == sends, at
    tally = Tally(cfg, fold_every=0)
    tally.set_known(KNOWN)
    data = io.BytesIO(bytes(sent.data))
    while (message := wire.read_frame(data.read)) is not None:
        apply(message, tally, Health(), "", "show events r -w -n")
    assert tally.view().lines == 10 + many + child.FOLDS * 10
