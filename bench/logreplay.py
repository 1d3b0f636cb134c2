"""What a log line costs the reader's process, its parts replayed in one thread on the same lines.

``bench.logs --parts cpu`` measures the reader's child process against mtail on a real HAProxy,
where the figure moves ±10 % from run to run with what else the two cores run.  This replays the
same pre-made ``httplog`` lines (bench/logs.py's, behind the rfc3164 header the ring writes) in
this process, thread CPU per line, the best of ``--rounds``:

1. ``findall``: the format's expression over blocks of ``--block`` lines (format.BatchMatcher);
2. ``feed``: 1 + counting the fields (counting.Counting.feed, six ``Counter.update``);
3. ``child``: the child's whole path on one thread: a writer thread sends the lines into a
   socketpair in pieces of ``--piece`` bytes (the real stream's reads are ~12 KB at 50,000 lines a
   second), ``Stream.texts`` reads them and ``Counts.feed`` counts them, binning and sending a
   moment's counts every ``--fold`` lines' worth of time (to a sink).

With ``--engines``, the same expression in the other regular expression engines that have a
Python binding, where installed (``google-re2``, ``pcre2`` with its JIT), against ``re`` on the
same blocks: what a compiled engine behind a binding would give the first part.

    .venv/bin/python -m bench.logreplay [--lines 400000] [--rounds 5] [--engines]
"""

from __future__ import annotations

import argparse
import gc
import importlib
import socket
import threading
import time
from functools import partial
from typing import Any, Callable

from bench.logs import BUCKETS, HEADER, PRI, SMALL, messages
from exporter.runtime.client import Stream
from exporter.sources.logs.child import Counts, collect_seldom
from exporter.sources.logs.config import LogsConfig
from exporter.sources.logs.counting import Counting

RATE = 50_000  # the lines per second the fake clock of part 3 advances by (bench.logs --parts cpu)


class Sink:
    """Where part 3's counts go (the exporter's pipe, without the exporter)."""

    def __init__(self) -> None:
        self.sent = 0

    def send(self, data: bytes) -> None:
        self.sent += len(data)


def config() -> LogsConfig:
    return LogsConfig(ring="logs", format="httplog", ring_format="rfc3164", maxlen=2048, buckets=BUCKETS)


def ring_lines(count: int) -> list[str]:
    """``count`` of bench/logs.py's lines as the ring holds them (its rfc3164 header), each with its newline."""
    return [PRI + HEADER + text + "\n" for text in messages(count, SMALL)]


def blocks_of(lines: list[str], size: int) -> list[str]:
    return ["".join(lines[at:at + size]) for at in range(0, len(lines), size)]


def best(rounds: int, lines: int, run: Callable[[], float]) -> float:
    """The least of ``rounds`` runs' thread CPU, in microseconds a line."""
    return min(run() for _ in range(rounds)) / lines * 1e6


def timed(work: Callable[[], Any]) -> Callable[[], float]:
    def run() -> float:
        start = time.thread_time()
        work()
        return time.thread_time() - start
    return run


def child_path(data: bytes, piece: int) -> float:
    """Part 3 once: the thread CPU of reading and counting all of ``data``."""
    theirs, ours = socket.socketpair()

    def write() -> None:
        try:
            for at in range(0, len(data), piece):
                theirs.sendall(data[at:at + piece])
        finally:
            theirs.close()

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    now = [0.0]
    counts = Counts(Counting(config()), Sink(), 1.0, clock=lambda: now[0])  # type: ignore[arg-type]
    start = time.thread_time()
    for text in Stream(ours, "show events logs -w -n").texts():
        now[0] += text.count("\n") / RATE
        counts.feed(text)
    counts.flush()
    spent = time.thread_time() - start
    writer.join(10)
    return spent


def _each(findall: Callable[[str], Any], blocks: list[str]) -> None:
    for block in blocks:
        findall(block)


def engines(pattern: str, blocks: list[str], rounds: int, lines: int) -> list[tuple[str, str]]:
    """The same expression in each other engine found: (engine, figure or why not)."""
    out: list[tuple[str, str]] = []
    body = pattern.replace("[^\\n \\ ]", "[^\\n ]")  # neither takes an escaped space in a class
    for name in ("re2", "pcre2"):
        try:
            module: Any = importlib.import_module(name)
        except ImportError:
            out.append((name, "not installed (pip install google-re2 / pcre2 to compare)"))
            continue
        if name == "re2":
            compiled = module.compile("(?m)" + body)
        else:
            compiled = module.compile(body, flags=module.M)
            compiled.jit_compile()
        found = compiled.findall(blocks[0])
        if len(found) != blocks[0].count("\n"):
            out.append((name, f"matched {len(found)} of {blocks[0].count(chr(10))} lines: not comparable"))
            continue
        figure = best(rounds, lines, timed(partial(_each, compiled.findall, blocks)))
        out.append((name, f"{figure:.2f} us a line"))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.logreplay", description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=400_000, help="lines replayed per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; the least CPU counts")
    parser.add_argument("--block", type=int, default=61, help="lines per block in parts 1 and 2 (a real read's)")
    parser.add_argument("--piece", type=int, default=12_000, help="bytes per write into the socketpair of part 3")
    parser.add_argument("--engines", action="store_true", help="also the other engines with a Python binding")
    args = parser.parse_args(argv)
    lines = ring_lines(args.lines)
    blocks = blocks_of(lines, args.block)
    data = "".join(lines).encode()
    collect_seldom()  # as the child does
    counting = Counting(config())
    findall = counting.matcher.findall
    print(f"{args.lines:,} httplog lines (rfc3164 ring header), blocks of {args.block}, thread CPU, "
          f"best of {args.rounds}:")
    alone = best(args.rounds, args.lines, timed(lambda: [findall(block) for block in blocks]))
    print(f"  1. findall (re)                       {alone:.2f} us a line")

    def feed() -> None:
        pending = counting.pending()
        for block in blocks:
            counting.feed(block, pending)

    print(f"  2. findall + counting (feed)          {best(args.rounds, args.lines, timed(feed)):.2f} us a line")
    child = best(args.rounds, args.lines, lambda: child_path(data, args.piece))
    print(f"  3. the child's path (stream + counts) {child:.2f} us a line")
    if args.engines:
        for name, figure in engines(counting.matcher.expression.pattern, blocks, args.rounds, args.lines):
            print(f"     findall in {name:<24s} {figure}")
    gc.collect()


if __name__ == "__main__":
    main()
