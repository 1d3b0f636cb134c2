"""Older ``show stat`` / ``show info`` layouts, derived from the real 2.6.12 capture.

Static columns were only ever appended up to index 99 (reference sheet §1.3), so cutting the
2.6.12 header and rows after the last column a version had gives that version's layout.
Info fields are dropped by the release that introduced them (§3.2).
"""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"

# version → number of static show stat columns it emits
STAT_WIDTH = {"1.8": 83, "2.0": 88, "2.4": 100}

# info fields by the release that added them (only those after 1.8)
INFO_SINCE = {
    "1.9": ["Nbthread", "Stopping", "Jobs", "Unstoppable Jobs", "Listeners", "ActivePeers",
            "ConnectedPeers", "DroppedLogs", "BusyPolling"],
    "2.0": ["FailedResolutions", "TotalBytesOut", "BytesOutRate"],
    "2.1": ["DebugCommandsIssued"],
    "2.3": ["CumRecvLogs", "TotalSplicdedBytesOut"],
    "2.4": ["Build info", "Memmax_bytes", "PoolAlloc_bytes", "PoolUsed_bytes", "Start_time_sec", "Tainted"],
}
_ORDER = ["1.8", "1.9", "2.0", "2.1", "2.3", "2.4"]


def old_stat(version: str) -> str:
    width = STAT_WIDTH[version]
    lines = (FIXTURES / "2.6.12" / "show-stat.csv").read_text().split("\n")
    out = []
    for line in lines:
        if not line:
            out.append(line)
            continue
        # the capture has no quoted cells, so a plain split is exact here
        cells = line.split(",")
        out.append(",".join(cells[:width]) + ",")
    return "\n".join(out)


def old_info(version: str) -> str:
    newer = [f for v, fields in INFO_SINCE.items() if _ORDER.index(v) > _ORDER.index(version) for f in fields]
    lines = (FIXTURES / "2.6.12" / "show-info.txt").read_text().split("\n")
    return "\n".join(line for line in lines if line.split(":", 1)[0] not in newer)
