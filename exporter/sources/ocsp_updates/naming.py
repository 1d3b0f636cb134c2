"""Names of the OCSP updater's series (promex has none): ``haproxy_ssl_ocsp_update_*{file}``, the
``file`` label as the other ssl series have it, ``_total`` counters, ``_timestamp_seconds`` for
points in time, and a state set for the last update's outcome.  Data only.
"""

from __future__ import annotations

from exporter.exposition.families import GLOBAL

SCOPE = GLOBAL  # promex has no OCSP scope: with the process-wide figures

PREFIX = "haproxy_ssl_ocsp_update_"
LABEL = "file"
SUCCESSES = (PREFIX + "successes_total", "OCSP responses the updater fetched and loaded for the certificate (Successes)")
FAILURES = (PREFIX + "failures_total", "OCSP updates of the certificate that failed (Failures)")
NEXT_UPDATE = (PREFIX + "next_update_timestamp_seconds",
               "When HAProxy's OCSP updater next updates the certificate's response (Next Update), as a Unix timestamp")
LAST_UPDATE = (PREFIX + "last_update_timestamp_seconds",
               "When the certificate's last successful OCSP update ended (Last Update), as a Unix timestamp;"
               " absent before the first")
STATUS = (PREFIX + "status", "The outcome of the certificate's last OCSP update (Last Update Status): 1 for the current one")

# HAProxy's OCSP_UPDT_* numbers (src/ssl_ocsp.c; 1 and 2 seen in the 2.8, 3.2 and 3.4 captures) → state names
STATES = {"0": "unknown", "1": "successful", "2": "http_error", "3": "missing_header", "4": "check_failure",
          "5": "insert_error"}
