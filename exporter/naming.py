"""The naming table: HAProxy field names to Prometheus metric names, types, units and help.

Names follow HAProxy's built-in exporter (promex), so dashboards and alert rules written for it
keep working.  Fields promex leaves out get names in the same style, marked ``ours`` in the
README's table (generated from this module, so it cannot drift).  This module is data only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

COUNTER = "counter"
GAUGE = "gauge"

MS = 0.001  # HAProxy reports times in milliseconds; Prometheus wants seconds.
MIB = 1024 * 1024

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

    def name_for(self, scope: str) -> str:
        return f"haproxy_{scope}_{self.names.get(scope, self.suffix)}"


def _s(column: str, suffix: str, kind: str, help: str, **kw: object) -> StatMetric:
    return StatMetric(column, suffix, kind, help, **kw)  # type: ignore[arg-type]


C, G = COUNTER, GAUGE

STAT_METRICS: tuple[StatMetric, ...] = (
    _s("qcur", "current_queue", G, "Current number of queued requests"),
    _s("qmax", "max_queue", G, "Highest number of queued requests since the worker started"),
    _s("scur", "current_sessions", G, "Current number of sessions"),
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
    _s("rate", "current_session_rate", G, "Sessions per second over the last second"),
    _s("rate_lim", "limit_session_rate", G, "Configured limit on new sessions per second"),
    _s("rate_max", "max_session_rate", G, "Highest sessions per second since the worker started"),
    _s("check_code", "check_code", G, "Layer 5-7 code of the last health check (e.g. HTTP status)"),
    _s("check_duration", "check_duration_seconds", G, "Duration of the last health check", scale=MS),
    _s("hanafail", "check_analyze_failures_total", C, "Total number of failed checks caused by 'observe'",
       promex=False),
    _s("req_rate", "http_requests_rate_current", G, "HTTP requests per second over the last second",
       promex=False),
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
       promex=False),
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
    _s("srv_icur", "idle_connections_current", G, "Current number of idle reusable connections"),
    _s("src_ilim", "idle_connections_limit", G, "Limit on idle connections (pool-max-conn)"),
    _s("qtime_max", "max_queue_time_seconds", G, "Longest time in queue observed", scale=MS),
    _s("ctime_max", "max_connect_time_seconds", G, "Longest connect time observed", scale=MS),
    _s("rtime_max", "max_response_time_seconds", G, "Longest response time observed", scale=MS),
    _s("ttime_max", "max_total_time_seconds", G, "Longest total session time observed", scale=MS),
    _s("eint", "internal_errors_total", C, "Total number of internal errors"),
    _s("idle_conn_cur", "unsafe_idle_connections_current", G, "Current number of unsafe idle connections"),
    _s("safe_conn_cur", "safe_idle_connections_current", G, "Current number of safe idle connections"),
    _s("used_conn_cur", "used_connections_current", G, "Current number of connections in use"),
    _s("need_conn_est", "need_connections_current", G, "Estimated number of connections needed"),
    _s("uweight", "uweight", G, "User-set weight (backends: sum over servers)"),
    _s("sess_other", "other_sessions_total", C, "Total number of non-HTTP sessions", promex=False),
    _s("h1sess", "h1_sessions_total", C, "Total number of HTTP/1 sessions", promex=False),
    _s("h2sess", "h2_sessions_total", C, "Total number of HTTP/2 sessions", promex=False),
    _s("h3sess", "h3_sessions_total", C, "Total number of HTTP/3 sessions", promex=False),
    _s("req_other", "other_requests_total", C, "Total number of non-HTTP requests", promex=False),
    _s("h1req", "h1_requests_total", C, "Total number of HTTP/1 requests", promex=False),
    _s("h2req", "h2_requests_total", C, "Total number of HTTP/2 requests", promex=False),
    _s("h3req", "h3_requests_total", C, "Total number of HTTP/3 requests", promex=False),
    _s("priv_idle_cur", "private_idle_connections_current", G, "Current number of private idle connections"),
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


@dataclass(frozen=True)
class InfoMetric:
    """One numeric ``show info`` field under ``haproxy_process_``.  ``fallback_for`` names the
    newer field this older one stands in for when the newer one is absent (MB fields before 2.4)."""

    field: str
    suffix: str
    kind: str
    help: str
    scale: float = 1
    fallback_for: str | None = None
    promex: bool = True

    @property
    def name(self) -> str:
        return f"haproxy_process_{self.suffix}"


def _i(fld: str, suffix: str, kind: str, help: str, **kw: object) -> InfoMetric:
    return InfoMetric(fld, suffix, kind, help, **kw)  # type: ignore[arg-type]


INFO_METRICS: tuple[InfoMetric, ...] = (
    _i("Nbthread", "nbthread", G, "Number of threads"),
    _i("Nbproc", "nbproc", G, "Number of worker processes (always 1 since 2.5)"),
    _i("Process_num", "relative_process_id", G, "Relative worker process number"),
    _i("Pid", "pid", G, "Operating-system pid of the worker (changes on reload)", promex=False),
    _i("Uptime_sec", "uptime_seconds", G, "Seconds since the worker started"),
    _i("Start_time_sec", "start_time_seconds", G, "Start time of the worker, seconds since the epoch"),
    _i("Memmax_bytes", "max_memory_bytes", G, "Memory limit (-m), 0 for none"),
    _i("Memmax_MB", "max_memory_bytes", G, "Memory limit (-m), 0 for none", scale=MIB,
       fallback_for="Memmax_bytes"),
    _i("PoolAlloc_bytes", "pool_allocated_bytes", G, "Bytes allocated in memory pools"),
    _i("PoolAlloc_MB", "pool_allocated_bytes", G, "Bytes allocated in memory pools", scale=MIB,
       fallback_for="PoolAlloc_bytes"),
    _i("PoolUsed_bytes", "pool_used_bytes", G, "Bytes used in memory pools"),
    _i("PoolUsed_MB", "pool_used_bytes", G, "Bytes used in memory pools", scale=MIB,
       fallback_for="PoolUsed_bytes"),
    _i("PoolFailed", "pool_failures_total", C, "Total number of failed pool allocations"),
    _i("Ulimit-n", "max_fds", G, "Limit on file descriptors"),
    _i("Maxsock", "max_sockets", G, "Limit on sockets"),
    _i("Maxconn", "max_connections", G, "Limit on connections"),
    _i("Hard_maxconn", "hard_max_connections", G, "Hard limit on connections"),
    _i("CurrConns", "current_connections", G, "Current number of connections"),
    _i("CumConns", "connections_total", C, "Total number of connections (includes the exporter's own)"),
    _i("CumReq", "requests_total", C, "Total number of requests"),
    _i("MaxSslConns", "max_ssl_connections", G, "Limit on SSL endpoints (maxsslconn)"),
    _i("CurrSslConns", "current_ssl_connections", G, "Current number of SSL endpoints"),
    _i("CumSslConns", "ssl_connections_total", C, "Total number of SSL endpoints"),
    _i("Maxpipes", "max_pipes", G, "Limit on pipes for splicing"),
    # promex types these two counters although they are levels; kept for drop-in compatibility.
    _i("PipesUsed", "pipes_used_total", C, "Pipes in use (a level; promex's name and type)"),
    _i("PipesFree", "pipes_free_total", C, "Pipes allocated and free (a level; promex's name and type)"),
    _i("ConnRate", "current_connection_rate", G, "Connections per second over the last second"),
    _i("ConnRateLimit", "limit_connection_rate", G, "Limit on connections per second (maxconnrate)"),
    _i("MaxConnRate", "max_connection_rate", G, "Highest connections per second"),
    _i("SessRate", "current_session_rate", G, "Sessions per second over the last second"),
    _i("SessRateLimit", "limit_session_rate", G, "Limit on sessions per second (maxsessrate)"),
    _i("MaxSessRate", "max_session_rate", G, "Highest sessions per second"),
    _i("SslRate", "current_ssl_rate", G, "SSL sessions per second over the last second"),
    _i("SslRateLimit", "limit_ssl_rate", G, "Limit on SSL sessions per second (maxsslrate)"),
    _i("MaxSslRate", "max_ssl_rate", G, "Highest SSL sessions per second"),
    _i("SslFrontendKeyRate", "current_frontend_ssl_key_rate", G, "Frontend SSL key computations per second"),
    _i("SslFrontendMaxKeyRate", "max_frontend_ssl_key_rate", G, "Highest frontend SSL key computations per second"),
    _i("SslFrontendSessionReuse_pct", "frontend_ssl_reuse", G, "Percent of frontend SSL sessions reused"),
    _i("SslBackendKeyRate", "current_backend_ssl_key_rate", G, "Backend SSL key computations per second"),
    _i("SslBackendMaxKeyRate", "max_backend_ssl_key_rate", G, "Highest backend SSL key computations per second"),
    _i("SslCacheLookups", "ssl_cache_lookups_total", C, "Total number of SSL session cache lookups"),
    _i("SslCacheMisses", "ssl_cache_misses_total", C, "Total number of SSL session cache misses"),
    # promex types these rates as counters; kept for drop-in compatibility.
    _i("CompressBpsIn", "http_comp_bytes_in_total", C, "Bytes per second into the compressor (promex's name)"),
    _i("CompressBpsOut", "http_comp_bytes_out_total", C, "Bytes per second out of the compressor (promex's name)"),
    _i("CompressBpsRateLim", "limit_http_comp", G, "Limit on compression bytes per second"),
    _i("ZlibMemUsage", "current_zlib_memory", G, "Bytes of memory used by zlib"),
    _i("MaxZlibMemUsage", "max_zlib_memory", G, "Limit on zlib memory in bytes"),
    _i("Tasks", "current_tasks", G, "Current number of tasks"),
    _i("Run_queue", "current_run_queue", G, "Current number of runnable tasks"),
    _i("Idle_pct", "idle_time_percent", G, "Percent of time idle, averaged over threads"),
    _i("Stopping", "stopping", G, "1 while the worker is soft-stopping"),
    _i("Jobs", "jobs", G, "Current number of active jobs"),
    _i("Unstoppable Jobs", "unstoppable_jobs", G, "Current number of jobs that block stopping"),
    _i("Listeners", "listeners", G, "Current number of listeners"),
    _i("ActivePeers", "active_peers", G, "Current number of active peer connections"),
    _i("ConnectedPeers", "connected_peers", G, "Current number of connected peers"),
    _i("DroppedLogs", "dropped_logs_total", C, "Total number of dropped log messages"),
    _i("BusyPolling", "busy_polling_enabled", G, "1 if busy polling is enabled"),
    # promex exports this counter without _total, typed counter; we keep the name and type it
    # gauge, the only type Prometheus tooling accepts without the suffix.
    _i("FailedResolutions", "failed_resolutions", G, "Total number of failed DNS resolutions (promex's name)"),
    _i("TotalBytesOut", "bytes_out_total", C, "Total number of bytes sent"),
    _i("TotalSplicedBytesOut", "spliced_bytes_out_total", C, "Total number of bytes sent by splicing"),
    _i("TotalSplicdedBytesOut", "spliced_bytes_out_total", C, "Total number of bytes sent by splicing",
       fallback_for="TotalSplicedBytesOut"),  # the 2.3-2.7 spelling
    _i("BytesOutRate", "bytes_out_rate", G, "Bytes sent per second over the last second"),
    _i("DebugCommandsIssued", "debug_commands_issued_total", C,
       "Total number of debug commands issued (anything above 0 is unsafe)", promex=False),
    _i("CumRecvLogs", "recv_logs_total", C, "Total number of log messages received by log-forward"),
    _i("TotalWarnings", "warnings_total", C, "Total number of warnings issued", promex=False),
    _i("MaxconnReached", "maxconn_reached_total", C, "Total number of times maxconn was reached", promex=False),
    _i("BootTime_ms", "boot_time_seconds", G, "Time taken to parse the config and start", scale=MS,
       promex=False),
    _i("Niced_tasks", "current_niced_tasks", G, "Current number of niced runnable tasks", promex=False),
    _i("CurrStreams", "current_streams", G, "Current number of streams", promex=False),
    _i("CumStreams", "streams_total", C, "Total number of streams", promex=False),
    _i("BlockedTrafficWarnings", "blocked_traffic_warnings_total", C,
       "Total number of blocked-traffic warnings", promex=False),
    _i("PatternsAdded", "patterns_added_total", C, "Total number of ACL/map entries added", promex=False),
    _i("PatternsFreed", "patterns_freed_total", C, "Total number of ACL/map entries freed", promex=False),
    _i("NbThreadGroups", "thread_groups", G, "Number of thread groups", promex=False),
)
