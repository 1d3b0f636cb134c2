"""The stick-table naming table: HAProxy data types to metric names, labels and help.  Data only.

Every stored data type becomes ``haproxy_sticktable_entry_<type>`` with labels ``table`` and
``key``.  Array elements (``gpc0``, ``gpt1``, ``gpc1_rate``) go to the array's family with an
``index`` label; the legacy single ``gpc0``/``gpc1``/``gpt0`` print exactly like array elements
(reference sheet §4.2), so both forms land in the same series.  Rates keep HAProxy's value, the
number of events within one period, with a ``period`` label (``10s``): the same number HAProxy's
ACLs and ``show table`` filters compare against.

Everything is a gauge, counters included: an entry's counters start again at zero when the entry
expires and comes back, and ``set table``/``sc-clr-gpc`` can set them to anything, so
``rate()`` over them would invent resets.  Hence no ``_total`` suffix.
"""

from __future__ import annotations

from dataclasses import dataclass

from exporter.exposition.families import STICKTABLE

SCOPE = STICKTABLE  # promex's scope of every stick-table family

PREFIX = "haproxy_sticktable_entry_"

# Value kinds
NUMBER = "number"  # one integer per entry
RATE = "rate"  # events within the period; the dump prints name(period_ms)=value
ARRAY = "array"  # gpcN / gptN: one integer per element, index label
ARRAY_RATE = "array_rate"  # gpcN_rate(period)
SERVER = "server"  # server_key / server_name: a server name or "-"


@dataclass(frozen=True)
class DataType:
    """One stick-table data type as HAProxy names it in ``store`` and in the dump."""

    name: str
    kind: str
    help: str

    @property
    def metric(self) -> str:
        return PREFIX + ("server_key_info" if self.kind == SERVER else self.name)


_PER = " within the period (period label); divide by the period for a per-second rate"

DATA_TYPES: dict[str, DataType] = {
    d.name: d
    for d in (
        DataType("server_id", NUMBER, "Id of the server the key sticks to (server_id)"),
        DataType("gpt", ARRAY, "General purpose tag gptN of the entry (index label = N; gpt0 included)"),
        DataType("gpc", ARRAY, "General purpose counter gpcN of the entry (index label = N; gpc0, gpc1 included)"),
        DataType("gpc_rate", ARRAY_RATE, "Increments of gpcN" + _PER + " (gpcN_rate)"),
        DataType("conn_cnt", NUMBER, "Connections counted for the key since the entry was created (conn_cnt)"),
        DataType("conn_rate", RATE, "Connections" + _PER + " (conn_rate)"),
        DataType("conn_cur", NUMBER, "Concurrent connections currently tracked with the key (conn_cur)"),
        DataType("sess_cnt", NUMBER, "Sessions counted for the key since the entry was created (sess_cnt)"),
        DataType("sess_rate", RATE, "Sessions" + _PER + " (sess_rate)"),
        DataType("http_req_cnt", NUMBER, "HTTP requests counted for the key since the entry was created (http_req_cnt)"),
        DataType("http_req_rate", RATE, "HTTP requests" + _PER + " (http_req_rate)"),
        DataType("http_err_cnt", NUMBER, "HTTP client errors (4xx and bad requests) counted for the key (http_err_cnt)"),
        DataType("http_err_rate", RATE, "HTTP client errors" + _PER + " (http_err_rate)"),
        DataType("http_fail_cnt", NUMBER, "HTTP server failures (5xx) counted for the key (http_fail_cnt)"),
        DataType("http_fail_rate", RATE, "HTTP server failures" + _PER + " (http_fail_rate)"),
        DataType("bytes_in_cnt", NUMBER, "Bytes received from clients with the key (bytes_in_cnt)"),
        DataType("bytes_in_rate", RATE, "Bytes received" + _PER + " (bytes_in_rate)"),
        DataType("bytes_out_cnt", NUMBER, "Bytes sent to clients with the key (bytes_out_cnt)"),
        DataType("bytes_out_rate", RATE, "Bytes sent" + _PER + " (bytes_out_rate)"),
        DataType("glitch_cnt", NUMBER, "Protocol glitches counted for the key (glitch_cnt, HAProxy 3.0+)"),
        DataType("glitch_rate", RATE, "Protocol glitches" + _PER + " (glitch_rate, HAProxy 3.0+)"),
        DataType("server_key", SERVER, "Server the key sticks to (server_key; server_name before 2.4); always 1"),
    )
}
DATA_TYPES["server_name"] = DATA_TYPES["server_key"]

