"""What a compiled scanner would save the log reader: a prototype in C against Python's ``re``.

The reader's ``findall`` is most of a log line's cost (bench/logreplay.py), and no regular
expression engine with a Python binding beats ``re`` there.  bench/prototypes/httplog_scan.c
reads ``option httplog`` lines behind the ring's rfc3164 header into the same rows as the log
source's expression gives (its kept fields), or refuses a block with any line it does not read as
HAProxy writes it.  This builds it with the system's C compiler in a temporary directory (nothing
is installed, the exporter never loads it), checks that its rows equal ``findall``'s on every line
(bench/logs.py's lines, and the httplog captures of every HAProxy version in tests/fixtures/logs/),
and gives both costs, thread CPU per line, the best of ``--rounds``.  A measurement for deciding
whether the exporter should carry such a scanner, not a part of it.

    .venv/bin/python -m bench.logscan [--lines 400000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

from bench.logreplay import best, blocks_of, config, ring_lines, timed
from exporter.sources.logs.counting import Counting

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "prototypes" / "httplog_scan.c"
FIXTURES = HERE.parent / "tests" / "fixtures" / "logs"
MUTATIONS = ' -+/:"[]{}~<>0129aZ\\\t\x00é'  # what a changed character becomes
# The prototype's row: these fields, in this order.
FIELDS = ("frontend", "backend", "t_request", "t_queue", "t_connect", "t_response", "t_active", "status",
          "termination", "retries")


def build(workdir: Path) -> Any:
    """The prototype, compiled and loaded; SystemExit with the reason when it cannot be."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    include = sysconfig.get_paths()["include"]
    if compiler is None or not (Path(include) / "Python.h").exists():
        raise SystemExit(f"bench.logscan: needs a C compiler and Python's headers ({include}/Python.h): "
                         "apt-get install gcc python3-dev")
    target = workdir / f"httplog_scan{sysconfig.get_config_var('EXT_SUFFIX')}"
    subprocess.run([compiler, "-O2", "-shared", "-fPIC", f"-I{include}", str(SOURCE), "-o", str(target)],
                   check=True, timeout=120)
    spec = importlib.util.spec_from_file_location("httplog_scan", target)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rows(counting: Counting, block: str) -> list[tuple[str, ...]]:
    """``findall``'s rows in the prototype's order of fields."""
    order = [counting.matcher.columns[name] for name in FIELDS]
    return [tuple(row[at] for at in order) for row in counting.matcher.findall(block)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.logscan", description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=400_000, help="lines per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; the least CPU counts")
    parser.add_argument("--block", type=int, default=61, help="lines per block (a real read's at 50,000 a second)")
    args = parser.parse_args(argv)
    counting = Counting(config())
    lines = ring_lines(args.lines)
    blocks = blocks_of(lines, args.block)
    with tempfile.TemporaryDirectory(prefix="logscan") as workdir:
        scan = build(Path(workdir)).scan
        refused = sum(1 for block in blocks if scan(block) is None)
        if refused or any(scan(block) != rows(counting, block) for block in blocks):
            sys.exit(f"bench.logscan: the prototype's rows differ from findall's ({refused} blocks refused)")
        alike = seen = 0
        for path in sorted(FIXTURES.glob("*/httplog.log")):
            for line in path.read_text().splitlines():
                got, seen = scan(line + "\n"), seen + 1
                if got is not None and got != rows(counting, line + "\n"):
                    sys.exit(f"bench.logscan: the prototype's row differs from findall's on {path}: {line!r}")
                alike += got is not None
        rng, read, mutated = random.Random(22), 0, 20_000
        for _ in range(mutated):  # a character changed, added or removed: refused, or read as re reads it
            line = rng.choice(lines)[:-1]
            at = rng.randrange(len(line))
            line = line[:at] + rng.choice(("", rng.choice(MUTATIONS))) + line[at + rng.randint(0, 1):]
            got = scan(line + "\n")
            if got is not None and got != rows(counting, line + "\n"):
                sys.exit(f"bench.logscan: the prototype reads a changed line unlike findall: {line!r}")
            read += got is not None
        print(f"{mutated:,} lines with a character changed, added or removed: {read:,} read as findall reads them, "
              "the rest refused")
        print(f"{args.lines:,} httplog lines (rfc3164 ring header), blocks of {args.block}: the prototype's rows "
              f"equal findall's on every one; of HAProxy's own {seen} captured lines, {alike} read alike, the "
              "rest refused (left to re)")
        ours = best(args.rounds, args.lines, timed(lambda: [counting.matcher.findall(block) for block in blocks]))
        theirs = best(args.rounds, args.lines, timed(lambda: [scan(block) for block in blocks]))
    print(f"  findall (re)          {ours:.2f} us a line")
    print(f"  the C prototype       {theirs:.2f} us a line  ({theirs / ours:.2f} of re's)")


if __name__ == "__main__":
    main()
