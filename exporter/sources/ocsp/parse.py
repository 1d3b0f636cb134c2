"""Parse ``show ssl ocsp-response`` (the responses' IDs) and ``show ssl ocsp-response <id>``::

    # Certificate IDs
    Certificate ID key : 304d3009...0654
    Certificate path : /etc/haproxy/certs/site.pem          (2.8+)
     Certificate ID:
       Issuer Name Hash: BF34...
       Issuer Key Hash: 8B18...
       Serial Number: 695D698D3AD1ABE0CF05B6D9C6CFE5AA682E0654

    OCSP Response Data:
        ...
        Cert Status: revoked
        Revocation Time: Dec  1 00:00:00 2026 GMT
        This Update: Dec  2 14:23:04 2026 GMT
        Next Update: Dec  5 14:23:04 2026 GMT

The detail is OpenSSL's text of the whole response, then of the certificate: only the first single
response's lines are read.  An empty detail is a certificate listed with no response loaded yet
(2.8+'s ``ocsp-update on`` lists it at once and fills it on its first successful update; 2.8, 3.2
and 3.4 answer a lone newline): :data:`NOT_LOADED`, which has no series, and is no error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from exporter.runtime.answer import Text, lines, nonblank
from exporter.runtime.errors import MAX_ITEMS, ParseError, check_count, error_reason, first_line
from exporter.sources.certificates.parse import asn1_time

_KEY = re.compile(r"Certificate ID key : ([0-9a-fA-F]+)")
_PATH = re.compile(r"Certificate path : (.+)")
_SERIAL = re.compile(r"\s+Serial Number: ([0-9A-Fa-f]+)")
_FIELD = re.compile(r"\s*(Cert Status|This Update|Next Update|Produced At|Revocation Time|OCSP Response Status): (.*)")


@dataclass(frozen=True)
class OcspId:
    """One stapled response as the list shows it: its key (what the detail command takes)."""

    key: str
    path: str = ""  # 2.8+: the certificate it is stapled for
    serial: str = ""  # the certificate's serial number


@dataclass(frozen=True)
class OcspResponse:
    status: str  # good, revoked, unknown
    this_update: int | None
    next_update: int | None
    produced_at: int | None
    revoked_at: int | None


NOT_LOADED = OcspResponse(status="", this_update=None, next_update=None, produced_at=None, revoked_at=None)


def parse_ocsp_list(text: Text) -> tuple[OcspId, ...]:
    listed = nonblank(text)
    first = next(listed, None)
    if first is not None and first != "# Certificate IDs":
        raise ParseError(error_reason(text), f"show ssl ocsp-response answered {first_line(text)!r}")
    found: list[OcspId] = []
    for line in listed:
        if (m := _KEY.fullmatch(line)) is not None:
            found.append(OcspId(m.group(1).lower()))
            check_count(len(found), MAX_ITEMS, "show ssl ocsp-response: responses")
        elif found and (m := _PATH.fullmatch(line)) is not None:
            found[-1] = OcspId(found[-1].key, m.group(1).strip(), found[-1].serial)
        elif found and (m := _SERIAL.fullmatch(line)) is not None and not found[-1].serial:
            found[-1] = OcspId(found[-1].key, found[-1].path, m.group(1).upper())
    return tuple(found)


def parse_ocsp_response(text: Text) -> OcspResponse:
    if not any(line.strip() for line in lines(text)):  # whitespace only
        return NOT_LOADED
    fields: dict[str, str] = {}
    for line in lines(text):
        if line.startswith("Certificate:"):
            break  # the certificate's own text follows the response
        m = _FIELD.fullmatch(line.rstrip())
        if m is not None:
            fields.setdefault(m.group(1), m.group(2).strip())
    if "Cert Status" not in fields:
        raise ParseError(error_reason(text), f"show ssl ocsp-response <id> answered {first_line(text)!r}")
    return OcspResponse(status=fields["Cert Status"].lower(), this_update=asn1_time(fields.get("This Update", "")),
                        next_update=asn1_time(fields.get("Next Update", "")),
                        produced_at=asn1_time(fields.get("Produced At", "")),
                        revoked_at=asn1_time(fields.get("Revocation Time", "")))
