"""``show peers`` on captures of 2.6.12, 2.8.25, 3.2.0 and 3.4.0 (two HAProxys joined as peers, and
a second section whose other peer never answers): up, just after the other stopped, reconnecting."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from exposition import samples, types, value
from support import EMPTY_ANSWERS, haproxy_seconds, peer_links

from exporter.config import build_config
from exporter.exposition.render import render
from exporter.poll.poller import Poller
from exporter.poll.snapshot import Store
from exporter.runtime.answer import Answer
from exporter.runtime.errors import ParseError
from exporter.sources.peers import naming
from exporter.sources.peers.model import peer_families
from exporter.sources.peers.parse import duration_seconds, parse_peers
from exporter.sources.values import ModelStats
from testkit.fakesocket import FakeSocket

FIXTURES = Path(__file__).parent.parent / "fixtures"
FAULTS = FIXTURES / "faults"
VERSIONS = ["2.6.12", "2.8.25", "3.2.0", "3.4.0"]
CAPTURES = ["show-peers.txt", "show-peers-down.txt", "show-peers-retrying.txt"]
COUNTERS = {"new_conn": "new_connections_total", "proto_err": "protocol_errors_total", "no_hbt": "missed_heartbeats_total",
            "tx_hbt": "heartbeats_sent_total", "rx_hbt": "heartbeats_received_total", "coll": "collisions_total"}


def answer(version: str, capture: str) -> str:
    """A capture as the client hands it over: HAProxy's answer without its closing blank line."""
    raw = (FIXTURES / version / capture).read_text()
    assert raw.endswith("\n\n")
    return raw[:-1]


def exported(text: str, stats: ModelStats | None = None) -> str:
    return render(peer_families(parse_peers(text), stats or ModelStats()))


@pytest.mark.parametrize("capture", CAPTURES)
@pytest.mark.parametrize("version", VERSIONS)
def test_every_remote_peer_as_show_peers_says(version: str, capture: str) -> None:
    text = answer(version, capture)
    stats = ModelStats()
    out = exported(text, stats)
    got = samples(out)
    links = peer_links(text)  # the test's own reading
    assert set(links) == {("mypeers", "hapB"), ("other", "ghost")}
    for (section, peer), fields in links.items():
        labels = {"peers": section, "peer": peer}
        up = fields["session"] == "active" and fields["last_status"] == "ESTA"
        assert value(got, "haproxy_peer_connected", **labels) == (1 if up else 0), (section, peer)
        for status in naming.STATUSES:
            want = 1 if status == fields["last_status"] else 0
            assert value(got, "haproxy_peer_status", status=status, **labels) == want, (section, peer, status)
        assert value(got, "haproxy_peer_last_handshake_seconds", **labels) == haproxy_seconds(fields["last_hdshk"])
        for field, name in COUNTERS.items():
            assert value(got, f"haproxy_peer_{name}", **labels) == int(fields[field]), (section, peer, field)
    assert stats == ModelStats()
    assert types(out)["haproxy_peer_new_connections"] == "counter"  # the parser strips _total


@pytest.mark.parametrize("version", VERSIONS)
def test_up_then_down_then_reconnecting(version: str) -> None:
    """The link the captures follow: established, then the other HAProxy stopped (no session, the
    last status still ESTA), then a new connect attempt (CONN or HSHK): only the first is up."""
    states = []
    for capture in CAPTURES:
        got = samples(exported(answer(version, capture)))
        states.append(value(got, "haproxy_peer_connected", peers="mypeers", peer="hapB"))
        assert value(got, "haproxy_peer_connected", peers="other", peer="ghost") == 0  # never answered
    assert states == [1, 0, 0]


@pytest.mark.parametrize("version", VERSIONS)
def test_the_local_peer_is_not_a_link(version: str) -> None:
    text = answer(version, "show-peers.txt")
    assert {(p.section, p.name) for p in parse_peers(text) if p.local} == {("mypeers", "hapA"), ("other", "hapA")}
    assert 'peer="hapA"' not in exported(text)


@pytest.mark.parametrize("version", VERSIONS)
def test_a_table_id_does_not_become_the_peer_s(version: str) -> None:
    """``remote_table:... id=st_src`` and the connection's ``addr=`` come after the peer's own fields."""
    text = answer(version, "show-peers.txt")
    hap_b = next(p for p in parse_peers(text) if p.name == "hapB")
    assert hap_b.active and "id" not in hap_b.fields
    assert hap_b.fields["addr"] == peer_links(text)[("mypeers", "hapB")]["addr"]
    assert hap_b.fields["state"] == "EST"  # the connection's line is read too


