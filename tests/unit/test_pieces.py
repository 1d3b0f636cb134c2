"""The page as pieces (exporter/exposition/page.py): any selection of pieces is a valid page
and a valid gzip stream, and equals what the captured ``show stat`` says it must hold.

The oracle is the capture itself, read here with the csv module: which servers are in
maintenance, which proxy each family's name belongs to.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib

import pytest
from prometheus_client.parser import text_string_to_metric_families
from support import answering

from exporter.config import build_config
from exporter.exposition import gzip as gz_module
from exporter.exposition.page import WHOLE_BELOW, Page, Piece
from exporter.poll.poller import Poller
from exporter.poll.snapshot import Store
from exporter.reuse import PollMemo
from exporter.web.promex_query import parse
from unit.test_golden import CASES, FIXTURES, published, rendered
from unit.test_master import master_fetch


def samples(text: bytes) -> set[tuple[str, tuple[tuple[str, str], ...], float]]:
    return {(s.name, tuple(sorted(s.labels.items())), s.value)
            for f in text_string_to_metric_families(text.decode()) for s in f.samples}


def maint_servers(case: str) -> set[tuple[str, str]]:
    version, files, _ = CASES[case]
    text = (FIXTURES / version / files["show stat"]).read_text().lstrip("# ")
    return {(r["pxname"], r["svname"]) for r in csv.DictReader(io.StringIO(text))
            if r["type"] == "2" and r["status"].startswith("MAINT")}


def served(body: Page, query: str, gz: bool) -> bytes:
    selection = parse(query)
    chunks = body.chunks(gz, selection.keeps if selection else None)
    data = b"".join(chunks)
    return gzip.decompress(data) if gz else data


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_pieces_make_the_whole_page(case: str) -> None:
    body = published(case)
    assert body.text == rendered(case)
    assert gzip.decompress(body.gz) == body.text
    assert served(body, "scope=*&extra-counters", gz=True) == served(body, "scope=*&extra-counters", gz=False) == body.text


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("query,prefixes", [
    ("scope=server", ("haproxy_server_",)),
    ("scope=frontend&scope=backend", ("haproxy_frontend_", "haproxy_backend_")),
    ("scope=global", ("haproxy_process_",)),
    ("scope=sticktable&scope=listener", ("haproxy_sticktable_", "haproxy_listener_")),
    ("scope=", ()),
])
def test_a_scope_serves_exactly_its_families(case: str, query: str, prefixes: tuple[str, ...]) -> None:
    body = published(case)
    whole = samples(body.text)
    # promex mode: no module counters (their column names carry the module: h1_, h2_, ssl_ ...)
    want = {s for s in whole if s[0].startswith(prefixes) and not any(k == "mod" for k, _ in s[1])}
    for gz in (False, True):
        assert samples(served(body, query, gz)) == want, (query, gz)


def promex_scope(name: str) -> str:
    """The scope promex's naming gives a family: ``haproxy_<scope>_...``; the master's figures and
    the families promex has no scope for (certificates, maps, peers) are process-wide, global."""
    word = name.split("_")[1]
    return word if word in ("frontend", "backend", "server", "listener", "sticktable", "resolver") else "global"


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_family_carries_the_scope_its_promex_name_says(case: str) -> None:
    body = published(case)
    assert {(piece.name, piece.scope) for piece in body.pieces} == {(piece.name, promex_scope(piece.name))
                                                                   for piece in body.pieces}


def test_through_a_master_the_masters_families_are_global() -> None:
    store = Store(30)
    poller = Poller(build_config({"haproxy": {"address": "/run/haproxy-master.sock"}}), store,
                    connect=answering(master_fetch("3.2.0")))
    assert poller.poll_once()
    pieces = store.published.page.pieces  # type: ignore[union-attr]
    assert any(piece.name.startswith("haproxy_master_") for piece in pieces)
    assert all(piece.scope == promex_scope(piece.name) for piece in pieces)


@pytest.mark.parametrize("case", ["2.6.12", "2.6.12-user", "3.2.0", "3.3.0"])  # the captures with servers in MAINT
def test_no_maint_leaves_out_exactly_the_servers_in_maintenance(case: str) -> None:
    body = published(case)
    maint = maint_servers(case)
    assert maint, "the capture has servers in maintenance"
    whole = samples(served(body, "scope=*&extra-counters", gz=False))
    assert whole == samples(body.text)

    def of_maint(s: tuple[str, tuple[tuple[str, str], ...], float]) -> bool:
        labels = dict(s[1])
        return s[0].startswith("haproxy_server_") and (labels.get("proxy"), labels.get("server")) in maint
    assert any(map(of_maint, whole))
    want = {s for s in whole if not of_maint(s)}
    for gz in (False, True):
        assert samples(served(body, "no-maint&extra-counters", gz)) == want


@pytest.mark.parametrize("case", ["2.6.12", "3.2.0"])
def test_metrics_filter_keeps_the_named_families(case: str) -> None:
    body = published(case)
    whole = samples(body.text)
    names = {"haproxy_server_status", "haproxy_backend_bytes_in_total", "haproxy_process_nbthread"}
    got = samples(served(body, "metrics=" + ",".join(sorted(names)), gz=True))
    assert got == {s for s in whole if s[0] in names} and {s[0] for s in got} == names
    got = samples(served(body, "scope=server&metrics=-haproxy_server_status", gz=True))
    assert {s[0] for s in got} == {s[0] for s in whole if s[0].startswith("haproxy_server_")
                                   and not any(k == "mod" for k, _ in s[1])} - {"haproxy_server_status"}


def one_member(data: bytes) -> bytes:
    """The text of a gzip stream that must be exactly one member (nothing after its trailer)."""
    d = zlib.decompressobj(31)
    text = d.decompress(data) + d.flush()
    assert d.eof and d.unused_data == b"", "more than one gzip member, or a truncated one"
    return text


def big_body() -> Page:
    """A page over WHOLE_BELOW: its whole-page member is made of the pieces' blocks."""
    pieces = [Piece(f"haproxy_backend_f{n}", "".join(f'haproxy_backend_f{n}{{proxy="be_{i}"}} {i * n}\n'
                                                     for i in range(3000)).encode(), "backend", maint=n % 5 == 0)
              for n in range(40)]
    body = Page.of_pieces(pieces)
    assert len(body.text) > WHOLE_BELOW
    return body


