"""``show resolvers`` counters under promex's names (HAProxy 3.0+ ``haproxy_resolver_*``).

promex types these gauges, without ``_total``; they are kept exactly so, so dashboards written
for promex 3.0 work on 2.x too (they only ever go up until a reload: use ``rate()``).  The help
texts are promex's.  Data only.
"""

from __future__ import annotations

from exporter.exposition.families import RESOLVER

SCOPE = RESOLVER  # promex's scope of every resolver family

PREFIX = "haproxy_resolver_"
LABELS = ("resolver", "nameserver")

# show resolvers counter → (promex suffix, help)
COUNTERS: dict[str, tuple[str, str]] = {
    "sent": ("sent", "Sent"),
    "snd_error": ("send_error", "Send error"),
    "valid": ("valid", "Valid"),
    "update": ("update", "Update"),
    "cname": ("cname", "CNAME"),
    "cname_error": ("cname_error", "CNAME error"),
    "any_err": ("any_err", "Any errors"),
    "nx": ("nx", "NX"),
    "timeout": ("timeout", "Timeout"),
    "refused": ("refused", "Refused"),
    "other": ("other", "Other"),
    "invalid": ("invalid", "Invalid"),
    "too_big": ("too_big", "Too big"),
    "truncated": ("truncated", "Truncated"),
    "outdated": ("outdated", "Outdated"),
}
