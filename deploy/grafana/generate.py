"""Generate haproxy-runtime-exporter.json (the Grafana dashboard) from the panel list below.

Run ``python deploy/grafana/generate.py`` after editing; tests/deploy/test_grafana_dashboard.py
fails when the committed JSON and this file disagree. Only the standard library is used.

Template variables: ``datasource``, ``instance``, ``proxy`` (frontends and backends share HAProxy's
proxy names, as in promex), ``server``. ``proxy`` and ``server`` use ``.*`` for "All" so that queries
stay short with thousands of servers.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).with_name("haproxy-runtime-exporter.json")
DS = {"type": "prometheus", "uid": "${datasource}"}
I = 'instance=~"$instance"'
P = f'{I}, proxy=~"$proxy"'
S = f'{P}, server=~"$server"'
RI = "$__rate_interval"


def target(expr: str, legend: str = "", ref: str = "A", table: bool = False, fmt: str | None = None) -> dict[str, Any]:
    t: dict[str, Any] = {"datasource": DS, "expr": expr, "legendFormat": legend, "refId": ref}
    if table:
        t.update(format="table", instant=True, range=False)
    if fmt:
        t["format"] = fmt
    return t


def targets(*pairs: tuple[str, str]) -> list[dict[str, Any]]:
    return [target(expr, legend, chr(ord("A") + n)) for n, (expr, legend) in enumerate(pairs)]


def timeseries(title: str, desc: str, tgts: list[dict[str, Any]], unit: str = "short",
               w: int = 8, stack: bool = False) -> dict[str, Any]:
    custom: dict[str, Any] = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never"}
    if stack:
        custom["stacking"] = {"mode": "normal", "group": "A"}
    return {"type": "timeseries", "title": title, "description": desc, "datasource": DS, "targets": tgts,
            "gridPos": {"w": w, "h": 8},
            "fieldConfig": {"defaults": {"unit": unit, "custom": custom}, "overrides": []},
            "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                        "tooltip": {"mode": "multi", "sort": "desc"}}}


def stat(title: str, desc: str, tgts: list[dict[str, Any]], unit: str = "short", w: int = 4,
         mappings: list[dict[str, Any]] | None = None, text_mode: str = "auto",
         steps: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"type": "stat", "title": title, "description": desc, "datasource": DS, "targets": tgts,
            "gridPos": {"w": w, "h": 4},
            "fieldConfig": {"defaults": {"unit": unit, "mappings": mappings or [],
                                         "thresholds": {"mode": "absolute",
                                                        "steps": steps or [{"color": "green", "value": None}]}},
                            "overrides": []},
            "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                        "colorMode": "background", "graphMode": "none", "textMode": text_mode,
                        "justifyMode": "auto", "orientation": "auto"}}


def table(title: str, desc: str, expr: str, rename: dict[str, str], w: int = 12,
          show_value: bool = False) -> dict[str, Any]:
    """An instant query as a table; state-set queries (``== 1``) hide the constant value column."""
    hidden = ["Time", "__name__", "job"] + ([] if show_value else ["Value"])
    return {"type": "table", "title": title, "description": desc, "datasource": DS,
            "targets": [target(expr, table=True)], "gridPos": {"w": w, "h": 8},
            "fieldConfig": {"defaults": {}, "overrides": []}, "options": {"showHeader": True},
            "transformations": [{"id": "organize", "options": {
                "excludeByName": {name: True for name in hidden},
                "renameByName": rename}}]}


def heatmap(title: str, desc: str, expr: str, w: int = 12) -> dict[str, Any]:
    """A Prometheus histogram's buckets over time: ``expr`` is a rate of ``_bucket`` summed by ``le``;
    Grafana's heatmap format turns the cumulative buckets into per-bucket counts, sorted by bound."""
    return {"type": "heatmap", "title": title, "description": desc, "datasource": DS,
            "targets": [target(expr, "{{le}}", fmt="heatmap")], "gridPos": {"w": w, "h": 8},
            "fieldConfig": {"defaults": {"custom": {"scaleDistribution": {"type": "linear"}}}, "overrides": []},
            "options": {"calculate": False, "cellGap": 1, "yAxis": {"axisPlacement": "left", "unit": "s"},
                        "rowsFrame": {"layout": "auto"},
                        "color": {"mode": "scheme", "scheme": "Oranges", "fill": "dark-orange", "scale": "exponential",
                                  "exponent": 0.5, "steps": 64, "reverse": False},
                        "filterValues": {"le": 1e-09}, "legend": {"show": True},
                        "tooltip": {"show": True, "yHistogram": False}}}


