"""What an operator should do about each failure reason, for the one log line a fault produces.

The reasons are the stable labels of ``haproxy_exporter_command_errors_total``; the text here is
what turns "show info failed (permission)" at 3 a.m. into a fix.  Kept as data beside the
reasons' producers (transport, parsers) so a new reason without advice is caught by a test.
"""

from __future__ import annotations

ADVICE: dict[str, str] = {
    # transport: reaching the socket
    "no_socket": "check haproxy.address and that HAProxy is running with a `stats socket` at that path",
    "refused": "nothing accepts connections there: check haproxy.address and that HAProxy is running",
    "permission": "let the exporter's user open the socket (`stats socket ... mode 660 group <its group>`)",
    "connect_timeout": "HAProxy did not accept the connection in time: check its load or raise haproxy.connect_timeout",
    "connect": "check haproxy.address",
    # transport: the exchange
    "timeout": "HAProxy accepted but did not finish answering in haproxy.timeout: check its load or raise haproxy.timeout",
    "io": "the connection broke, HAProxy may have been restarting: if it persists, check HAProxy's log",
    "too_large": "the answers of one poll exceed haproxy.max_response_bytes in all: raise it if this many proxies, "
                 "servers and table entries are expected",
    "empty": "HAProxy closed without answering: point haproxy.address at a worker's stats socket",
    "truncated": "the answer was cut off, HAProxy may have been reloading: if it persists, check HAProxy's log",
    "not_haproxy": "haproxy.address answers HTTP, not the Runtime API: point it at a `stats socket`",
    # HAProxy's own error texts
    "unknown_command": "this socket does not know the command (master CLI or very old HAProxy?): "
                       "point haproxy.address at a worker's stats socket",
    "permission_denied": "the socket's level is too low for this command: use a `stats socket` with level operator",
    "no_such_table": "the table is not in HAProxy's running config: fix the stick_tables section",
    "unexpected_response": "this is not HAProxy's Runtime API output: check that haproxy.address is a `stats socket`",
    # parsers
    "malformed": "HAProxy's answer did not parse: report it with the output of `echo 'show info' | socat stdio <socket>`",
    "malformed_header": "HAProxy's answer did not parse: report it with the output of `echo 'show stat' | socat stdio <socket>`",
    "malformed_row": "a row did not match the header (cut or garbled answer): if it persists, report it with "
                     "the output of `echo 'show stat' | socat stdio <socket>`",
    "bad_filter": "HAProxy refused a stick_tables filter (data type not stored in this table?): "
                  "fix stick_tables[].filters",
    "malformed_entry": "a stick-table line did not parse: if it persists, report it with the output of "
                       "`echo 'show table <name>' | socat stdio <socket>`",
    "too_many_series": "HAProxy sent more than poll.max_series series: raise it if this installation is really "
                       "that large, else check what answers on haproxy.address",
    "too_many_items": "HAProxy's answer lists more items than any HAProxy has (docs/reliability.md, Memory budget): "
                      "check what answers on haproxy.address",
    "log_format": "the log format cannot be read: write it as in haproxy.cfg's `log-format` (or name a built-in "
                  "one: httplog, httpslog, tcplog, httplog clf, tcplog clf), mended as the error says",
    "internal_error": "this is an exporter bug: please report it with the traceback logged above",
}


def advice(reason: str) -> str:
    """The fix to try for ``reason``; a generic hint for a reason this table does not know yet."""
    return ADVICE.get(reason, "check haproxy.address and HAProxy's log")
