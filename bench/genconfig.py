"""HAProxy configuration for the scale benchmark: B backends x S servers, loopback only.

Servers point at one unused loopback port and have no health checks, as in the peers sheet's
measurement: HAProxy never connects to them, so the figures measure the exporters, not traffic.
The frontend serves HAProxy's built-in exporter (promex) so all three exporters read one HAProxy.
"""

from __future__ import annotations


def haproxy_config(backends: int, servers: int, admin_socket: str, promex_port: int, server_port: int) -> str:
    lines = [
        "global",
        f"    stats socket {admin_socket} mode 600 level admin",
        "    stats timeout 2m",
        "    maxconn 2000",  # fixed, so HAProxy's own memory does not depend on the machine's ulimit
        "",
        "defaults",
        "    mode http",
        "    timeout connect 2s",
        "    timeout client 120s",
        "    timeout server 120s",
        "",
        "frontend fe_promex",
        f"    bind 127.0.0.1:{promex_port}",
        "    http-request use-service prometheus-exporter if { path /metrics }",
        "",
    ]
    for b in range(backends):
        lines.append(f"backend be_{b}")
        lines.extend(f"    server s{s} 127.0.0.1:{server_port}" for s in range(servers))
        lines.append("")
    return "\n".join(lines)
