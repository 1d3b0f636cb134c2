"""The protobuf form on a real HAProxy with native histograms on: real requests through backends
with known delays, their log lines streamed from HAProxy's ring, then the page every scrape would
get in protobuf (Prometheus 2.42's Accept, plain and gzip) decoded by the protobuf library with
client_model's metrics.proto: every sample of the text page is in it with the same value, classic
buckets included, and each log histogram's native buckets hold the same requests as its count,
the slow path's ~200 ms responses in the one native bucket that holds 200 ms.

Run on one HAProxy binary (the newest here): the protobuf form is the exporter's, the same on
every version, and the log source itself runs on every version in test_logs.py.
"""

from __future__ import annotations

import gzip
from typing import Iterator

import pytest
from exposition import samples as text_samples
from protobuf_oracle import families, native_buckets, samples
from support import HAProxy, timed_request
from unit.test_protobuf_form import PROMETHEUS_2_NATIVE

from exporter.exposition.native import index
from exporter.web.routes import Request, parts_response
from integration.test_logs import CFG, Exporter, lines_read, streaming
from testkit.servers import DelayedOrigin

pytestmark = pytest.mark.one_haproxy  # the newest HAProxy: the forms are the exporter's


@pytest.fixture
def logged(haproxy_factory, origin: DelayedOrigin) -> HAProxy:
    hap: HAProxy = haproxy_factory(CFG.replace("{origin}", str(origin.port)), nports=3)
    return hap


@pytest.fixture
def exporters() -> Iterator[list[Exporter]]:
    made: list[Exporter] = []
    yield made
    for exporter in made:
        exporter.close()


def _served(exporter: Exporter, accept: str | None, encoding: str | None = None) -> bytes:
    headers = {k: v for k, v in (("accept", accept), ("accept-encoding", encoding)) if v is not None}
    response = parts_response(exporter.store.parts(), Request("GET", "/metrics", "", headers))
    body = b"".join(response.body)
    return gzip.decompress(body) if dict(response.headers).get("Content-Encoding") == "gzip" else body


def test_the_protobuf_page_reads_as_the_text_page_and_carries_native_buckets(logged: HAProxy, exporters) -> None:
    exporter = streaming(exporters, logged.admin, ring="httplog", format="httplog", servers=True,
                         native_histograms={"schema": 3, "max_buckets": 160})
    sent = 0
    for path, count in (("/fast", 20), ("/missing", 3), ("/slow", 6)):
        for n in range(count):
            timed_request(logged.ports[0], f"{path}/{n}")
            sent += 1
    exporter.until("not every log line was read", lambda got: lines_read(got) >= sent)
    text = _served(exporter, None).decode()
    plain, zipped = _served(exporter, PROMETHEUS_2_NATIVE), _served(exporter, PROMETHEUS_2_NATIVE, "gzip")
    assert zipped == plain
    # The live process figures are made at most once a second: compare what one poll published.
    want = {k: v for k, v in text_samples(text).items() if not k[0].startswith("process_")}
    got = {k: v for k, v in samples(plain).items() if not k[0].startswith("process_")}
    assert got == want
    assert ("haproxy_backend_log_response_time_seconds_bucket", (("le", "0.25"), ("proxy", "be_slow"))) in got

    histograms = {(f.name, tuple((p.name, p.value) for p in m.label)): m.histogram
                  for f in families(plain) if f.type == 4 for m in f.metric}
    log_histograms = {k: h for k, h in histograms.items() if "_log_" in k[0]}
    assert len(log_histograms) >= 10  # backends and servers, every timer of httplog
    for (name, labels), h in log_histograms.items():
        assert h.schema == 3 and h.zero_threshold > 0, name
        assert sum(native_buckets(h).values()) + h.zero_count == h.sample_count, (name, labels)
    slow = histograms[("haproxy_backend_log_response_time_seconds", (("proxy", "be_slow"),))]
    assert native_buckets(slow) == {index(0.2, 3): 6}, "the ~200 ms responses in (2^(-19/8), 2^(-18/8)] s"
