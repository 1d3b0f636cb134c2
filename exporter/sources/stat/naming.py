"""The ``show stat`` naming table: columns to Prometheus metric names, types, units and help.

Names follow HAProxy's built-in exporter (promex), so dashboards and alert rules written for it
keep working.  Columns promex leaves out get names in the same style, marked ``ours`` in the
README's table (generated from this module, so it cannot drift).  This module is data only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from exporter.sources.values import COUNTER, GAUGE, MS

SCOPES = ("frontend", "backend", "server", "listener")


@dataclass(frozen=True)
class StatMetric:
    """One numeric ``show stat`` column.  ``names`` overrides the suffix for one scope."""

    column: str
    suffix: str
    kind: str
    help: str
    scale: float = 1
    names: Mapping[str, str] = field(default_factory=dict)
    promex: bool = True
    additive: bool = False  # a gauge whose values add up across processes (old workers keep it)

    def name_for(self, scope: str) -> str:
        return f"haproxy_{scope}_{self.names.get(scope, self.suffix)}"


def _s(column: str, suffix: str, kind: str, help: str, **kw: object) -> StatMetric:
    return StatMetric(column, suffix, kind, help, **kw)  # type: ignore[arg-type]


C, G = COUNTER, GAUGE

STAT_METRICS: tuple[StatMetric, ...] = (
    _s("qcur", "current_queue", G, "Current number of queued requests", additive=True),
    _s("qmax", "max_queue", G, "Highest number of queued requests since the worker started"),
    _s("scur", "current_sessions", G, "Current number of sessions", additive=True),
    _s("smax", "max_sessions", G, "Highest number of concurrent sessions since the worker started"),
    _s("slim", "limit_sessions", G, "Configured session limit (maxconn; fullconn for backends)"),
    _s("stot", "sessions_total", C, "Total number of sessions"),
    _s("bin", "bytes_in_total", C, "Total number of request bytes"),
    _s("bout", "bytes_out_total", C, "Total number of response bytes"),
    _s("dreq", "requests_denied_total", C, "Total number of denied requests"),
    _s("dresp", "responses_denied_total", C, "Total number of denied responses"),
    _s("ereq", "request_errors_total", C, "Total number of request errors"),
    _s("econ", "connection_errors_total", C, "Total number of failed connections to a server"),
    _s("eresp", "response_errors_total", C, "Total number of response errors"),
    _s("wretr", "retry_warnings_total", C, "Total number of server connection retries"),
    _s("wredis", "redispatch_warnings_total", C, "Total number of redispatches to another server"),
    _s("weight", "weight", G, "Effective weight (backends: sum over active servers)"),
    _s("act", "active_servers", G, "Usable active servers (servers: 1 if not a backup server)",
       names={"server": "active"}),
    _s("bck", "backup_servers", G, "Usable backup servers (servers: 1 if a backup server)",
       names={"server": "backup"}),
    _s("chkfail", "check_failures_total", C, "Total number of failed health checks"),
    _s("chkdown", "check_up_down_total", C, "Total number of UP to DOWN transitions"),
    _s("lastchg", "check_last_change_seconds", G, "Seconds since the last UP/DOWN transition"),
    _s("downtime", "downtime_seconds_total", C, "Total seconds spent DOWN"),
    _s("qlimit", "queue_limit", G, "Configured queue limit (maxqueue)"),
    _s("throttle", "current_throttle", G, "Current slowstart throttle in percent"),
    _s("lbtot", "loadbalanced_total", C, "Total number of times selected by load balancing"),
    _s("rate", "current_session_rate", G, "Sessions per second over the last second", additive=True),
    _s("rate_lim", "limit_session_rate", G, "Configured limit on new sessions per second"),
    _s("rate_max", "max_session_rate", G, "Highest sessions per second since the worker started"),
    _s("check_code", "check_code", G, "Layer 5-7 code of the last health check (e.g. HTTP status)"),
    _s("check_duration", "check_duration_seconds", G, "Duration of the last health check", scale=MS),
    _s("hanafail", "check_analyze_failures_total", C, "Total number of failed checks caused by 'observe'",
       promex=False),
    _s("req_rate", "http_requests_rate_current", G, "HTTP requests per second over the last second",
       promex=False, additive=True),
    _s("req_rate_max", "http_requests_rate_max", G, "Highest HTTP requests per second since the worker started"),
    _s("req_tot", "http_requests_total", C, "Total number of HTTP requests"),
    _s("cli_abrt", "client_aborts_total", C, "Total number of transfers aborted by the client"),
    _s("srv_abrt", "server_aborts_total", C, "Total number of transfers aborted by the server"),
    _s("comp_in", "http_comp_bytes_in_total", C, "Total number of bytes fed to the HTTP compressor"),
    _s("comp_out", "http_comp_bytes_out_total", C, "Total number of bytes emitted by the HTTP compressor"),
    _s("comp_byp", "http_comp_bytes_bypassed_total", C, "Total number of bytes that bypassed the compressor"),
    _s("comp_rsp", "http_comp_responses_total", C, "Total number of compressed HTTP responses"),
    _s("lastsess", "last_session_seconds", G, "Seconds since the last session (-1: never)"),
    _s("qtime", "queue_time_average_seconds", G, "Average time in queue over the last 1024 requests", scale=MS),
    _s("ctime", "connect_time_average_seconds", G, "Average connect time over the last 1024 requests", scale=MS),
    _s("rtime", "response_time_average_seconds", G, "Average response time over the last 1024 requests",
       scale=MS),
    _s("ttime", "total_time_average_seconds", G, "Average total session time over the last 1024 requests",
       scale=MS),
    _s("agent_code", "agent_code", G, "Code reported by the last agent check"),
    _s("agent_duration", "agent_duration_seconds", G, "Duration of the last agent check", scale=MS),
    _s("check_rise", "check_rise", G, "Consecutive successful checks needed to go UP (rise)", promex=False),
    _s("check_fall", "check_fall", G, "Consecutive failed checks needed to go DOWN (fall)", promex=False),
    _s("check_health", "check_health", G, "Health check level (0..rise+fall-1; DOWN below rise)",
       promex=False),
    _s("agent_rise", "agent_rise", G, "Consecutive successful agent checks needed to go UP", promex=False),
    _s("agent_fall", "agent_fall", G, "Consecutive failed agent checks needed to go DOWN", promex=False),
    _s("agent_health", "agent_health", G, "Agent check level (0..rise+fall-1)", promex=False),
    _s("conn_rate", "connections_rate_current", G, "Connections per second over the last second",
       promex=False, additive=True),
    _s("conn_rate_max", "connections_rate_max", G, "Highest connections per second since the worker started"),
    _s("conn_tot", "connections_total", C, "Total number of accepted connections"),
    _s("intercepted", "intercepted_requests_total", C, "Total number of intercepted HTTP requests"),
    _s("dcon", "denied_connections_total", C, "Total number of connections denied by tcp-request connection"),
    _s("dses", "denied_sessions_total", C, "Total number of sessions denied by tcp-request session"),
    _s("wrew", "failed_header_rewriting_total", C, "Total number of failed HTTP header rewrites"),
    _s("connect", "connection_attempts_total", C, "Total number of connection attempts"),
    _s("reuse", "connection_reuses_total", C, "Total number of connection reuses"),
    _s("cache_lookups", "http_cache_lookups_total", C, "Total number of HTTP cache lookups"),
    _s("cache_hits", "http_cache_hits_total", C, "Total number of HTTP cache hits"),
    _s("srv_icur", "idle_connections_current", G, "Current number of idle reusable connections", additive=True),
    _s("src_ilim", "idle_connections_limit", G, "Limit on idle connections (pool-max-conn)"),
    _s("qtime_max", "max_queue_time_seconds", G, "Longest time in queue observed", scale=MS),
    _s("ctime_max", "max_connect_time_seconds", G, "Longest connect time observed", scale=MS),
    _s("rtime_max", "max_response_time_seconds", G, "Longest response time observed", scale=MS),
    _s("ttime_max", "max_total_time_seconds", G, "Longest total session time observed", scale=MS),
    _s("eint", "internal_errors_total", C, "Total number of internal errors"),
    _s("idle_conn_cur", "unsafe_idle_connections_current", G, "Current number of unsafe idle connections", additive=True),
    _s("safe_conn_cur", "safe_idle_connections_current", G, "Current number of safe idle connections", additive=True),
    _s("used_conn_cur", "used_connections_current", G, "Current number of connections in use", additive=True),
    _s("need_conn_est", "need_connections_current", G, "Estimated number of connections needed", additive=True),
    _s("uweight", "uweight", G, "User-set weight (backends: sum over servers)"),
    _s("sess_other", "other_sessions_total", C, "Total number of non-HTTP sessions", promex=False),
    _s("h1sess", "h1_sessions_total", C, "Total number of HTTP/1 sessions", promex=False),
    _s("h2sess", "h2_sessions_total", C, "Total number of HTTP/2 sessions", promex=False),
    _s("h3sess", "h3_sessions_total", C, "Total number of HTTP/3 sessions", promex=False),
    _s("req_other", "other_requests_total", C, "Total number of non-HTTP requests", promex=False),
    _s("h1req", "h1_requests_total", C, "Total number of HTTP/1 requests", promex=False),
    _s("h2req", "h2_requests_total", C, "Total number of HTTP/2 requests", promex=False),
    _s("h3req", "h3_requests_total", C, "Total number of HTTP/3 requests", promex=False),
    _s("priv_idle_cur", "private_idle_connections_current", G, "Current number of private idle connections", additive=True),
    _s("reqbin", "req_bytes_in_total", C, "Total request bytes received from clients"),
    _s("reqbout", "req_bytes_out_total", C, "Total request bytes sent to servers"),
    _s("resbin", "res_bytes_in_total", C, "Total response bytes received from servers"),
    _s("resbout", "res_bytes_out_total", C, "Total response bytes sent to clients"),
    _s("cache_hint_hits", "http_cache_hint_hits_total", C, "Total cache hits that served 103 Early Hints",
       promex=False),
)

# Extra-counter modules (after the "-" column).  Most are counters; these few are levels.
MODULE_GAUGES = frozenset(
    {"h2_open_connections", "h2_backend_open_streams", "h1_open_connections", "h1_open_streams"}
)
MODULE_PREFIXES = ("ssl_", "h1_", "h2_", "h3_", "quic_")

# Columns that carry text or identities: turned into state sets and info labels, not gauges.
TEXT_COLUMNS = frozenset(
    {
        "pxname", "svname", "status", "tracked", "check_status", "last_chk", "last_agt",
        "agent_status", "check_desc", "agent_desc", "addr", "cookie", "mode", "algo", "proto", "-",
        "pid", "iid", "sid", "srid", "type",
        # Always 0 on the CLI (filled only inside promex): computed from the server rows instead.
        "agg_server_status", "agg_server_check_status", "agg_check_status",
    }
)

HTTP_RESPONSE_CODES = (
    ("hrsp_1xx", "1xx"), ("hrsp_2xx", "2xx"), ("hrsp_3xx", "3xx"),
    ("hrsp_4xx", "4xx"), ("hrsp_5xx", "5xx"), ("hrsp_other", "other"),
)

# State sets, in promex's order.
SERVER_STATES = ("DOWN", "UP", "MAINT", "DRAIN", "NOLB")
PROXY_STATES = ("DOWN", "UP")
LISTENER_STATES = ("WAITING", "OPEN", "FULL")
CHECK_STATES = (
    "HANA", "SOCKERR", "L4OK", "L4TOUT", "L4CON", "L6OK", "L6TOUT", "L6RSP",
    "L7TOUT", "L7RSP", "L7OK", "L7OKC", "L7STS", "PROCERR", "PROCTOUT", "PROCOK",
)

# Labels that name the object on each scope's rows (promex's).
SCOPE_LABELS = {
    "frontend": ("proxy",),
    "backend": ("proxy",),
    "server": ("proxy", "server"),
    "listener": ("proxy", "listener"),
}

# Info metrics: text columns as labels, value 1.  (column, label) pairs per scope.
INFO_LABELS = {
    "frontend": (("iid", "proxy_id"), ("mode", "mode")),
    "backend": (("iid", "proxy_id"), ("mode", "mode"), ("algo", "algo"), ("cookie", "cookie")),
    "server": (("iid", "proxy_id"), ("sid", "server_id"), ("addr", "addr"), ("mode", "mode"),
               ("cookie", "cookie"), ("tracked", "tracked")),
    "listener": (("iid", "proxy_id"), ("sid", "listener_id"), ("addr", "addr"), ("mode", "mode"),
                 ("proto", "proto")),
}
