"""A large, varied ``show stat`` answer built from a real 2.6.12 capture.

Rendering is optimised for size (fast paths for all-digit columns, shared label text, memoised
unit conversion), so the equivalence tests need input that exercises every slow path too: every
status string HAProxy prints, every check code with and without the ``* `` in-progress prefix,
quoted cells with commas and doubled quotes, label values that need escaping, millisecond
columns, ``-1``, 20-digit counters, empty cells and a few non-numeric cells.  Rows are the
capture's own rows with cells replaced, so the header and column layout are HAProxy's.
"""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "2.6.12" / "show-stat.csv"

SERVER_STATUSES = (
    "UP", "DOWN", "NOLB", "DRAIN", "no check", "UP 1/3", "DOWN 1/2", "NOLB 2/3", "DRAIN 1/3",
    "DOWN (agent)", "DRAIN (agent)", "MAINT", "MAINT (via be_0/s0)", "MAINT (resolution)",
)
PROXY_STATUSES = ("UP", "DOWN", "DOWN (0/3)", "UP (6/6)")
FRONTEND_STATUSES = ("OPEN", "STOP", "PAUSED", "FULL")
LISTENER_STATUSES = ("OPEN", "WAITING", "FULL")
CHECK_CODES = (
    "UNK", "INI", "CHECKED", "HANA", "SOCKERR", "L4OK", "L4TOUT", "L4CON", "L6OK", "L6TOUT", "L6RSP",
    "L7TOUT", "L7RSP", "L7OK", "L7OKC", "L7STS", "PROCERR", "PROCTOUT", "PROCOK",
)
TEXT = {"pxname", "svname", "status", "tracked", "check_status", "last_chk", "last_agt", "agent_status",
        "check_desc", "agent_desc", "addr", "cookie", "mode", "algo", "proto", "-", "type"}
MS_COLUMNS = {"check_duration", "agent_duration", "qtime", "ctime", "rtime", "ttime",
              "qtime_max", "ctime_max", "rtime_max", "ttime_max"}


def _templates(text: str) -> tuple[str, list[str], dict[str, list[str]]]:
    header, _, body = text.partition("\n")
    names = header[2:].rstrip(",").split(",")
    by_type: dict[str, list[str]] = {}
    for row in csv.reader(io.StringIO(body)):
        if row:
            by_type.setdefault(row[names.index("type")], row[: len(names)])
    return header, names, by_type


def _number(rng: random.Random, column: str, invalid: bool) -> str:
    roll = rng.random()
    if roll < 0.5:
        return "0"
    if roll < 0.53 and column == "lastsess":
        return "-1"
    if roll < 0.55:
        return str(rng.randrange(10**19, 10**20))  # 20 digits: beyond float precision
    if roll < 0.5505 and invalid:
        return "n/a"  # not a number: skipped and counted, on both sides
    return str(rng.randrange(0, 10**rng.randrange(1, 10)))


def _fill(rng: random.Random, names: list[str], template: list[str], cells: dict[str, str],
          invalid: bool = True) -> list[str]:
    row = list(template)
    for pos, name in enumerate(names):
        if name in cells:
            row[pos] = cells[name]
        elif name in TEXT or name in ("pid", "iid", "sid") or not row[pos]:
            continue  # keep the capture's layout: empty stays empty, ids stay ids
        elif name in MS_COLUMNS:
            row[pos] = str(rng.choice((0, 1, 5, 999, 1000, 1234, rng.randrange(10**7))))
        else:
            row[pos] = _number(rng, name, invalid)
    return row


def synthetic_show_stat(backends: int, servers: int, seed: int = 1, invalid: bool = True) -> str:
    """``show stat`` text (header, rows, closing blank line as the parser receives it).

    ``invalid=False`` leaves out the rare non-numeric cells, so whole columns take the fast paths.
    """
    rng = random.Random(seed)
    header, names, tpl = _templates(FIXTURE.read_text())
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=",\n")  # HAProxy ends every row with a comma
    n = 0

    def fill(template: list[str], cells: dict[str, str]) -> list[str]:
        return _fill(rng, names, template, cells, invalid)

    for f in range(max(1, backends // 50)):
        writer.writerow(fill(tpl["0"], {"pxname": f"fe_{f}", "svname": "FRONTEND",
                                                     "status": FRONTEND_STATUSES[f % 4], "iid": str(f + 1)}))
        for li in range(2):
            writer.writerow(fill(tpl["3"], {
                "pxname": f"fe_{f}", "svname": f"sock-{li}", "status": LISTENER_STATUSES[(f + li) % 3],
                "addr": f"127.0.0.1:{20000 + li}", "iid": str(f + 1), "sid": str(li + 1)}))
    for b in range(backends):
        px = f"be_{b}" if b % 7 else f"be.{b}-x:y"
        for s in range(servers):
            n += 1
            check = CHECK_CODES[n % len(CHECK_CODES)]
            writer.writerow(fill(tpl["2"], {
                "pxname": px, "svname": f"s{s}", "iid": str(b + 100), "sid": str(s + 1),
                "status": SERVER_STATUSES[n % len(SERVER_STATUSES)],
                "check_status": ("* " + check if n % 3 == 0 else check) if n % 5 else "",
                "agent_status": CHECK_CODES[(n * 7) % len(CHECK_CODES)] if n % 4 == 0 else "",
                "check_code": str(rng.choice((200, 404, 503))) if n % 2 else "",
                "last_chk": 'Connection refused, "really" refused' if n % 6 == 0 else "",
                "check_desc": "Layer4 connection problem" if n % 5 == 1 else "",
                "addr": f"127.0.0.{1 + s % 250}:{10000 + s}" if n % 9 else "[::1]:8080",
                "cookie": 'c"ook\\ie,' + str(s) if n % 11 == 0 else "",
                "tracked": "be_0/s0" if n % 13 == 0 else "",
                "mode": "http" if n % 2 else "tcp",
            }))
        writer.writerow(fill(tpl["1"], {
            "pxname": px, "svname": "BACKEND", "iid": str(b + 100), "status": PROXY_STATUSES[b % 4],
            "algo": ("roundrobin", "leastconn", "source", "uri")[b % 4], "cookie": "SRV" if b % 2 else ""}))
    return header + "\n" + out.getvalue()
