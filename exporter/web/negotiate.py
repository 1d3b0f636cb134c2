"""``Accept-Encoding`` with q-values (RFC 9110 §12.5.3): may this client get the gzip copy?

A substring test sent gzip to ``gzip;q=0`` (an explicit refusal) and to ``notgzip``; here each
list element is a coding name with optional parameters, compared whole and case-insensitively,
and a coding's weight comes from its own element, else from ``*``, else it is not acceptable.
"""

from __future__ import annotations

import re

_QVALUE = re.compile(r"(?:0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)")


def _weight(params: list[str]) -> float | None:
    """The element's q, 1 when absent; None for a malformed q (the element is then ignored)."""
    for param in params:
        name, sep, value = param.partition("=")
        if name.strip().lower() != "q":
            continue
        value = value.strip()
        if not sep or not _QVALUE.fullmatch(value):
            return None
        return float(value)
    return 1.0


def coding_weights(header: str) -> dict[str, float]:
    """Coding name (lower case) → q; the first element naming a coding wins, as in most servers."""
    weights: dict[str, float] = {}
    for element in header.split(","):
        name, *params = element.split(";")
        name = name.strip().lower()
        if not name:
            continue
        q = _weight(params)
        if q is not None:
            weights.setdefault(name, q)
    return weights


def wants_gzip(header: str | None) -> bool:
    """True when gzip is acceptable and not ranked below an explicitly weighted identity.

    No header means any coding is acceptable (RFC 9110), but clients that can decompress say so,
    and a plain body is what every client reads, so no header gets the plain text.  Whatever
    else the header says, a client that does not get gzip gets identity (the plain text): with
    nothing acceptable RFC 9110 still allows sending identity, which beats a 406 for a scraper.
    """
    if not header:
        return False
    weights = coding_weights(header)
    star = weights.get("*", 0.0)
    gzip = weights.get("gzip", weights.get("x-gzip", star))
    if gzip <= 0:
        return False
    identity = weights.get("identity")
    return identity is None or gzip >= identity
