"""Accept-Encoding with q-values: gzip only when the client accepts it (RFC 9110 §12.5.3)."""

from __future__ import annotations

import pytest

from exporter.web.negotiate import coding_weights, wants_gzip


@pytest.mark.parametrize("header,gzip", [
    (None, False),
    ("", False),
    ("gzip", True),
    ("GZIP", True),
    ("x-gzip", True),
    ("gzip, deflate, br", True),  # browsers
    ("gzip;q=0", False),  # an explicit refusal
    ("gzip; q=0.000", False),
    ("gzip;q=0.001", True),
    ("gzip;Q=1.0", True),
    ("notgzip", False),  # a substring is not a coding
    ("gzipx, identity", False),
    ("deflate", False),
    ("*", True),  # any coding
    ("*;q=0", False),
    ("*;q=0, gzip", True),  # the coding's own element beats *
    ("gzip;q=0, *", False),
    ("identity", False),
    ("identity;q=1, gzip;q=0.5", False),  # identity preferred
    ("identity;q=0.5, gzip", True),
    ("identity;q=0", False),  # nothing acceptable: the plain text (identity) is still sent
    ("br;q=1, gzip;q=0.8", True),
    ("gzip;q=2", False),  # a malformed q: the element is ignored
    ("gzip;q=abc, *;q=0.5", True),  # ... and * decides
    ("gzip;q=", False),
    (" , ,gzip", True),
    ("identity;q=0.5, gzip;q=0.5", True),  # a tie goes to gzip
    ("*;q=0.5, identity", False),  # gzip only through *, ranked below identity
    ("gzip;q=0, x-gzip", False),  # gzip's own element beats its alias
    ("x-gzip;q=0, *", False),  # the alias's refusal beats *
    ("gzip ; q=0.5", True),  # whitespace around the parameter
])
def test_wants_gzip(header: str | None, gzip: bool) -> None:
    assert wants_gzip(header) is gzip


def test_first_element_of_a_coding_wins() -> None:
    assert coding_weights("gzip;q=0, gzip;q=1") == {"gzip": 0.0}
    assert coding_weights("br;level=5;q=0.3") == {"br": 0.3}
