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


# -- Accept: which exposition format -------------------------------------------------------------
#
# As Prometheus' client_golang answers (expfmt.Negotiate), with q-values honoured as for
# Accept-Encoding above: each offer takes the q of the most specific element that matches it
# (type/subtype with its version, then type/subtype without one, then type/*, then */*), the
# highest q wins, a tie goes to the element written first (and within an element, to text for a
# wildcard), and nothing acceptable gets text 0.0.4.  Offered: protobuf (delimited MetricFamily),
# OpenMetrics 1.0.0 and 0.0.1, text 0.0.4 (and text 1.0.0, answered as 0.0.4)
# (never a 406: a scraper reads text).  An ``escaping=`` of the chosen element that Prometheus
# knows is echoed in the Content-Type: our names are all valid legacy names, so every scheme
# leaves the page as it is.

TEXT_0_0_4 = "text"
OPENMETRICS = "openmetrics"
PROTOBUF = "protobuf"
PROTOBUF_MEDIA = "application/vnd.google.protobuf"
PROTOBUF_PROTO = "io.prometheus.client.MetricFamily"
ESCAPINGS = frozenset({"allow-utf-8", "underscores", "dots", "values"})
TEXT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_TYPE = "application/openmetrics-text; version={}; charset=utf-8"
PROTOBUF_TYPE = f"{PROTOBUF_MEDIA}; proto={PROTOBUF_PROTO}; encoding=delimited"

# (media type, version, what we send): ours, in the order a tie between equal elements takes.
# text/plain 1.0.0 (Prometheus 3's UTF-8 text) is our text page: it differs from 0.0.4 only for
# names that are not legacy, and ours all are; the answer says 0.0.4, which every reader takes.
# The protobuf form is delimited MetricFamily messages only (Prometheus' own choice), named by the
# element's proto= and encoding= (client_golang's reading: no proto=, no protobuf; encoding=text or
# compact-text are debug forms we do not offer), never by a version.
_OFFERS = (
    (PROTOBUF_MEDIA, "", PROTOBUF),
    ("application/openmetrics-text", "1.0.0", OPENMETRICS),
    ("application/openmetrics-text", "0.0.1", OPENMETRICS),
    ("text/plain", "0.0.4", TEXT_0_0_4),
    ("text/plain", "1.0.0", TEXT_0_0_4),
)


def _elements(header: str) -> list[tuple[str, dict[str, str], float]]:
    """(media type in lower case, parameters, q) of each element with a valid q."""
    out: list[tuple[str, dict[str, str], float]] = []
    for element in header.split(","):
        media, *params = element.split(";")
        media = media.strip().lower()
        if "/" not in media:
            continue
        q = _weight(params)
        if q is None:
            continue
        values: dict[str, str] = {}
        for param in params:
            key, _, value = param.partition("=")
            values.setdefault(key.strip().lower(), value.strip().strip('"'))
        out.append((media, values, q))
    return out


def _specificity(media: str, version: str, name: str, params: dict[str, str]) -> int:
    """How specifically an element (``name``, ``params``) names an offer: 3 by its version (or,
    for protobuf, its proto= and encoding=), 2 without a version, 1 as type/*, 0 as */*, -1 not."""
    if name == media:
        if media == PROTOBUF_MEDIA:
            return 3 if (params.get("proto"), params.get("encoding")) == (PROTOBUF_PROTO, "delimited") else -1
        given = params.get("version")
        if given is None:
            # No version: OpenMetrics 0.0.1 and text 0.0.4, as client_golang reads it.
            return 2 if version in ("0.0.1", "0.0.4") else -1
        return 3 if given == version else -1
    if name == media.split("/")[0] + "/*":
        return 1
    return 0 if name == "*/*" else -1


def exposition(header: str | None) -> tuple[str, str]:
    """(``TEXT_0_0_4``, ``OPENMETRICS`` or ``PROTOBUF``, the Content-Type to send) for an ``Accept`` header."""
    best: tuple[float, int, int] | None = None  # (q, -element index, -offer index)
    chosen = (TEXT_0_0_4, TEXT_TYPE)
    elements = _elements(header) if header else []
    for at, (media, version, kind) in enumerate(_OFFERS):
        match = None  # (specificity, element index)
        for n, (name, params, _q) in enumerate(elements):
            specific = _specificity(media, version, name, params)
            if specific >= 0 and (match is None or specific > match[0]):
                match = (specific, n)
        if match is None or (kind == PROTOBUF and match[0] < 3):
            continue  # binary only to who names it: a wildcard never gets protobuf
        n = match[1]
        q = elements[n][2]
        if q <= 0:
            continue
        # A wildcard picks text (a browser's or curl's */*): OpenMetrics only when named.
        rank = (q, -n, -(at + (10 if kind == OPENMETRICS and match[0] < 2 else 0)))
        if best is None or rank > best:
            best = rank
            escaping = elements[n][1].get("escaping")
            suffix = f"; escaping={escaping}" if escaping in ESCAPINGS else ""
            if kind == PROTOBUF:
                chosen = (PROTOBUF, PROTOBUF_TYPE + suffix)
            elif kind == OPENMETRICS:
                chosen = (OPENMETRICS, OPENMETRICS_TYPE.format(version) + suffix)
            else:
                chosen = (TEXT_0_0_4, TEXT_TYPE + suffix)
    return chosen