@pytest.mark.parametrize("engine", ["isal", "zlib"])
def test_every_answer_is_one_gzip_member_of_the_selected_text(engine: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whole page and selections alike, with ISA-L (crc32_combine) and with zlib alone (the CRC read
    again), on a big page (made of the pieces' blocks) and on the captures' small ones."""
    if engine not in gz_module.DEFLATE_ENGINES:
        pytest.skip(f"{engine} is not installed")
    monkeypatch.setattr(gz_module, "GZIP_ENGINE", engine)
    if engine == "zlib":
        monkeypatch.setattr(gz_module, "crc32_combine", None)
    for body in (big_body(), published("3.2.0")):
        assert one_member(body.gz) == body.text
        for query in ("no-maint", "scope=backend", "metrics=haproxy_backend_f3,haproxy_backend_f7", "scope="):
            keep = parse(query).keeps  # type: ignore[union-attr]
            want = b"".join(piece.text for piece in body.pieces if keep(piece))
            assert one_member(b"".join(body.chunks(True, keep))) == want == b"".join(body.chunks(False, keep)), query


def _bodies(monkeypatch, polls: list[list[tuple[str, bytes]]]) -> tuple[list[Page], list[int]]:
    """Each poll's Page of (family name, text) pieces through one memo, and how many texts each poll compressed."""
    real, counted = gz_module.deflate, []

    def deflate(raw: bytes) -> bytes:
        counted[-1] += 1
        return real(raw)

    monkeypatch.setattr(gz_module, "deflate", deflate)
    memo, bodies = PollMemo(), []
    for pieces in polls:
        counted.append(0)
        bodies.append(Page.of_pieces([Piece(name, text, "global") for name, text in pieces], memo))
    return bodies, counted


def _big(seed: int) -> bytes:
    """A text above WHOLE_BELOW, so the page is made of the pieces' own blocks."""
    return b"".join(b"haproxy_server_bytes_in_total{proxy=\"be%d\",server=\"s%d\"} %08d\n" % (n, seed, n * seed)
                    for n in range(WHOLE_BELOW // 40))


def test_block_cache_compresses_only_texts_it_has_not_seen(monkeypatch):
    a, b, c = _big(1), _big(2), _big(3)
    equal_copy = bytes(bytearray(b))  # same bytes, another object: a family made again alike
    # a family's text is under the family's name; a family made again alike has its name too
    bodies, counted = _bodies(monkeypatch, [[("a", a), ("b", b)], [("a", a), ("b", equal_copy), ("c", c)],
                                            [("c", c), ("a", a)]])
    assert counted == [2, 1, 0]
    for body, texts in zip(bodies, ([a, b], [a, b, c], [c, a])):
        assert gzip.decompress(body.gz) == b"".join(texts)


def test_block_cache_never_takes_blocks_of_other_bytes_with_the_same_length_and_crc(monkeypatch):
    monkeypatch.setattr(gz_module, "crc32", lambda data, start=0: zlib.crc32(data[:1], start))
    a, b = _big(1), _big(2)  # same length, same first byte: the same "CRC" above
    assert len(a) == len(b) and a != b
    bodies, counted = _bodies(monkeypatch, [[("f", a)], [("f", b)]])  # one family, its text made again
    assert counted == [1, 1]
    assert zlib.decompressobj(-15).decompress(bodies[1].deflated) == b  # (the faked CRC spoils the trailer)
