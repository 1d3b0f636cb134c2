"""What one poll may hold, through a scripted socket that floods (a fault no real HAProxy shows).

``haproxy.max_response_bytes`` bounds the answers of one poll of one target in all, not each
answer: a socket answering every command with just under the cap must not make the exporter
hold the cap once per command.  The answers are read as blocks of whole lines (runtime/answer.py),
never joined, and each parser reads them line by line, refusing a listing of more items than any
HAProxy has.  Peaks are measured with tracemalloc around one poll, with generous bounds.
"""

from __future__ import annotations

import socket
import tempfile
import tracemalloc
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from exposition import samples, value
from support import EMPTY_ANSWERS

from exporter.config import TargetConfig, build_config
from exporter.poll.poller import Poller
from exporter.poll.snapshot import Store
from exporter.runtime.address import parse_address
from exporter.runtime.answer import BLOCK, MAX_LINE, Answer
from exporter.runtime.client import RuntimeClient, TransportError
from exporter.runtime.errors import MAX_FEW, MAX_FIELDS, MAX_ITEMS, ParseError
from exporter.sources.certificates.parse import parse_cert, parse_cert_list
from exporter.sources.errors.parse import parse_errors
from exporter.sources.info.parse import parse_info
from exporter.sources.maps.parse import parse_acls, parse_maps
from exporter.sources.ocsp.parse import parse_ocsp_list
from exporter.sources.ocsp_updates.parse import parse_ocsp_updates
from exporter.sources.peers.parse import parse_peers
from exporter.sources.proc.parse import MAX_PROCESSES, parse_proc
from exporter.sources.registry import allowlist
from exporter.sources.resolvers.parse import parse_resolvers
from exporter.sources.stat.parse import parse_stat
from exporter.sources.sticktables.parse import parse_table_dump, parse_table_summary
from testkit.fakesocket import FakeSocket

FIX = Path(__file__).parent.parent / "fixtures"
INFO = (FIX / "faults" / "show-info.txt").read_text()
STAT = (FIX / "faults" / "show-stat.csv").read_text()
GOOD = {"show info": INFO.encode(), "show stat": STAT.encode(),
        **{c: a.encode() + b"\n" for c, a in EMPTY_ANSWERS.items()}}
BUDGET = 8 << 20


@pytest.fixture
def fake() -> Iterator[FakeSocket]:
    path = Path(tempfile.mkdtemp(prefix="hrxm")) / "fake.sock"
    with FakeSocket(path, GOOD) as server:
        yield server


def grow(head: str, record: Callable[[int], str], size: int) -> bytes:
    """``head`` and numbered records up to ``size`` bytes, ended by the blank line: a whole answer."""
    parts, total, n = [head], len(head), 0
    while total < size - 1:
        parts.append(record(n))
        total += len(parts[-1])
        n += 1
    return ("".join(parts)[: size - 2].rsplit("\n", 1)[0] + "\n\n").encode()


def table_dump(name: str, size: int) -> bytes:
    return grow(f"# table: {name}, type: ip, size:1048576, used:1000000\n",
                lambda n: f"0x{n:012x}: key=10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255} use=0 exp={n} "
                          f"gpc0={n % 997} conn_rate(10000)={n % 5000}\n", size)


def stat_rows(size: int) -> bytes:
    header, _, body = STAT.partition("\n")
    row = next(line for line in body.split("\n") if line.startswith("be_b,b1,"))
    rest = row.split(",", 2)[2]
    return grow(header + "\n", lambda n: f"be_{n // 20},s{n % 20},{rest}\n", size)


