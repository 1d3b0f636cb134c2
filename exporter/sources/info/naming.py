"""The ``show info`` naming table: fields to ``haproxy_process_*`` names, types, units and help.

Names follow HAProxy's built-in exporter (promex); fields it leaves out are marked ``ours``.
This module is data only.
"""

from __future__ import annotations

from dataclasses import dataclass

from exporter.exposition.families import GLOBAL
from exporter.sources.values import COUNTER, GAUGE, MIB, MS

SCOPE = GLOBAL  # promex's scope of every show info family

C, G = COUNTER, GAUGE


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
    additive: bool = False  # a gauge whose values add up across processes (old workers keep it)

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
    _i("PoolAlloc_bytes", "pool_allocated_bytes", G, "Bytes allocated in memory pools", additive=True),
    _i("PoolAlloc_MB", "pool_allocated_bytes", G, "Bytes allocated in memory pools", scale=MIB,
       fallback_for="PoolAlloc_bytes", additive=True),
    _i("PoolUsed_bytes", "pool_used_bytes", G, "Bytes used in memory pools", additive=True),
    _i("PoolUsed_MB", "pool_used_bytes", G, "Bytes used in memory pools", scale=MIB,
       fallback_for="PoolUsed_bytes", additive=True),
    _i("PoolFailed", "pool_failures_total", C, "Total number of failed pool allocations"),
    _i("Ulimit-n", "max_fds", G, "Limit on file descriptors"),
    _i("Maxsock", "max_sockets", G, "Limit on sockets"),
    _i("Maxconn", "max_connections", G, "Limit on connections"),
    _i("Hard_maxconn", "hard_max_connections", G, "Hard limit on connections"),
    _i("CurrConns", "current_connections", G, "Current number of connections", additive=True),
    _i("CumConns", "connections_total", C, "Total number of connections (includes the exporter's own)"),
    _i("CumReq", "requests_total", C, "Total number of requests"),
    _i("MaxSslConns", "max_ssl_connections", G, "Limit on SSL endpoints (maxsslconn)"),
    _i("CurrSslConns", "current_ssl_connections", G, "Current number of SSL endpoints", additive=True),
    _i("CumSslConns", "ssl_connections_total", C, "Total number of SSL endpoints"),
    _i("Maxpipes", "max_pipes", G, "Limit on pipes for splicing"),
    # promex types these two counters although they are levels; kept for drop-in compatibility.
    _i("PipesUsed", "pipes_used_total", C, "Pipes in use (a level; promex's name and type)"),
    _i("PipesFree", "pipes_free_total", C, "Pipes allocated and free (a level; promex's name and type)"),
    _i("ConnRate", "current_connection_rate", G, "Connections per second over the last second", additive=True),
    _i("ConnRateLimit", "limit_connection_rate", G, "Limit on connections per second (maxconnrate)"),
    _i("MaxConnRate", "max_connection_rate", G, "Highest connections per second"),
    _i("SessRate", "current_session_rate", G, "Sessions per second over the last second", additive=True),
    _i("SessRateLimit", "limit_session_rate", G, "Limit on sessions per second (maxsessrate)"),
    _i("MaxSessRate", "max_session_rate", G, "Highest sessions per second"),
    _i("SslRate", "current_ssl_rate", G, "SSL sessions per second over the last second", additive=True),
    _i("SslRateLimit", "limit_ssl_rate", G, "Limit on SSL sessions per second (maxsslrate)"),
    _i("MaxSslRate", "max_ssl_rate", G, "Highest SSL sessions per second"),
    _i("SslFrontendKeyRate", "current_frontend_ssl_key_rate", G, "Frontend SSL key computations per second", additive=True),
    _i("SslFrontendMaxKeyRate", "max_frontend_ssl_key_rate", G, "Highest frontend SSL key computations per second"),
    _i("SslFrontendSessionReuse_pct", "frontend_ssl_reuse", G, "Percent of frontend SSL sessions reused"),
    _i("SslBackendKeyRate", "current_backend_ssl_key_rate", G, "Backend SSL key computations per second", additive=True),
    _i("SslBackendMaxKeyRate", "max_backend_ssl_key_rate", G, "Highest backend SSL key computations per second"),
    _i("SslCacheLookups", "ssl_cache_lookups_total", C, "Total number of SSL session cache lookups"),
    _i("SslCacheMisses", "ssl_cache_misses_total", C, "Total number of SSL session cache misses"),
    # promex types these rates as counters; kept for drop-in compatibility.
    _i("CompressBpsIn", "http_comp_bytes_in_total", C, "Bytes per second into the compressor (promex's name)"),
    _i("CompressBpsOut", "http_comp_bytes_out_total", C, "Bytes per second out of the compressor (promex's name)"),
    _i("CompressBpsRateLim", "limit_http_comp", G, "Limit on compression bytes per second"),
    _i("ZlibMemUsage", "current_zlib_memory", G, "Bytes of memory used by zlib", additive=True),
    _i("MaxZlibMemUsage", "max_zlib_memory", G, "Limit on zlib memory in bytes"),
    _i("Tasks", "current_tasks", G, "Current number of tasks", additive=True),
    _i("Run_queue", "current_run_queue", G, "Current number of runnable tasks", additive=True),
    _i("Idle_pct", "idle_time_percent", G, "Percent of time idle, averaged over threads"),
    _i("Stopping", "stopping", G, "1 while the worker is soft-stopping"),
    _i("Jobs", "jobs", G, "Current number of active jobs", additive=True),
    _i("Unstoppable Jobs", "unstoppable_jobs", G, "Current number of jobs that block stopping", additive=True),
    _i("Listeners", "listeners", G, "Current number of listeners", additive=True),
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
    _i("BytesOutRate", "bytes_out_rate", G, "Bytes sent per second over the last second", additive=True),
    _i("DebugCommandsIssued", "debug_commands_issued_total", C,
       "Total number of debug commands issued (anything above 0 is unsafe)", promex=False),
    _i("CumRecvLogs", "recv_logs_total", C, "Total number of log messages received by log-forward"),
    _i("TotalWarnings", "warnings_total", C, "Total number of warnings issued", promex=False),
    # promex 3.2's name for the same field, a counter without _total: typed gauge here, as Prometheus
    # tooling rejects that combination (see failed_resolutions).
    _i("TotalWarnings", "total_warnings", G, "Total number of warnings issued (promex's name)"),
    _i("MaxconnReached", "maxconn_reached_total", C, "Total number of times maxconn was reached", promex=False),
    _i("BootTime_ms", "boot_time_seconds", G, "Time taken to parse the config and start", scale=MS,
       promex=False),
    _i("Niced_tasks", "current_niced_tasks", G, "Current number of niced runnable tasks", promex=False, additive=True),
    _i("CurrStreams", "current_streams", G, "Current number of streams", promex=False, additive=True),
    _i("CumStreams", "streams_total", C, "Total number of streams", promex=False),
    _i("BlockedTrafficWarnings", "blocked_traffic_warnings_total", C,
       "Total number of blocked-traffic warnings", promex=False),
    _i("PatternsAdded", "patterns_added_total", C, "Total number of ACL/map entries added", promex=False),
    _i("PatternsFreed", "patterns_freed_total", C, "Total number of ACL/map entries freed", promex=False),
    _i("NbThreadGroups", "nb_thread_groups", G, "Number of thread groups"),
)
