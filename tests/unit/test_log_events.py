"""show events' listing of sinks, as 2.6.12 and 3.2.0/3.4.0 print it (captured on this machine's
binaries with two rings configured; the 3.x ring's 14118 dropped is the count a 2.6 ring showed
after a reader that stalled, put in to read a count that is not 0), and what is not such a listing."""

from __future__ import annotations

import pytest

from exporter.runtime.errors import ParseError
from exporter.sources.logs.events import Sink, parse_sinks

V26 = ("Supported events sinks are listed below. Add -w(wait), -n(new). Any key to stop\n"
       "    stdout     : type=fd, 0 dropped, standard output (fd#1)\n"
       "    stderr     : type=fd, 0 dropped, standard output (fd#2)\n"
       "    buf0       : type=buffer, 0 dropped, in-memory ring buffer\n"
       "    logs       : type=buffer, 0 dropped, logs for the exporter\n"
       "    plain      : type=buffer, 0 dropped, plain\n")
V3 = ("Supported events sinks are listed below. Add -0(zero), -w(wait), -n(new). Any key to stop.\n"
      "    stdout     : type=fd, 0 dropped, standard output (fd#1)\n"
      "    stderr     : type=fd, 0 dropped, standard output (fd#2)\n"
      "    buf0       : type=buffer, 0 dropped, in-memory ring buffer\n"
      "    dpapi      : type=buffer, 0 dropped, DPAPI ring buffer\n"
      "    logs       : type=buffer, 14118 dropped, logs for the exporter\n"
      "    plain      : type=buffer, 0 dropped, plain\n")


def test_the_listing_of_every_version_reads_the_same_way() -> None:
    old, new = parse_sinks(V26), parse_sinks(V3)
    assert list(old) == ["stdout", "stderr", "buf0", "logs", "plain"]
    assert list(new) == ["stdout", "stderr", "buf0", "dpapi", "logs", "plain"]
    assert old["logs"] == Sink("logs", "buffer", 0, "logs for the exporter")
    assert new["logs"].dropped == 14118 and new["stdout"] == Sink("stdout", "fd", 0, "standard output (fd#1)")


@pytest.mark.parametrize("text, reason", [
    ("Permission denied\n", "permission_denied"),
    ("Unknown command: 'show events'\n", "unknown_command"),
    (V3 + "    logs : type=buffer, many dropped, x\n", "malformed"),
    (V3.replace("14118", "1" * 21), "malformed"),  # no count of HAProxy's has 21 digits
])
def test_what_is_not_a_listing_is_refused_with_its_reason(text: str, reason: str) -> None:
    with pytest.raises(ParseError) as refused:
        parse_sinks(text)
    assert refused.value.reason == reason