@pytest.mark.parametrize(("text", "seconds"), [
    ("0s", 0), ("4s", 4), ("59s", 59), ("1m", 60), ("1m2s", 62), ("2h", 7200), ("3h5m", 11100), ("1h59m", 7140),
    ("2d4h", 187200), ("24855d3h", 24855 * 86400 + 3 * 3600), ("500ms", 0.5), ("1s500ms", 1.5),
])
def test_haproxy_durations(text: str, seconds: float) -> None:
    assert duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "<NEVER>", "<PAST>", "?", "5", "5x", "1s2m", "-1s", "1 s", "m", "ms"])
def test_what_is_not_a_duration(text: str) -> None:
    assert duration_seconds(text) is None


PEER_A = "0x1: [02/Dec/2026:14:09:11] id=s1 disabled=0 flags=0x6811 resync_timeout=2s task_calls=8\n"


LOCAL = ("  0x9: id=me(local,inactive) addr=127.0.0.1:9 last_status=NONE last_hdshk=<NEVER>\n"
         "        reconnect=<NEVER> heartbeat=<NEVER> confirm=0 tx_hbt=0 rx_hbt=0 no_hbt=0 new_conn=0 proto_err=0 coll=0\n"
         "        flags=0x0\n")  # every section lists the process itself


def peer_line(name: str, status: str, hdshk: str = "2s", session: str = "active") -> str:
    return (f"  0x2: id={name}(remote,{session}) addr=127.0.0.1:1 last_status={status} last_hdshk={hdshk}\n"
            "        reconnect=2s heartbeat=1s confirm=0 tx_hbt=3 rx_hbt=4 no_hbt=0 new_conn=2 proto_err=0 coll=0\n"
            "        flags=0x0\n")


def test_an_unknown_status_costs_only_its_state_set() -> None:
    text = PEER_A + peer_line("p1", "WXYZ") + peer_line("p2", "ESTA") + LOCAL
    stats = ModelStats()
    got = samples(exported(text, stats))
    assert all(value(got, "haproxy_peer_status", peers="s1", peer="p1", status=s) == 0 for s in naming.STATUSES)
    assert value(got, "haproxy_peer_connected", peers="s1", peer="p1") == 0
    assert value(got, "haproxy_peer_heartbeats_received_total", peers="s1", peer="p1") == 4
    assert value(got, "haproxy_peer_connected", peers="s1", peer="p2") == 1
    assert stats.ignored == {("peer_status", "unknown"): 1}


def test_never_and_odd_ages_are_no_sample() -> None:
    text = PEER_A + peer_line("p1", "NONE", "<NEVER>", "inactive") + peer_line("p2", "ESTA", "?") + LOCAL
    stats = ModelStats()
    got = samples(exported(text, stats))
    assert value(got, "haproxy_peer_last_handshake_seconds", peers="s1", peer="p1") is None
    assert value(got, "haproxy_peer_last_handshake_seconds", peers="s1", peer="p2") is None
    assert stats.invalid_values == 1  # "?" is HAProxy's own odd value; <NEVER> is a fact
    assert value(got, "haproxy_peer_status", peers="s1", peer="p1", status="NONE") == 1


def test_unknown_fields_and_long_table_dumps_are_skipped() -> None:
    tables = "".join(f"          0x{i:x} local_id={i} remote_id={i} flags=0x0 remote_data=0x204\n"
                     f"              last_acked=0 last_pushed=2 last_get=0 update=2\n"
                     f"              table:0x9 id=t{i} update=2 refcnt=1\n"
                     '        Dictionary cache not dumped (use "show peers dict")\n' for i in range(500))
    text = (PEER_A + "  0x2: id=p1(remote,active) addr=127.0.0.1:1 newfield=x last_status=ESTA last_hdshk=1m2s more=1\n"
            "        reconnect=2s future_counter=9 new_conn=7\n"
            "        flags=0x0 appctx:0x5 st0=7 st1=0 task_calls=1 state=EST\n"
            "        remote_table:0x3 id=t1 local_id=1 remote_id=1\n        shared tables:\n" + tables
            + LOCAL + "        shared tables:\n" + tables)
    peers = parse_peers(text)
    assert [(p.name, p.fields["new_conn"], p.fields.get("newfield")) for p in peers] == [("p1", "7", "x"), ("me", "0", None)]
    assert len(peers[0].tables) == 500 and peers[0].tables == peers[1].tables
    got = samples(exported(text))
    assert value(got, "haproxy_peer_last_handshake_seconds", peers="s1", peer="p1") == 62
    assert value(got, "haproxy_peer_protocol_errors_total", peers="s1", peer="p1") is None  # not in this answer