# Per-entry facts that are not stored data types.
ENTRY_USE = (PREFIX + "use", "Sessions currently tracking the entry (use=); the entry cannot expire while above 0")
ENTRY_EXPIRE = (PREFIX + "expire_seconds", "Time left before the entry expires (exp=, milliseconds / 1000)")

# Per-table families from the summary (promex names and labels) and from our dumps.
TABLE_SIZE = ("haproxy_sticktable_size", "Stick table size (maximum number of entries)")
TABLE_USED = ("haproxy_sticktable_used", "Number of entries used in this stick table")
TABLE_UTILIZATION = ("haproxy_sticktable_utilization_ratio", "Entries used divided by the table size (0 to 1)")
TABLE_LOCAL_UPDATES = ("haproxy_sticktable_local_updates",
                       "Updates of the table's entries made by this process, counted for its peers; a 32-bit count "
                       "that wraps (show peers localupdate; 0 for a table no peers section shares: HAProxy counts "
                       "them only there)")
ENTRIES_SEEN = ("haproxy_sticktable_entries_seen",
                "Entries HAProxy returned for the configured dump (after the filters) in the last poll")
ENTRIES_EXPORTED = ("haproxy_sticktable_entries_exported",
                    "Entries exported as haproxy_sticktable_entry_* series in the last poll")
ENTRIES_DROPPED = ("haproxy_sticktable_entries_dropped",
                   "Entries left out of the last poll by max_entries (seen minus exported)")

# sort_by when the config names none: the first of these the table stores, else the first number.
DEFAULT_SORT_ORDER = (
    "http_req_rate", "conn_rate", "sess_rate", "http_err_rate", "http_fail_rate", "bytes_in_rate",
    "bytes_out_rate", "glitch_rate", "gpc0_rate", "conn_cur", "http_req_cnt", "conn_cnt", "sess_cnt",
    "gpc0", "gpt0",
)

# Names a filter (``data.<type>``) may use: HAProxy's data type names, arrays by their array
# name (2.6 refuses data.gpc2 on an array table) and the legacy single names.
FILTER_TYPES = frozenset(
    {n for n, d in DATA_TYPES.items() if d.kind in (NUMBER, RATE, ARRAY, ARRAY_RATE)}
    | {"gpt0", "gpc0", "gpc1", "gpc0_rate", "gpc1_rate"}
)
FILTER_OPERATORS = ("eq", "ne", "le", "ge", "lt", "gt")
MAX_FILTERS = 4  # HAProxy's STKTABLE_FILTER_LEN


def element_type(name: str) -> tuple[DataType, str | None] | None:
    """``gpc3`` → (gpc, "3"); ``gpc1_rate`` → (gpc_rate, "1"); ``conn_cnt`` → (conn_cnt, None)."""
    known = DATA_TYPES.get(name)
    if known is not None and known.kind not in (ARRAY, ARRAY_RATE):
        return known, None
    if name.startswith("gpc") or name.startswith("gpt"):
        rest = name[3:]
        if rest.endswith("_rate") and name.startswith("gpc"):
            digits, base = rest[:-5], "gpc_rate"
        else:
            digits, base = rest, name[:3]
        if digits.isdigit() and digits.isascii():
            return DATA_TYPES[base], str(int(digits))
    return None


def period_text(ms: int) -> str:
    """A rate period as a label value: ``10000`` → ``10s``, ``1500`` → ``1500ms``."""
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"
