"""Names and help of the captured-errors families (promex has none for them).  Data only.

HAProxy counts every protocol error it captures (one counter for the process) but keeps only the
last one per proxy and direction: so the process gets a counter, each proxy the time of its last
kept error, and no per-proxy count is made up.  Per-proxy counts of invalid requests and
responses are in ``show stat`` (``haproxy_frontend_request_errors_total``,
``haproxy_backend_response_errors_total``), which also count errors that are not captured.
"""

from __future__ import annotations

LABEL = "proxy"

CAPTURED = ("haproxy_process_captured_errors_total",
            "Protocol errors captured since HAProxy started, all proxies together (show errors: Total "
            "events captured); HAProxy keeps only the last one of each proxy and direction")
# side (the proxy's promex scope) → (name, help)
LAST: dict[str, tuple[str, str]] = {
    "frontend": ("haproxy_frontend_last_captured_error_timestamp_seconds",
                 "Time of the last invalid request captured on this frontend (show errors; only the last "
                 "is kept). Turned from HAProxy's local time into Unix time with the dump's own clock"),
    "backend": ("haproxy_backend_last_captured_error_timestamp_seconds",
                "Time of the last invalid response captured on this backend (show errors; only the last "
                "is kept). Turned from HAProxy's local time into Unix time with the dump's own clock"),
}
