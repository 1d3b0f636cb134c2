"""The stored gzip copy: every engine makes members any gzip reader accepts, alone and concatenated."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import pytest

from exporter.exposition import gzip as snapshot
from exporter.exposition.page import Part

EXPOSITION = (Path(__file__).parent.parent / "fixtures" / "2.6.12" / "promex-metrics.txt")


@pytest.fixture(scope="module")
def body() -> bytes:
    text = EXPOSITION.read_bytes()  # promex's real output: the same shape of text we compress
    assert len(text) > 10_000
    return text * 20


def test_the_declared_fast_engine_is_the_one_in_use():
    # isal is a declared dependency: a plain install must not silently fall back to zlib.
    assert snapshot.GZIP_ENGINE == "isal"


@pytest.mark.parametrize("engine", sorted(snapshot.GZIP_ENGINES))
def test_every_engine_makes_a_standard_gzip_member(engine, body):
    member = snapshot.GZIP_ENGINES[engine](body)
    assert member[:2] == b"\x1f\x8b"  # a gzip header, not a raw deflate stream
    assert gzip.decompress(member) == body
    d = zlib.decompressobj(wbits=31)  # what HTTP clients use for Content-Encoding: gzip
    assert d.decompress(member) == body and d.eof and not d.unused_data
    assert len(member) < len(body) / 5  # it compresses, whatever the level


def test_members_of_different_engines_concatenate(body):
    members = [snapshot.GZIP_ENGINES[e](body[: 1000 * (i + 1)]) for i, e in enumerate(sorted(snapshot.GZIP_ENGINES))]
    expected = b"".join(body[: 1000 * (i + 1)] for i in range(len(members)))
    assert gzip.decompress(b"".join(members)) == expected


def test_a_part_holds_the_text_and_its_member(body):
    part = Part.of(body.decode("utf-8"))
    assert part.text == body
    assert gzip.decompress(part.gz) == body
    assert part.gz == snapshot.compress(body)  # deterministic (mtime 0): the same text, the same bytes
