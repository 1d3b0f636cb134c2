"""CPU of the ``show stat`` model alone, in its steady state: the families of one poll built from
the last poll's (``StatReuse``), with the columns HTTP traffic moves changed on every row.

No HAProxy: a synthetic answer (testkit/synthetic.py) is parsed once, then each poll gets a copy
with the moved columns' numbers raised by the poll's number, parsed before the clock runs.  What
is timed is ``stat_families`` alone (``time.process_time``, the cyclic collector paused as the
poller pauses it), the median over the polls, after one cold build.  Run it from a checkout of
each commit to compare two of them.

Usage: ``.venv/bin/python -m bench.stat_model [--size 2000x25] [--polls 9]``
"""

from __future__ import annotations

import argparse
import statistics
import time

from exporter.poll.gcpause import gc_paused
from exporter.sources.stat.model import StatReuse, stat_families
from exporter.sources.stat.parse import StatTable, parse_stat
from exporter.sources.values import ModelStats
from testkit.synthetic import synthetic_show_stat

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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.stat_model", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="2000x25", help="backends x servers")
    parser.add_argument("--polls", type=int, default=9)
    args = parser.parse_args(argv)
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