def row(title: str) -> dict[str, Any]:
    return {"type": "row", "title": title, "collapsed": False, "panels": [], "gridPos": {"w": 24, "h": 1}}


UP_DOWN = [{"type": "value", "options": {"0": {"text": "DOWN", "color": "red"},
                                         "1": {"text": "UP", "color": "green"}}}]
STALE = [{"type": "value", "options": {"0": {"text": "fresh", "color": "green"},
                                       "1": {"text": "STALE", "color": "red"}}}]
RELOAD = [{"type": "value", "options": {"0": {"text": "FAILED", "color": "red"},
                                        "1": {"text": "OK", "color": "green"}}}]
RED_ABOVE_0 = [{"color": "green", "value": None}, {"color": "red", "value": 1}]


def panels() -> list[dict[str, Any]]:
    return [
        row("Overview"),
        stat("HAProxy readable", "haproxy_up: 1 when the last poll read show info and show stat",
             [target(f"haproxy_up{{{I}}}", "{{instance}}")], mappings=UP_DOWN),
        stat("Uptime", "Seconds since the HAProxy worker started (changes on reload)",
             [target(f"haproxy_process_uptime_seconds{{{I}}}", "{{instance}}")], unit="s"),
        stat("Version", "HAProxy version (show info)",
             [target(f"haproxy_process_build_info{{{I}}}", "{{version}}")], text_mode="name"),
        stat("Current connections", "Connections open in HAProxy, old workers still draining included",
             [target(f"sum by (instance) (haproxy_process_current_connections{{{I}}})", "{{instance}}")]),
        stat("Backends without usable server", "Backends whose active and backup usable servers are both 0",
             [target(f"sum by (instance) ((haproxy_backend_active_servers{{{I}}} + "
                     f"haproxy_backend_backup_servers{{{I}}}) == bool 0)", "{{instance}}")], steps=RED_ABOVE_0),
        stat("Servers DOWN", "Servers failing their health checks (MAINT and DRAIN are not counted)",
             [target(f'sum by (instance) (haproxy_server_status{{{I}, state="DOWN"}})', "{{instance}}")],
             steps=RED_ABOVE_0),
        timeseries("Connections and requests", "Per second, whole process",
                   targets((f"sum by (instance) (rate(haproxy_process_connections_total{{{I}}}[{RI}]))",
                            "connections {{instance}}"),
                           (f"sum by (instance) (rate(haproxy_process_requests_total{{{I}}}[{RI}]))",
                            "requests {{instance}}")),
                   unit="ops", w=12),
        timeseries("Idle time", "Share of time the HAProxy threads were idle (low = CPU bound)",
                   [target(f"haproxy_process_idle_time_percent{{{I}}}", "{{instance}}")], unit="percent", w=12),

        row("Frontends"),
        timeseries("Requests per second", "HTTP requests received by each frontend",
                   [target(f"sum by (instance, proxy) (rate(haproxy_frontend_http_requests_total{{{P}}}[{RI}]))",
                           "{{proxy}}")], unit="reqps"),
        timeseries("Responses by code", "HTTP responses sent by the selected frontends, by class",
                   [target(f"sum by (code) (rate(haproxy_frontend_http_responses_total{{{P}}}[{RI}]))",
                           "{{code}}")], unit="reqps", stack=True),
        timeseries("Current sessions", "Sessions open on each frontend (old workers' included)",
                   [target(f"sum by (instance, proxy) (haproxy_frontend_current_sessions{{{P}}})", "{{proxy}}")]),
        timeseries("Traffic", "Bytes per second received from and sent to clients",
                   targets((f"sum by (proxy) (rate(haproxy_frontend_bytes_in_total{{{P}}}[{RI}]))", "in {{proxy}}"),
                           (f"sum by (proxy) (rate(haproxy_frontend_bytes_out_total{{{P}}}[{RI}]))", "out {{proxy}}")),
                   unit="Bps"),
        timeseries("Denied and bad requests", "Requests denied by rules and invalid requests, per second",
                   targets((f"sum by (proxy) (rate(haproxy_frontend_requests_denied_total{{{P}}}[{RI}]))",
                            "denied {{proxy}}"),
                           (f"sum by (proxy) (rate(haproxy_frontend_request_errors_total{{{P}}}[{RI}]))",
                            "errors {{proxy}}")), unit="reqps"),
        table("Frontend status", "Current state of each frontend",
              f"haproxy_frontend_status{{{P}}} == 1", {"instance": "Instance", "proxy": "Frontend",
                                                           "state": "State"}, w=8),

        row("Backends"),
        table("Backend status", "Current state of each backend",
              f"haproxy_backend_status{{{P}}} == 1", {"instance": "Instance", "proxy": "Backend",
                                                          "state": "State"}, w=8),
        timeseries("Usable servers", "Active and backup servers able to take traffic",
                   targets((f"haproxy_backend_active_servers{{{P}}}", "active {{proxy}}"),
                           (f"haproxy_backend_backup_servers{{{P}}}", "backup {{proxy}}"))),
        timeseries("5xx ratio", "Share of 5xx among the backend's HTTP responses (alert above 5%)",
                   [target(f'sum by (instance, proxy) (rate(haproxy_backend_http_responses_total{{{P}, code="5xx"}}[{RI}]))'
                           f" / sum by (instance, proxy) (rate(haproxy_backend_http_responses_total{{{P}}}[{RI}]))",
                           "{{proxy}}")], unit="percentunit"),
        timeseries("Requests per second", "HTTP requests sent to each backend",
                   [target(f"sum by (instance, proxy) (rate(haproxy_backend_http_requests_total{{{P}}}[{RI}]))",
                           "{{proxy}}")], unit="reqps"),
        timeseries("Queue", "Requests waiting for a free server slot (servers at maxconn)",
                   [target(f"sum by (instance, proxy) (haproxy_backend_current_queue{{{P}}})", "{{proxy}}")]),
        timeseries("Response time", "Average over the last 1024 requests: queue, connect, response, total",
                   targets((f"haproxy_backend_queue_time_average_seconds{{{P}}}", "queue {{proxy}}"),
                           (f"haproxy_backend_connect_time_average_seconds{{{P}}}", "connect {{proxy}}"),
                           (f"haproxy_backend_response_time_average_seconds{{{P}}}", "response {{proxy}}"),
                           (f"haproxy_backend_total_time_average_seconds{{{P}}}", "total {{proxy}}")), unit="s"),
        timeseries("Errors", "Connection and response errors, retries and redispatches per second",
                   targets((f"sum by (proxy) (rate(haproxy_backend_connection_errors_total{{{P}}}[{RI}]))",
                            "connect {{proxy}}"),
                           (f"sum by (proxy) (rate(haproxy_backend_response_errors_total{{{P}}}[{RI}]))",
                            "response {{proxy}}"),
                           (f"sum by (proxy) (rate(haproxy_backend_retry_warnings_total{{{P}}}[{RI}]))",
                            "retry {{proxy}}"),
                           (f"sum by (proxy) (rate(haproxy_backend_redispatch_warnings_total{{{P}}}[{RI}]))",
                            "redispatch {{proxy}}")), unit="ops", w=24),

        row("Servers"),
        table("Server status", "Current state of each server (UP, DOWN, MAINT, DRAIN, NOLB)",
              f"haproxy_server_status{{{S}}} == 1", {"instance": "Instance", "proxy": "Backend",
                                                         "server": "Server", "state": "State"}),
        table("Last health check", "Result of each server's last health check",
              f"haproxy_server_check_status{{{S}}} == 1", {"instance": "Instance", "proxy": "Backend",
                                                               "server": "Server", "state": "Check"}),
        timeseries("Requests per second", "HTTP responses received from each server",
                   [target(f"sum by (instance, proxy, server) (rate(haproxy_server_http_responses_total{{{S}}}[{RI}]))",
                           "{{proxy}}/{{server}}")], unit="reqps"),
        timeseries("Current sessions", "Sessions open to each server (old workers' included)",
                   [target(f"sum by (instance, proxy, server) (haproxy_server_current_sessions{{{S}}})",
                           "{{proxy}}/{{server}}")]),
        timeseries("Response time", "Average response time over the last 1024 requests",
                   [target(f"haproxy_server_response_time_average_seconds{{{S}}}", "{{proxy}}/{{server}}")],
                   unit="s"),
        timeseries("Queue", "Requests waiting for this server",
                   [target(f"sum by (instance, proxy, server) (haproxy_server_current_queue{{{S}}})",
                           "{{proxy}}/{{server}}")]),
        timeseries("Health check duration", "Duration of the last health check",
                   [target(f"haproxy_server_check_duration_seconds{{{S}}}", "{{proxy}}/{{server}}")], unit="s"),
        timeseries("Failed checks and transitions", "Failed health checks and UP to DOWN transitions per second",
                   targets((f"sum by (instance, proxy, server) (rate(haproxy_server_check_failures_total{{{S}}}[{RI}]))",
                            "failed {{proxy}}/{{server}}"),
                           (f"sum by (instance, proxy, server) (rate(haproxy_server_check_up_down_total{{{S}}}[{RI}]))",
                            "down {{proxy}}/{{server}}")),
                   unit="ops"),

        row("Request logs"),
        heatmap("Total time", "How long the selected backends' requests took, from HAProxy's log lines (%Ta for HTTP, "
                "%Tt for TCP): requests per second in each bucket. Pick one backend in Proxy to see it alone "
                "(log source, off by default: the logs section; docs/logs.md)",
                f"sum by (le) (rate(haproxy_backend_log_total_time_seconds_bucket{{{P}}}[{RI}]))"),
        timeseries("Total time p50 / p95 / p99", "Quantiles of each backend's total time, buckets summed across the "
                   "selected instances first (log source)",
                   targets(*((f"histogram_quantile({q}, sum by (proxy, le) "
                              f"(rate(haproxy_backend_log_total_time_seconds_bucket{{{P}}}[{RI}])))",
                              f"{name} {{{{proxy}}}}") for q, name in (("0.5", "p50"), ("0.95", "p95"), ("0.99", "p99")))),
                   unit="s", w=12),
        stat("Log stream", "UP while the exporter's show events <ring> -w -n stream is open; DOWN: the reason is in "
             "haproxy_exporter_log_stream_failures_total (log source)",
             [target(f"haproxy_exporter_log_stream_up{{{I}}}", "{{instance}}")], mappings=UP_DOWN),
        timeseries("Log pipeline", "Lines read per second; lines that could not be parsed, lines HAProxy dropped from "
                   "the ring (the reader lagged) and samples not exported, by reason (log source)",
                   targets((f"sum by (instance) (rate(haproxy_exporter_log_lines_read_total{{{I}}}[{RI}]))",
                            "read {{instance}}"),
                           (f"sum by (instance, reason) (rate(haproxy_exporter_log_lines_rejected_total{{{I}}}[{RI}]))",
                            "rejected {{reason}} {{instance}}"),
                           (f"sum by (instance, ring) (rate(haproxy_exporter_log_ring_dropped_total{{{I}}}[{RI}]))",
                            "dropped {{ring}} {{instance}}"),
                           (f"sum by (instance, reason) "
                            f"(rate(haproxy_exporter_log_samples_unexported_total{{{I}}}[{RI}]))",
                            "unexported {{reason}} {{instance}}")), unit="ops"),
        timeseries("Responses by exact code", "HTTP responses the selected frontends sent, by exact status code, "
                   "per second (log source)",
                   [target(f"sum by (code) (rate(haproxy_frontend_log_http_responses_total{{{P}}}[{RI}]))",
                           "{{code}}")], unit="reqps", w=6, stack=True),
        timeseries("Terminations by state (all but --)", "Requests and sessions of the selected frontends by "
                   "termination state, the normal -- left out, per second (first letter: who or what ended it, "
                   "e.g. C client, S server, L HAProxy answered, c/s a client/server timeout; second: the stage, "
                   "e.g. R request, Q queue, C connect, H headers, D data; HAProxy's doc section 8.5; log source)",
                   [target(f'sum by (state) (rate(haproxy_frontend_log_terminations_total{{{P}, state!="--"}}[{RI}]))',
                           "{{state}}")], unit="ops", w=6, stack=True),

        row("Stick tables"),
        timeseries("Fill ratio", "Used entries / size (alert above 90%)",
                   [target(f"haproxy_sticktable_used{{{I}}} / (haproxy_sticktable_size{{{I}}} > 0)", "{{name}}")],
                   unit="percentunit", w=12),
        timeseries("Entries", "Used entries and size of each table",
                   targets((f"haproxy_sticktable_used{{{I}}}", "used {{name}}"),
                           (f"haproxy_sticktable_size{{{I}}}", "size {{name}}")), w=12),

        row("TLS certificates"),
        stat("Expiring within 14 days", "Certificates HAProxy loaded that expire in less than 14 days (the alert's "
             "threshold; read from show ssl cert every certificates.refresh_interval, needs level operator)",
             [target(f"count(haproxy_ssl_certificate_not_after_timestamp_seconds{{{I}}} - time() < 14 * 86400) "
                     "or vector(0)", "")], steps=RED_ABOVE_0),
        table("Certificates by days left", "Days until each certificate's notAfter, soonest first",
              f"sort((haproxy_ssl_certificate_not_after_timestamp_seconds{{{I}}} - time()) / 86400)",
              {"instance": "Instance", "file": "File", "Value": "Days left"}, w=10, show_value=True),
        table("Stapled OCSP responses", "Hours until each stapled OCSP response's Next Update, soonest first "
              "(alert below a day), and the certificate's status in it",
              f"sort((haproxy_ssl_ocsp_response_next_update_timestamp_seconds{{{I}}} - time()) / 3600) "
              f"* on (instance, serial, file) group_left (state) (haproxy_ssl_ocsp_response_status{{{I}}} == 1)",
              {"instance": "Instance", "file": "File", "serial": "Serial", "state": "Status", "Value": "Hours left"},
              w=10, show_value=True),

        row("DNS resolvers"),
        timeseries("DNS queries", "Queries sent to each nameserver of each resolvers section, per second",
                   [target(f"sum by (instance, resolver, nameserver) (rate(haproxy_resolver_sent{{{I}}}[{RI}]))",
                           "{{resolver}}/{{nameserver}}")], unit="ops", w=12),
        timeseries("DNS errors", "Failed resolutions per second by kind: timeouts, refused, NX, invalid and the rest",
                   targets(*((f"sum by (instance, resolver, nameserver) (rate(haproxy_resolver_{kind}{{{I}}}[{RI}]))",
                              f"{kind} {{{{resolver}}}}/{{{{nameserver}}}}")
                             for kind in ("timeout", "refused", "nx", "invalid", "other"))), unit="ops", w=12),

        row("Master and workers"),
        stat("Failed reloads", "Reloads that failed since the last successful one: the new config did not load "
             "(haproxy_master_failed_reloads; needs the exporter on the master CLI)",
             [target(f"haproxy_master_failed_reloads{{{I}}}", "{{instance}}")], steps=RED_ABOVE_0),
        stat("Old workers", "Workers replaced by a reload that still serve their last connections",
             [target(f"haproxy_master_old_workers{{{I}}}", "{{instance}}")],
             steps=[{"color": "green", "value": None}, {"color": "orange", "value": 3}]),
        stat("Reloads", "Reloads since the master started",
             [target(f"haproxy_master_reloads_total{{{I}}}", "{{instance}}")]),
        stat("Master uptime", "Seconds since the master process started",
             [target(f"haproxy_master_uptime_seconds{{{I}}}", "{{instance}}")], unit="s"),
        table("Workers", "Each worker: current or old (draining), version and uptime in seconds",
              f"haproxy_master_worker_uptime_seconds{{{I}}} * on (job, instance, worker) group_left (role, version) "
              f"haproxy_master_worker_info{{{I}}}",
              {"instance": "Instance", "worker": "Worker pid", "role": "Role", "version": "Version",
               "Value": "Uptime (s)"}, w=8, show_value=True),
        timeseries("Sessions by worker", "Frontend sessions of the current worker and of each old worker",
                   [target(f'label_replace(sum by (instance, worker) (haproxy_frontend_current_sessions{{{P}}}), '
                           f'"worker", "current", "worker", "")', "{{worker}}")], w=16),

        row("Peers"),
        stat("Peer links down", "Remote peers without an established session (alert after 5 minutes): "
             "their stick-table updates are not replicated",
             [target(f"sum by (instance) (haproxy_peer_connected{{{I}}} == bool 0)", "{{instance}}")],
             steps=RED_ABOVE_0),
        table("Peer status", "Last status of each remote peer's session: ESTA established, CONN connecting, "
              "HSHK handshaking, others refused (show peers last_status)",
              f"haproxy_peer_status{{{I}}} == 1", {"instance": "Instance", "peers": "Peers section", "peer": "Peer",
                                                   "status": "Status"}, w=8),
        timeseries("Reconnects", "New connections to each peer per second (a steady rate: the link flaps)",
                   [target(f"sum by (instance, peers, peer) (rate(haproxy_peer_new_connections_total{{{I}}}[{RI}]))",
                           "{{peers}}/{{peer}}")], unit="ops", w=6),
        timeseries("Since last handshake", "Seconds since the last handshake with each peer; while connected, "
                   "the session's age",
                   [target(f"haproxy_peer_last_handshake_seconds{{{I}}}", "{{peers}}/{{peer}}")], unit="s", w=6),

        row("Maps, ACLs and captured errors"),
        timeseries("Map entries", "Entries of each map file (alert when one that had entries is empty)",
                   [target(f"haproxy_map_entries{{{I}}}", "{{file}}")], w=8),
        timeseries("ACL entries", "Entries of each ACL pattern file, and of all inline ACLs added up",
                   targets((f"haproxy_acl_entries{{{I}}}", "{{file}}"),
                           (f"haproxy_acl_inline_entries{{{I}}}", "inline ACLs {{instance}}")), w=8),
        timeseries("Captured protocol errors", "Invalid requests and responses HAProxy captured, all proxies "
                   "(errors source, off by default: errors.enabled)",
                   [target(f"rate(haproxy_process_captured_errors_total{{{I}}}[{RI}])", "{{instance}}")],
                   unit="ops", w=8),

        row("Exporter"),
        stat("Snapshot", "STALE when the last good poll is older than poll.max_age (HAProxy data withheld)",
             [target(f"haproxy_exporter_snapshot_stale{{{I}}}", "{{instance}}")], mappings=STALE),
        stat("Age of last good poll", "Seconds since the exporter last read HAProxy",
             [target(f"time() - haproxy_exporter_last_successful_poll_timestamp_seconds{{{I}}}", "{{instance}}")],
             unit="s"),
        stat("Samples", "HAProxy samples in the latest snapshot",
             [target(f"haproxy_exporter_snapshot_samples{{{I}}}", "{{instance}}")]),
        stat("Config reload", "FAILED when the last SIGHUP reload was refused (old config still in use)",
             [target(f"haproxy_exporter_config_last_reload_successful{{{I}}}", "{{instance}}")],
             mappings=RELOAD),
        table("Command errors since start", "Failed Runtime API commands by reason (counter totals)",
              f"haproxy_exporter_command_errors_total{{{I}}}", {"instance": "Instance", "command": "Command",
                                                                "reason": "Reason", "Value": "Errors"},
              w=8, show_value=True),
        timeseries("Poll duration", "Wall time of the last poll and of each Runtime API command",
                   targets((f"haproxy_exporter_poll_duration_seconds{{{I}}}", "poll {{instance}}"),
                           (f"haproxy_exporter_command_duration_seconds{{{I}}}", "{{command}} {{instance}}")),
                   unit="s"),
        timeseries("Poll phases", "Where the last poll spent its time",
                   [target(f"haproxy_exporter_poll_phase_seconds{{{I}}}", "{{phase}} {{instance}}")],
                   unit="s", stack=True),
        timeseries("Polls", "Poll cycles per second by result",
                   [target(f"rate(haproxy_exporter_polls_total{{{I}}}[{RI}])", "{{result}} {{instance}}")],
                   unit="ops"),
        timeseries("Exporter memory", "The exporter's own resident memory",
                   [target(f"process_resident_memory_bytes{{{I}}}", "{{instance}}")], unit="bytes", w=12),
        timeseries("Exporter CPU", "The exporter's own CPU use, in cores",
                   [target(f"rate(process_cpu_seconds_total{{{I}}}[{RI}])", "{{instance}}")], unit="percentunit",
                   w=12),
    ]


