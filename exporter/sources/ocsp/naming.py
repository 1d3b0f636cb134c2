"""Names of the OCSP series (promex has none): ``haproxy_ssl_ocsp_response_*``, the Runtime API's own
words, ``_timestamp_seconds`` for points in time, and a state set for the status as promex writes
``haproxy_server_status``.  Data only.
"""

from __future__ import annotations

from exporter.exposition.families import GLOBAL

SCOPE = GLOBAL  # promex has no OCSP scope: with the process-wide figures

PREFIX = "haproxy_ssl_ocsp_response_"
LABELS = ("file", "serial")  # file: 2.8+ says which certificate a response is stapled for
NEXT_UPDATE = (PREFIX + "next_update_timestamp_seconds",
               "When the stapled OCSP response stops being valid (Next Update), as a Unix timestamp")
THIS_UPDATE = (PREFIX + "this_update_timestamp_seconds",
               "When the stapled OCSP response was issued (This Update), as a Unix timestamp")
REVOKED_AT = (PREFIX + "revocation_timestamp_seconds",
              "When the responder says the certificate was revoked (Revocation Time), as a Unix timestamp")
STATUS = (PREFIX + "status", "The certificate's status in the stapled OCSP response (Cert Status): 1 for the current one")
STATES = ("good", "revoked", "unknown")
