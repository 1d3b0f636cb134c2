"""Parse ``show ssl cert`` (the list of files) and ``show ssl cert <file>`` (one certificate)::

    # transaction
    */etc/haproxy/site.pem
    # filename
    /etc/haproxy/site.pem

    Filename: /etc/haproxy/site.pem
    Status: Used
    Serial: 330514E1D3EEC338A97A82077D205D2A4CC04D02
    notBefore: Dec  2 14:01:33 2026 GMT
    notAfter: Dec 12 14:01:33 2026 GMT
    Subject Alternative Name: DNS:a.example, DNS:www.a.example,
    ...

The ``*`` entry is an uncommitted ``set ssl cert`` transaction: not what HAProxy serves, so it is
not listed.  Dates are OpenSSL's ``ASN1_TIME_print`` form in GMT, read without the C library's
locale-dependent month names.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from itertools import chain

from exporter.runtime.answer import Text, lines, nonblank
from exporter.runtime.errors import MAX_FIELDS, MAX_ITEMS, ParseError, check_count, error_reason, first_line

# HAProxy's answer to both commands on a socket below level operator (2.6 to 3.4 alike).
BELOW_OPERATOR = "Can't allocate memory!"
_MONTHS = {m: n for n, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
_DATE = re.compile(r"([A-Z][a-z]{2}) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2})(?:\.\d+)? (\d{4}) GMT")
_FIELD = re.compile(r"([A-Za-z0-9 ]+): ?(.*)")


@dataclass(frozen=True)
class Certificate:
    """One certificate file as HAProxy reports it; dates as Unix seconds (None when unreadable)."""

    file: str
    status: str = ""
    serial: str = ""
    not_before: int | None = None
    not_after: int | None = None
    subject: str = ""
    issuer: str = ""
    san: tuple[str, ...] = ()
    algorithm: str = ""
    sha1: str = ""


def _refused(text: Text, command: str) -> ParseError:
    if first_line(text) == BELOW_OPERATOR:
        return ParseError("permission_denied", f"{command} answered {BELOW_OPERATOR!r}, HAProxy's answer "
                          "below level operator")
    return ParseError(error_reason(text), f"{command} answered {first_line(text)!r}")


def parse_cert_list(text: Text) -> tuple[str, ...]:
    """The committed certificate files, in HAProxy's order; none when nothing is loaded."""
    listed = nonblank(text)
    first = next(listed, None)
    if first is None:
        return ()
    if not first.startswith("#"):
        raise _refused(text, "show ssl cert")
    files: dict[str, None] = {}  # in order, each once; filled line by line, not in one C call over all
    in_transaction = False
    for line in chain((first,), listed):
        if line.startswith("#"):
            in_transaction = line.strip() == "# transaction"
        elif not in_transaction and not line.startswith("*"):
            files[line.strip()] = None
            check_count(len(files), MAX_ITEMS, "show ssl cert: certificate files")
    return tuple(files)


def asn1_time(text: str) -> int | None:
    """``Dec  2 14:01:33 2026 GMT`` → Unix seconds."""
    m = _DATE.fullmatch(text.strip())
    if m is None or m.group(1) not in _MONTHS:
        return None
    month, day, hour, minute, second, year = (_MONTHS[m.group(1)], *map(int, m.group(2, 3, 4, 5, 6)))
    try:
        return calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    except (ValueError, OverflowError):
        return None


def parse_cert(text: Text) -> Certificate:
    """One ``show ssl cert <file>`` answer; the chain's lines (``Chain Subject``...) are not read."""
    fields: dict[str, str] = {}
    for line in lines(text):
        m = _FIELD.fullmatch(line.rstrip())
        if m is not None:
            fields.setdefault(m.group(1), m.group(2).strip())
            check_count(len(fields), MAX_FIELDS, "show ssl cert <file>: fields")
    if "Filename" not in fields:
        raise _refused(text, "show ssl cert <file>")
    san = tuple(part.strip() for part in fields.get("Subject Alternative Name", "").split(",") if part.strip())
    return Certificate(
        file=fields["Filename"], status=fields.get("Status", ""), serial=fields.get("Serial", ""),
        not_before=asn1_time(fields.get("notBefore", "")), not_after=asn1_time(fields.get("notAfter", "")),
        subject=fields.get("Subject", ""), issuer=fields.get("Issuer", ""), san=san,
        algorithm=fields.get("Algorithm", ""), sha1=fields.get("SHA1 FingerPrint", ""))