def test_no_peers_section_is_no_series() -> None:
    assert parse_peers("") == [] and parse_peers("\n") == []
    assert peer_families([], ModelStats()) == []


@pytest.mark.parametrize(("answer", "reason"), [
    ("Unknown command, but maybe one of the following ones is a better match:\n  help\n", "unknown_command"),
    ("Permission denied\n", "permission_denied"),
    ("No such peers\n", "unexpected_response"),
])
def test_an_error_answer_is_refused(answer: str, reason: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_peers(answer)
    assert caught.value.reason == reason


def test_an_unexpected_line_after_data_is_malformed() -> None:
    with pytest.raises(ParseError) as caught:
        parse_peers(PEER_A + peer_line("p1", "ESTA") + "something else\n")
    assert caught.value.reason == "malformed"


def test_promtool_accepts_the_output() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed")
    for version in VERSIONS:
        text = exported(answer(version, "show-peers.txt"))
        result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0 and not result.stdout.strip(), version + result.stdout + result.stderr


def test_without_the_session_word_the_session_s_own_fields_say_it() -> None:
    """``id=p1(remote)``: the session's line (``appctx:... st0=``) is there only for a session."""
    text = (PEER_A + "  0x2: id=p1(remote) addr=127.0.0.1:1 last_status=ESTA\n        reconnect=2s confirm=0\n"
            "        flags=0x0 appctx:0x5 st0=7 st1=0\n"
            "  0x3: id=p2(remote) addr=127.0.0.1:2 last_status=ESTA\n        reconnect=2s confirm=0\n        flags=0x0\n"
            + LOCAL)
    got = samples(exported(text))
    assert value(got, "haproxy_peer_connected", peers="s1", peer="p1") == 1
    assert value(got, "haproxy_peer_connected", peers="s1", peer="p2") == 0  # ESTA, but the session is gone


# ---------------------------------------------------------------- answers that are not whole

def line_prefixes(text: str) -> list[str]:
    """Every prefix of ``text`` that ends at a line's end: where a stream can stop and still
    end with the closing blank line (a relay that adds it, a fake socket)."""
    return [text[:i + 1] for i, char in enumerate(text) if char == "\n"]


@pytest.mark.parametrize("capture", CAPTURES)
@pytest.mark.parametrize("version", VERSIONS)
def test_an_answer_cut_at_any_line_never_reads_as_fewer_peers(version: str, capture: str) -> None:
    """Cut after any line (then given a closing blank line, as a relay or a fake socket would), an
    answer is refused as ``truncated`` or reads as whole sections of the full answer, every peer
    of each with all it says: never a section missing peers, a peer missing fields or tables.
    Where the cut leaves the bytes of a whole answer (before the blank line between the two
    sections) it must read as that answer."""
    text = answer(version, capture)
    full = parse_peers(text)
    per_section = Counter(p.section for p in full)
    accepted = []
    for prefix in line_prefixes(text)[:-1]:
        try:
            peers = parse_peers(prefix)
        except ParseError as exc:
            assert exc.reason == "truncated", (prefix[-200:], exc)
            with pytest.raises(ParseError) as blocks:  # read as the client gives it, here a line a block
                parse_peers(Answer.of(prefix, 1))
            assert blocks.value.reason == "truncated"
            continue
        assert parse_peers(Answer.of(prefix, 1)) == peers
        accepted.append(prefix)
        assert peers == full[:len(peers)], prefix[-200:]
        assert all(n == per_section[s] for s, n in Counter(p.section for p in peers).items()), prefix[-200:]
    section_end = text[:text.index("\n\n") + 1]
    assert section_end in accepted
    assert len(full) == len(re.findall(r"^  0x[0-9a-f]+: id=", text, flags=re.M)) == 4


def test_a_cut_between_sections_is_a_failed_command_not_fewer_peers(tmp_path: Path) -> None:
    """A stream that stops after the blank line between two sections, with a closing blank line
    after it: the command fails as truncated, no peer series at all, the rest of the poll stands."""
    raw = (FIXTURES / "3.4.0" / "show-peers.txt").read_text()
    first = raw.index("\n\n") + 2  # the first section and the blank line after it
    answers = {"show info": (FAULTS / "show-info.txt").read_bytes(), "show stat": (FAULTS / "show-stat.csv").read_bytes(),
               **{c: a.encode() + b"\n" for c, a in EMPTY_ANSWERS.items()}, "show peers": (raw[:first] + "\n").encode()}
    with FakeSocket(tmp_path / "fake.sock", answers) as fake:
        store = Store(30)
        assert Poller(build_config({"haproxy": {"address": fake.path, "mode": "worker"}}), store).poll_once()
    got = samples(b"".join(p.text for p in store.parts()).decode())
    assert value(got, "haproxy_exporter_command_errors_total", command="show peers", reason="truncated") == 1
    assert value(got, "haproxy_exporter_source_success", source="peers") == 0
    assert not [name for name, _ in got if name.startswith("haproxy_peer_")]
    assert value(got, "haproxy_up") == 1


SHARED = ("        shared tables:\n          0x5 local_id=1 remote_id=1 flags=0x0 remote_data=0x0\n"
          "              last_acked=0 last_pushed=0 last_get=0 teaching_origin=0 update=0\n"
          "              table:0x6 id=st update=3 localupdate=2 refcnt=1\n")
WHOLE = PEER_A + peer_line("p1", "ESTA") + SHARED + LOCAL + SHARED


@pytest.mark.parametrize(("text", "reason"), [
    (PEER_A, "truncated"),  # a section's header alone
    (PEER_A + "  0x2: id=p1(remote,active) addr=127.0.0.1:1 last_status=ESTA last_hdshk=2s\n", "truncated"),
    (PEER_A + LOCAL + "        shared tables:\n", "truncated"),
    (PEER_A + LOCAL + SHARED[:SHARED.index("              last_acked")], "truncated"),
    (PEER_A + LOCAL[:-6], "truncated"),  # inside the flags= line
    (PEER_A + peer_line("p1", "ESTA") + SHARED, "truncated"),  # before the local peer
    (PEER_A + peer_line("p1", "ESTA") + SHARED + LOCAL, "truncated"),  # the local peer without its tables
    (WHOLE + "\n", "truncated"),  # the blank line before a section
    (PEER_A + PEER_A + LOCAL, "malformed"),  # a section without peers, then another
    (PEER_A + "  0x2: id=p1(remote,active) addr=127.0.0.1:1\n" + LOCAL, "malformed"),  # a peer without flags=
    (PEER_A + peer_line("p1", "ESTA") + "\n" + LOCAL, "malformed"),  # a blank line inside a section
    (PEER_A + LOCAL + "\n" + PEER_A + peer_line("p2", "ESTA"), "truncated"),  # the last section without its local
    (PEER_A + peer_line("p1", "ESTA") + "\n" + PEER_A + LOCAL, "malformed"),  # ...or one before the last
])
@pytest.mark.parametrize("block", [None, 1, 100])
def test_what_a_whole_answer_has(text: str, reason: str, block: int | None) -> None:
    """In one string, and in blocks of whole lines (one, or a few) as the client hands answers over."""
    with pytest.raises(ParseError) as caught:
        parse_peers(text if block is None else Answer.of(text, block))
    assert caught.value.reason == reason


def test_a_whole_answer_is_read() -> None:
    peers = parse_peers(WHOLE + "\n" + WHOLE)
    assert [(p.name, p.local, p.tables) for p in peers] == [
        ("p1", False, {"st": {"update": "3", "localupdate": "2", "refcnt": "1"}}),
        ("me", True, {"st": {"update": "3", "localupdate": "2", "refcnt": "1"}})] * 2


def test_each_shared_table_s_own_counters_are_read() -> None:
    """The ``table:`` line of each shared table (``localupdate``: the updates made by this process)."""
    peers = parse_peers(answer("3.4.0", "show-peers.txt"))
    tables = {(p.section, p.name): p.tables for p in peers}
    assert tables[("mypeers", "hapB")] == {"st_src": {"update": "1", "localupdate": "1", "refcnt": "1"}}
    assert tables[("other", "ghost")]["st_other"]["localupdate"] == "0"
