"""CPU of the ``show stat`` model alone, in its steady state: the families of one poll built from
the last poll's (``StatReuse``), with the columns HTTP traffic moves changed on every row.

No HAProxy: a synthetic answer (tests/synthetic.py) is parsed once, then each poll gets a copy
with the moved columns' numbers raised by the poll's number, parsed before the clock runs.  What
is timed is ``stat_families`` alone (``time.process_time``, the cyclic collector paused as the
poller pauses it), the median over the polls, after one cold build.  Run it from a checkout of
each commit to compare two of them.

Usage: ``.venv/bin/python bench/stat_model.py [--size 2000x25] [--polls 9]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from synthetic import synthetic_show_stat  # noqa: E402

from exporter.poll.gcpause import gc_paused  # noqa: E402
from exporter.sources.stat.model import StatReuse, stat_families  # noqa: E402
from exporter.sources.stat.parse import StatTable, parse_stat  # noqa: E402
from exporter.sources.values import ModelStats  # noqa: E402

# The columns a real HAProxy 2.6 moved in 5 s of HTTP traffic (bench/pollcpu.py's TRAFFIC), and lastchg.
MOVED = ("stot", "bin", "bout", "lbtot", "rate", "req_rate", "conn_rate", "req_tot", "hrsp_2xx", "reuse",
         "intercepted", "h1_total_streams", "h1_bytes_in", "h1_bytes_out", "rtime", "ttime", "lastchg")


def moved(text: str, step: int) -> StatTable:
    table = parse_stat(text)
    for column in MOVED:
        idx = table.column(column)
        if idx is not None:
            table.data[idx] = [str(int(cell) + step) if cell.isdigit() else cell for cell in table.data[idx]]
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="2000x25", help="backends x servers")
    parser.add_argument("--polls", type=int, default=9)
    args = parser.parse_args()
    backends, servers = map(int, args.size.split("x"))
    text = synthetic_show_stat(backends, servers, invalid=False)
    tables = [moved(text, step) for step in range(1, args.polls + 1)]
    cache = StatReuse()
    first = parse_stat(text)
    with gc_paused():
        started = time.process_time()
        stat_families(first, ModelStats(), cache)
        cold = time.process_time() - started
    times = []
    for table in tables:
        with gc_paused():
            started = time.process_time()
            stat_families(table, ModelStats(), cache)
            times.append(time.process_time() - started)
    print(f"{args.size}: cold build {cold * 1000:.0f} ms; steady, {len(MOVED)} columns moved on every row: "
          f"median {statistics.median(times) * 1000:.1f} ms (min {min(times) * 1000:.1f}, max {max(times) * 1000:.1f}) "
          f"over {len(times)} polls")


if __name__ == "__main__":
    main()
