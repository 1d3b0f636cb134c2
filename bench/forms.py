"""CPU a poll spends on the OpenMetrics and protobuf forms of its page, in-process, at a size.

No HAProxy: the synthetic ``show stat`` (testkit/synthetic.py) of bench/stat_model.py goes through
the poll's own steps (the model with its reuse, the renderer and the compressor with their memos),
then the page's forms are made as the poll makes them once a scrape asked (``Page.openmetrics``,
``Page.protobuf``, with what a target keeps from page to page).  Two steady states: the same rows
each poll (every piece found again by identity), and every row moved (the columns HTTP traffic
moves, bench/stat_model.py's ``MOVED``).  Timed: each form alone (``time.process_time``, the cyclic
collector paused), the median over the polls after two warm-up polls; the page's own steps beside.

Usage: ``.venv/bin/python -m bench.forms [--size 1000x10] [--polls 9]``
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

from bench.stat_model import moved
from exporter.exposition.page import Blocks, FormKeep, Page
from exporter.exposition.render import Rendered, render_pieces
from exporter.poll.gcpause import gc_paused
from exporter.reuse import PollMemo
from exporter.sources.stat.model import StatReuse, stat_families
from exporter.sources.stat.parse import StatTable, parse_stat
from exporter.sources.values import ModelStats
from testkit.synthetic import synthetic_show_stat


def timed(make: Callable[[], object]) -> float:
    with gc_paused():
        started = time.process_time()
        make()
        return time.process_time() - started


def steady(tables: list[StatTable]) -> dict[str, float]:
    """Median CPU seconds per poll of the page's steps and of each form, over ``tables[2:]``."""
    reuse, rendered, blocks = StatReuse(), PollMemo[Rendered](), PollMemo[Blocks]()
    om, pb = FormKeep(), FormKeep()
    found: dict[str, list[float]] = {"page": [], "openmetrics": [], "protobuf": []}
    for n, table in enumerate(tables):
        with gc_paused():
            started = time.process_time()
            page = Page.of_pieces(render_pieces(stat_families(table, ModelStats(), reuse), memo=rendered), blocks)
            spent = time.process_time() - started
        page.om_keep, page.pb_keep = om, pb
        spent_om, spent_pb = timed(page.openmetrics), timed(page.protobuf)
        if n >= 2:
            found["page"].append(spent)
            found["openmetrics"].append(spent_om)
            found["protobuf"].append(spent_pb)
    return {key: statistics.median(values) for key, values in found.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.forms", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="1000x10", help="backends x servers")
    parser.add_argument("--polls", type=int, default=9)
    args = parser.parse_args(argv)
    backends, servers = map(int, args.size.split("x"))
    text = synthetic_show_stat(backends, servers, invalid=False)
    page = Page.of_pieces(render_pieces(stat_families(parse_stat(text), ModelStats(), StatReuse())))
    print(f"{args.size}: text {len(page.text):,} bytes, protobuf {len(page.protobuf().text):,} bytes, "
          f"{len(page.pieces)} pieces")
    same = [parse_stat(text) for _ in range(args.polls + 2)]
    changing = [moved(text, step) for step in range(1, args.polls + 3)]
    for label, tables in (("same rows", same), ("every row moved", changing)):
        got = steady(tables)
        print(f"{label}: page (model, render, compress) {got['page'] * 1000:.1f} ms; OpenMetrics form "
              f"{got['openmetrics'] * 1000:.1f} ms; protobuf form {got['protobuf'] * 1000:.1f} ms "
              f"(CPU per poll, median of {args.polls})", flush=True)


if __name__ == "__main__":
    main()
