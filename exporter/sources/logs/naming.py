"""Names and help of the log source's families.  Data only.

Named in promex's style (``haproxy_<scope>_…``, seconds, ``proxy``/``server``/``code`` labels) with
``log_`` after the scope, so that no name can meet one of promex's: its averages over the last
1024 requests are ``haproxy_backend_response_time_average_seconds`` and the like, its response
counts by class ``haproxy_frontend_http_responses_total{code="2xx"}``.
"""

from __future__ import annotations

# Timer → (the LogLine field it is read from, what it measures).  "total" is %Ta on an HTTP
# format, or %Tt when the format has no %Ta (tcplog).
TIMERS: dict[str, tuple[str, str]] = {
    "total": ("t_active", "Time of each request from its first byte to the end of its response (%Ta; %Tt, the "
                          "whole session, in a TCP format), from HAProxy's log lines"),
    "response": ("t_response", "Time the server took to send its response headers (%Tr), from HAProxy's log lines"),
    "queue": ("t_queue", "Time spent waiting in queues for a connection slot (%Tw), from HAProxy's log lines"),
    "connect": ("t_connect", "Time to establish the connection to the server (%Tc), from HAProxy's log lines"),
    "request": ("t_request", "Time to receive the full request headers from the client (%TR), from HAProxy's "
                             "log lines"),
}
TCP_TOTAL = "t_total"  # what "total" is read from when the format has no %Ta


def histogram_name(scope: str, timer: str) -> str:
    """``haproxy_backend_log_total_time_seconds`` and its kin (scope: backend or server)."""
    return f"haproxy_{scope}_log_{timer}_time_seconds"


RESPONSES = ("haproxy_{scope}_log_http_responses_total",
             "HTTP responses by exact status code (%ST, 100 to 599), from HAProxy's log lines")
TERMINATIONS = ("haproxy_{scope}_log_terminations_total",
                "Sessions by termination state (the first two characters of %tsc or %ts: -- for a normal end, "
                "cD for a client timeout, sH for a server's bad headers, ...), from HAProxy's log lines")
RETRIES = ("haproxy_backend_log_retries_total",
           "Connection retries to servers (%rc), from HAProxy's log lines")
REDISPATCHES = ("haproxy_backend_log_redispatches_total",
                "Requests redispatched to another server after retries (%rc written with a +), from HAProxy's "
                "log lines")

# The pipeline's health: the exporter's own families, one set per target.
LINES_READ = ("haproxy_exporter_log_lines_read_total", "Log lines read from HAProxy's ring")
LINES_REJECTED = ("haproxy_exporter_log_lines_rejected_total",
                  "Log lines that could not be read, by reason: header (not the ring's format), format (not "
                  "the configured log format), truncated (cut at the ring's maxlen)")
UNEXPORTED = ("haproxy_exporter_log_samples_unexported_total",
              "Parts of read log lines that were counted nowhere, by reason: unknown_proxy or unknown_server "
              "(a name the latest show stat does not have), invalid_code, invalid_state, invalid_value, "
              "series_cap (the family holds logs.max_series series)")
RING_DROPPED = ("haproxy_exporter_log_ring_dropped_total",
                "Log lines HAProxy's ring dropped because its reader lagged, as HAProxy's notices in the stream "
                "(\"N events dropped\") told them")
STREAM_UP = ("haproxy_exporter_log_stream_up", "1 while the show events stream of the ring is open")
STREAM_CONNECTS = ("haproxy_exporter_log_stream_connects_total",
                   "Streams of the ring opened (the first and every reconnect); lines written while none "
                   "is open are not read")
STREAM_FAILURES = ("haproxy_exporter_log_stream_failures_total",
                   "Streams of the ring that could not open or ended, by reason")
SYSLOG_UP = ("haproxy_exporter_log_syslog_up", "1 while the syslog socket is bound and read")
SYSLOG_DATAGRAMS = ("haproxy_exporter_log_syslog_datagrams_total",
                    "Datagrams the syslog socket received, whatever became of them")
SYSLOG_LOST = ("haproxy_exporter_log_syslog_datagrams_dropped_total",
               "Datagrams not read, by reason: truncated (longer than logs.syslog.max_datagram), refused (a sender "
               "outside logs.syslog.allow), kernel (the UDP socket's queue was full; on a UNIX socket the sender "
               "drops instead: haproxy_process_dropped_logs_total)")
SYSLOG_FAILURES = ("haproxy_exporter_log_syslog_failures_total",
                   "Failures of the syslog socket, by reason: bind (it could not be made), io, internal_error")