def poll_peak(poller: Poller) -> tuple[bool, int]:
    tracemalloc.start()
    try:
        ok = poller.poll_once()
        return ok, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_flood_of_every_command_is_read_up_to_the_budget_of_the_poll_and_the_last_snapshot_stays(fake) -> None:
    """Every command answered with just under haproxy.max_response_bytes, well formed, so that all of
    it would be kept until the build: the poll reads the budget once in all, refuses what goes
    beyond it (too_large, the key named), keeps the last good snapshot, and its peak stays a small
    multiple of the budget (measured: 15.8 MiB).  With a cap per answer every answer was read,
    kept and built: 1.3 GB at its peak, 160 times the budget."""
    tables = [{"name": f"t{n}", "max_entries": 10**6} for n in range(4)]
    config = build_config({"haproxy": {"address": fake.path, "mode": "worker", "timeout": "60s",
                                       "max_response_bytes": BUDGET}, "stick_tables": tables})
    fake.answers["show table"] = "".join(f"# table: t{n}, type: ip, size:1048576, used:1000000\n"
                                         for n in range(4)).encode() + b"\n"
    for n in range(4):
        fake.answers[f"show table t{n}"] = b"# table: t%d, type: ip, size:1048576, used:0\n\n" % n
    store = Store(config.poll.max_age)
    poller = Poller(config, store)
    assert poller.poll_once()
    good = store.published.page
    fake.answers["show info"] = grow(INFO, lambda n: f"Pad_{n}: {'x' * 8000}\n", BUDGET - 100)
    fake.answers["show stat"] = stat_rows(BUDGET - 100)
    for n in range(4):
        fake.answers[f"show table t{n}"] = table_dump(f"t{n}", BUDGET - 100)
    ok, peak = poll_peak(poller)
    assert not ok
    assert store.published.page is good  # the last good snapshot, still served
    got = samples(b"".join(p.text for p in store.parts()).decode())
    assert value(got, "haproxy_up") == 0
    assert value(got, "haproxy_exporter_command_errors_total", command="show stat", reason="too_large") == 1
    assert value(got, "haproxy_frontend_status", proxy="fe_main", state="UP") == 1
    assert peak < 4 * BUDGET, f"a flooded poll allocated {peak / 2**20:.1f} MiB at its peak"