def layout(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Give ids and flow panels left to right, wrapping at 24 columns; rows start a new line."""
    x = y = line_h = 0
    for n, panel in enumerate(items, start=1):
        panel["id"] = n
        grid = panel["gridPos"]
        if panel["type"] == "row" or x + grid["w"] > 24:
            x, y, line_h = 0, y + line_h, 0
        grid.update(x=x, y=y)
        if panel["type"] == "row":
            y += 1
        else:
            x += grid["w"]
            line_h = max(line_h, grid["h"])
    return items


def query_var(name: str, label: str, query: str, all_value: str | None) -> dict[str, Any]:
    var: dict[str, Any] = {"type": "query", "name": name, "label": label, "datasource": DS,
                           "definition": query, "query": query,  # string form: every Grafana version reads it
                           "refresh": 2, "multi": True, "includeAll": True, "sort": 1,
                           "current": {"selected": True, "text": ["All"], "value": ["$__all"]}}
    if all_value is not None:
        var["allValue"] = all_value
    return var


def dashboard() -> dict[str, Any]:
    return {
        "title": "HAProxy (runtime exporter)",
        "uid": "haproxy-runtime-exporter",
        "description": "HAProxy through haproxy-runtime-exporter (promex names): overview, frontends, "
                       "backends, servers, request logs (latency histograms, exact codes; with the logs "
                       "section), stick tables, the exporter's own health and peers.",
        "tags": ["haproxy", "haproxy-runtime-exporter"],
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 38,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-1h", "to": "now"},
        "timezone": "",
        "links": [],
        "annotations": {"list": [{"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                                  "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
                                  "name": "Annotations & Alerts", "type": "dashboard"}]},
        "templating": {"list": [
            {"type": "datasource", "name": "datasource", "label": "Data source", "query": "prometheus",
             "current": {}, "hide": 0, "refresh": 1},
            query_var("instance", "Instance", "label_values(haproxy_up, instance)", None),
            query_var("proxy", "Proxy",
                      'label_values({__name__=~"haproxy_(frontend|backend)_status", instance=~"$instance"}, proxy)',
                      ".*"),
            query_var("server", "Server",
                      'label_values(haproxy_server_status{instance=~"$instance", proxy=~"$proxy"}, server)', ".*"),
        ]},
        "panels": layout(panels()),
    }


def render() -> str:
    return json.dumps(dashboard(), indent=2) + "\n"


if __name__ == "__main__":
    OUT.write_text(render())
    sys.stdout.write(f"wrote {OUT}\n")
