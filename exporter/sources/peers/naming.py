"""``show peers`` under names in promex's style (promex exports no peers): ``haproxy_peer_*{peers,
peer}``, ``peers`` the section and ``peer`` the remote peer's name.  Data only.
"""

from __future__ import annotations

from exporter.exposition.families import GLOBAL

SCOPE = GLOBAL  # promex has no peers scope: with the process-wide figures

PREFIX = "haproxy_peer_"
LABELS = ("peers", "peer")
STATUS_LABEL = "status"  # haproxy_peer_status's state set

# Every last_status HAProxy prints (statuscode_str in src/peers.c, the same from 2.0 to 3.4), in
# the order of their codes: NONE (never tried), CONN (100, connecting), HSHK (110, TCP connected,
# handshake under way), ESTA (200, established), RETR (300, try again later), PROT (501, protocol
# error), VERS (502, bad version), NAME (503, bad host name), UNKN (504, unknown peer).
STATUSES = ("NONE", "CONN", "HSHK", "ESTA", "RETR", "PROT", "VERS", "NAME", "UNKN")
# A link is up when HAProxy has a session for the peer and its status is ESTA: what HAProxy itself
# takes as "active and established" (src/peers.c, __process_running_peer_sync).  ESTA alone is not
# enough: it stays after the session ends, until the next connect attempt sets CONN.
ESTABLISHED = "ESTA"

# The gauges: what fills them → (suffix, help).
GAUGES: dict[str, tuple[str, str]] = {
    "connected": ("connected", "1 when the session with the peer is established (show peers: active, last_status ESTA), else 0"),
    "status": ("status", "Last status of the session with the peer, one series per status (show peers last_status)"),
    "last_hdshk": ("last_handshake_seconds",
                   "Seconds since the last handshake with the peer, attempted or successful; with status ESTA, since "
                   "the session was established (show peers last_hdshk, to HAProxy's precision)"),
}

# show peers counter → (suffix, help).  Each only goes up while the process lives.
COUNTERS: dict[str, tuple[str, str]] = {
    "new_conn": ("new_connections_total", "Connections HAProxy opened to the peer (one per reconnect attempt)"),
    "proto_err": ("protocol_errors_total", "Protocol errors on the peer's sessions"),
    "no_hbt": ("missed_heartbeats_total",
               "Sessions closed because nothing came from the peer for a reconnect period (5 s)"),
    "tx_hbt": ("heartbeats_sent_total", "Heartbeat messages sent to the peer"),
    "rx_hbt": ("heartbeats_received_total", "Heartbeat messages received from the peer"),
    "coll": ("collisions_total", "Sessions closed because the peer opened another one (both sides connected at once)"),
}