def test_the_budget_is_shared_by_the_commands_of_a_poll_whatever_their_number(fake, caplog) -> None:
    """Stick-table dumps of 40% of the budget each: the first two fit, the others are refused
    (the third while read, the last two without being sent), each counted as too_large with the key
    to raise; the rest of the poll is published."""
    tables = [{"name": f"t{n}"} for n in range(5)]
    config = build_config({"haproxy": {"address": fake.path, "mode": "worker", "timeout": "60s",
                                       "max_response_bytes": BUDGET}, "stick_tables": tables})
    fake.answers["show table"] = "".join(f"# table: t{n}, type: ip, size:1048576, used:1000000\n"
                                         for n in range(5)).encode() + b"\n"
    for n in range(5):
        fake.answers[f"show table t{n}"] = table_dump(f"t{n}", BUDGET * 4 // 10)
    store = Store(config.poll.max_age)
    assert Poller(config, store).poll_once()
    got = samples(b"".join(p.text for p in store.parts()).decode())
    assert value(got, "haproxy_sticktable_entries_seen", table="t0") > 10_000
    assert value(got, "haproxy_sticktable_entries_seen", table="t1") > 10_000
    for n in (2, 3, 4):
        assert value(got, "haproxy_exporter_command_errors_total", command=f"show table t{n}", reason="too_large") == 1
        assert value(got, "haproxy_sticktable_entries_seen", table=f"t{n}") is None
    said = [r.getMessage() for r in caplog.records if "too_large" in r.getMessage()]
    assert said and all("haproxy.max_response_bytes" in line for line in said), said
    assert fake.commands.count("show table t4") == 0  # nothing left of the budget: not even sent


# -- the answer as blocks of lines ---------------------------------------------------------------

def odd_pieces(payload: bytes) -> Callable[[socket.socket], None]:
    """Send ``payload`` in pieces of odd sizes, so multi-byte characters straddle the reads."""
    def send(conn: socket.socket) -> None:
        sizes = (1, 7, 4093, 65537, 3)
        at, n = 0, 0
        while at < len(payload):
            conn.sendall(payload[at:at + sizes[n % len(sizes)]])
            at += sizes[n % len(sizes)]
            n += 1
    return send


def test_an_answer_is_decoded_into_blocks_of_whole_lines_equal_to_a_decoding_of_the_whole(fake) -> None:
    lines = [f"{n} café ü€𝄞 {'x' * (n % 300)}" for n in range(30_000)]
    payload = ("\n".join(lines) + "\n").encode() + b"bad \xff\xfe byte\n\n"
    fake.answers["show info"] = odd_pieces(payload)
    answer = RuntimeClient(parse_address(fake.path), allowlist(), TargetConfig()).run("show info")
    assert str(answer) == payload[:-1].decode("utf-8", errors="replace")  # the oracle: one decode of it all
    blocks = answer.blocks
    assert len(blocks) > 10
    assert all(block.endswith("\n") for block in blocks)
    longest = max(map(len, lines)) + 1
    # A block is what was pending (under BLOCK characters) and one read (recv(BLOCK): the kernel
    # may join the pieces sent into one of up to BLOCK bytes when the reader lags).
    assert max(map(len, blocks)) < 2 * BLOCK + longest, "a block is about what one read gives"


def test_a_line_longer_than_any_haproxy_writes_is_refused_while_read(fake) -> None:
    fake.answers["show info"] = b"Name: " + b"x" * (MAX_LINE + BLOCK + 10) + b"\n\n"
    with pytest.raises(TransportError) as err:
        RuntimeClient(parse_address(fake.path), allowlist(), TargetConfig()).run("show info")
    assert err.value.reason == "unexpected_response"


def test_one_answer_alone_still_stops_at_the_cap(fake) -> None:
    fake.answers["show stat"] = b"x" * 5000 + b"\n\n"
    with pytest.raises(TransportError) as err:
        RuntimeClient(parse_address(fake.path), allowlist(), TargetConfig(max_response_bytes=1000)).run("show stat")
    assert err.value.reason == "too_large"
    assert "haproxy.max_response_bytes" in str(err.value)


class Whole(Answer):
    """An answer that fails the test if anything asks for its whole text in one string."""

    def __str__(self) -> str:
        raise AssertionError("the whole answer was joined into one string")


def big(path: str, copies: int) -> str:
    """A capture's answer made long by repeating its body (each copy renamed where names count)."""
    text = (FIX / path).read_text().rstrip("\n") + "\n"
    return text + "".join(text.split("\n", 1)[1] for _ in range(copies)) if copies else text


PARSERS: list[tuple[str, Callable[[Any], Any], str]] = [
    ("info", parse_info, (FIX / "2.6.12" / "show-info.txt").read_text()),
    ("stat", parse_stat, big("2.6.12/show-stat.csv", 200)),
    ("table summary", parse_table_summary, (FIX / "2.6.12" / "show-table.txt").read_text()),
    ("table dump", parse_table_dump, table_dump("t", 300_000).decode()[:-1]),
    ("errors", parse_errors, (FIX / "2.6.12" / "show-errors.txt").read_text()),
    ("maps", parse_maps, big("2.6.12/show-map.txt", 2000)),
    ("acls", parse_acls, big("2.6.12/show-acl.txt", 2000)),
    # The client's answer (without the closing blank line), its sections repeated after the blank
    # line HAProxy writes before each one.
    ("peers", parse_peers, "\n".join([(FIX / "2.6.12" / "show-peers.txt").read_text()[:-1]] * 200)),
    ("resolvers", parse_resolvers, (FIX / "2.6.12" / "show-resolvers.txt").read_text()),
    ("certificate list", parse_cert_list, "# filename\n" + "".join(f"/c/{n}.pem\n" for n in range(20_000))),
    ("certificate", parse_cert, (FIX / "2.6.12" / "show-ssl-cert-many.txt").read_text()),
    ("ocsp list", parse_ocsp_list, (FIX / "2.6.12" / "show-ssl-ocsp-response.txt").read_text()),
    ("ocsp updates", parse_ocsp_updates, big("3.4.0/show-ssl-ocsp-updates.txt", 3000)),
    ("proc", parse_proc, (FIX / "2.6.12" / "master" / "show-proc.txt").read_text()),
]


@pytest.mark.parametrize("name, parse, text", PARSERS, ids=[p[0] for p in PARSERS])
@pytest.mark.parametrize("block", [1, 4096])
def test_every_parser_reads_an_answer_a_block_at_a_time_as_it_reads_one_string(name, parse, text, block) -> None:
    """The seam: an answer in blocks (one line each, or 4 KiB) that refuses to be joined.  Every
    parser must read it through its lines and head only, and make of it what it makes of the
    same text in one string (the reading every parser had before)."""
    want = parse(text)
    got = parse(Whole(list(Answer.of(text, block).blocks)))
    assert repr(got) == repr(want)


LISTINGS: list[tuple[str, Callable[[Any], Any], Callable[[int], str], int]] = [
    ("info", parse_info, lambda n: "Name: HAProxy\n" + "".join(f"Extra_{i}: {i}\n" for i in range(n - 1)), MAX_FIELDS),
    ("table summary", parse_table_summary,
     lambda n: "".join(f"# table: t{i}, type: ip, size:10, used:0\n" for i in range(n)), MAX_ITEMS),
    ("maps", parse_maps, lambda n: "# id (file) description\n" + "".join(
        f"{i} (/m{i}.map) pattern loaded from file '/m{i}.map' used by map at file 'h.cfg' line 1. entry_cnt=1\n"
        for i in range(n)), MAX_ITEMS),
    ("errors", parse_errors, lambda n: "Total events captured on [02/Dec/2026:14:12:40.166] : 3\n" + "".join(
        f"[02/Dec/2026:14:12:40.165] frontend fe{i} (#2): invalid request\n"
        f"  backend <NONE> (#-1), server <NONE> (#-1), event #{i}, src 127.0.0.1:1\n" for i in range(n)), MAX_ITEMS),
    # Whole answers as show peers' parser takes them: a local peer in each section, flags= in every peer's block.
    ("peers", parse_peers, lambda n: "0x1: [02/Dec/2026:14:09:11] id=p disabled=0\n" + "".join(
        f"  0x2: id=h{i}({'local' if i == 0 else 'remote,active'}) addr=127.0.0.1:1 flags=0x0\n" for i in range(n)),
     MAX_FEW),
    ("peer fields", parse_peers, lambda n: "0x1: [02/Dec/2026:14:09:11] id=p disabled=0\n"
     "  0x2: id=h(local) addr=127.0.0.1:1 flags=0x0\n" + "".join(f"        k{i}=1\n" for i in range(n)), MAX_FIELDS),
    ("peer tables", parse_peers, lambda n: "0x1: [02/Dec/2026:14:09:11] id=p disabled=0\n"
     "  0x2: id=h(local) addr=127.0.0.1:1 flags=0x0\n        shared tables:\n" + "".join(
         f"          0x{i:x} local_id={i} remote_id=0 flags=0x0 remote_data=0x0\n"
         f"              table:0x{i:x} id=t{i} update=0 localupdate=0\n" for i in range(n)), MAX_ITEMS),
    ("peer table fields", parse_peers, lambda n: "0x1: [02/Dec/2026:14:09:11] id=p disabled=0\n"
     "  0x2: id=h(local) addr=127.0.0.1:1 flags=0x0\n        shared tables:\n"
     "          0x1 local_id=1 remote_id=0 flags=0x0 remote_data=0x0\n"
     "              table:0x1 id=t " + " ".join(f"k{i}=1" for i in range(n)) + "\n", MAX_FIELDS),
    ("resolvers", parse_resolvers, lambda n: "Resolvers section dns\n" + "".join(
        f" nameserver ns{i}:\n  sent: 1\n" for i in range(n)), MAX_FEW),
    ("certificate list", parse_cert_list, lambda n: "# filename\n" + "".join(f"/c/{i}.pem\n" for i in range(n)),
     MAX_ITEMS),
    ("certificate fields", parse_cert, lambda n: "Filename: /c.pem\n" + "".join(f"F{i}: x\n" for i in range(n)),
     MAX_FIELDS),
    ("ocsp list", parse_ocsp_list, lambda n: "# Certificate IDs\n" + "".join(
        f"Certificate ID key : {i:08x}\n" for i in range(n)), MAX_ITEMS),
    ("ocsp updates", parse_ocsp_updates, lambda n: "OCSP Certid | Path | Next Update\n" + "".join(
        f"{i:08x} | /c{i}.pem | -\n" for i in range(n)), MAX_ITEMS),
    ("proc", parse_proc, lambda n: "#<PID>  <type>  <reloads>  <uptime>  <version>\n1 master 0 0d00h00m01s 2.6\n"
     "# workers\n" + "".join(f"{i + 2} worker 0 0d00h00m01s 2.6\n" for i in range(n)), MAX_PROCESSES),
]


@pytest.mark.parametrize("name, parse, answer, limit", LISTINGS, ids=[item[0] for item in LISTINGS])
def test_a_listing_longer_than_any_haproxy_is_refused_and_up_to_the_limit_it_is_read(name, parse, answer,
                                                                                      limit) -> None:
    parse(answer(limit - 5))  # a listing this long is read (real ones are far shorter)
    with pytest.raises(ParseError) as err:
        parse(answer(limit + 1))
    assert err.value.reason == "too_many_items"
