"""gzip is made once per poll and served as stored: scrapes never compress.

At scale compressing the exposition is the most expensive step after building it (tenths of a
second for 40 MB); doing it per scrape would make every gzip scrape pay it.  The test counts the
compressions the exporter makes while a real HAProxy is polled and scraped, and checks the bytes
on the wire are the stored gzip members themselves.
"""

from __future__ import annotations

import gzip
import urllib.request
from dataclasses import replace

from support import ADMIN_HTTP_HEAD

from exporter.cli import new_store
from exporter.clock import SYSTEM_CLOCK
from exporter.config import Config, TargetConfig, WebSection
from exporter.exposition import gzip as gzip_engines
from exporter.poll.poller import Poller
from exporter.runtime.address import parse_address
from exporter.web.server import start_server

CFG = ADMIN_HTTP_HEAD + """
frontend fe
    bind 127.0.0.1:{p0}
    default_backend be
backend be
    server s1 127.0.0.1:{p1}
    server s2 127.0.0.1:{p1}
"""


def scrape(port: int) -> tuple[dict[str, str], bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=5) as resp:
        return dict(resp.headers), resp.read()


def test_scrapes_serve_the_stored_gzip_and_never_compress(haproxy_factory, monkeypatch):
    hap = haproxy_factory(CFG, nports=2)
    calls = []
    real_compress = gzip_engines.GZIP_ENGINES[gzip_engines.GZIP_ENGINE]

    def counting_compress(data: bytes) -> bytes:
        calls.append(data[:40])
        return real_compress(data)

    for engine in gzip_engines.GZIP_ENGINES:  # every engine counts, whichever is in use
        monkeypatch.setitem(gzip_engines.GZIP_ENGINES, engine, counting_compress)
    deflated: list[bytes] = []  # the pieces' deflate blocks (page.Page), counted apart: reused ones are not made again
    for engine, real_deflate in list(gzip_engines.DEFLATE_ENGINES.items()):
        monkeypatch.setitem(gzip_engines.DEFLATE_ENGINES, engine,
                            lambda data, real=real_deflate: deflated.append(data[:40]) or real(data))
    config = Config(TargetConfig(address=parse_address(hap.admin)))
    store = new_store(config, SYSTEM_CLOCK)  # as the exporter makes it: its process figures at scrape time
    poller = Poller(config, store)
    assert poller.poll_once()
    per_poll = len(calls)
    assert per_poll >= 1

    assert deflated, "the poll made the pieces' blocks"
    deflated_in_poll = len(deflated)
    server = start_server(replace(config, web=WebSection(listen_address=("127.0.0.1:0",))), store, lambda: True)
    try:
        port = server.server_address[1]
        bodies = [scrape(port) for _ in range(5)]
    finally:
        server.shutdown()
        server.server_close()

    # Five gzip scrapes compress nothing of the snapshot: only the exporter's own process figures,
    # which must describe the moment of the scrape (a few hundred bytes, made at most once a second).
    at_scrape = calls[per_poll:]
    assert all(data.startswith(b"# HELP process_") for data in at_scrape), at_scrape
    assert len(deflated) == deflated_in_poll, deflated[deflated_in_poll:]  # no piece compressed at scrape time
    published = store.published
    stored = published.page.gz + published.status.gz
    for headers, body in bodies:
        assert headers["Content-Encoding"] == "gzip"
        assert body.startswith(stored)  # the stored members, byte for byte, then the process part
        plain = gzip.decompress(body).decode()
        assert 'haproxy_server_status{proxy="be",server="s2",state="UP"} 1' in plain  # HAProxy's own rows
        assert "process_resident_memory_bytes" in plain

    calls.clear()
    assert poller.poll_once()
    assert len(calls) == per_poll  # the next poll compresses again, once
