"""Where a steady poll's memory goes, structure by structure, at B backends x S servers.

Starts a generated HAProxy (as bench/scale.py does), polls it in-process, in a thread as the
daemon does, with a hundredth of the rows' counters moving between polls (bench/pollcpu.py's
changed copies), then counts what each structure the exporter keeps holds: every object reachable
from it, each object counted once, for the first structure in this order that reaches it:

- the published page (the pieces' text, the compressed blocks) and the renderer's memos;
- ``show stat``'s reuse: the kept columns, the rows' label sets, the families (their value and label
  columns beyond what is counted already) and the memos' own entries;
- the other sources and the rest of the poller.

VmRSS says what is resident: after the imports and the poller's creation (the interpreter's
baseline) and after the polls; what the structures do not account for is the allocators' (free
memory kept, headers).  With ``--trace``, ``tracemalloc`` (which itself takes memory, so the RSS
figures of that run are not the daemon's) adds the lines that allocated most of what is kept.

    .venv/bin/python -m bench.memwhere --sizes 1000x10
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any, Iterable

from bench.genconfig import haproxy_config
from bench.pollcpu import variants
from bench.procs import RESULTS, command_line, start_haproxy, wait_until, write_results
from exporter.config import build_config
from exporter.poll.poller import Poller
from exporter.poll.process import make_client
from exporter.poll.snapshot import Store
from exporter.runtime.answer import Text
from exporter.runtime.client import Budget
from testkit.procs import free_port

MIB = 1 << 20


def rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise KeyError("VmRSS")


def deep(roots: Iterable[Any], seen: set[int]) -> int:
    """Bytes of every object reachable from ``roots`` not in ``seen`` (which it then joins)."""
    size, stack = 0, list(roots)
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, type) or type(obj).__name__ in ("module", "function", "code"):
            continue
        seen.add(id(obj))
        size += sys.getsizeof(obj)
        stack.extend(gc.get_referents(obj))
    return size


def where(poller: Poller, store: Store) -> dict[str, float]:
    target = next(iter(poller.targets.values()))
    stat = next(s for s in target._process.sources if s.name == "stat")
    reuse = stat.reuse  # type: ignore[attr-defined]
    published = store.published
    page = published.page if published is not None else None
    if page is None:
        raise RuntimeError("no page published: the poll failed")
    seen: set[int] = {id(poller), id(target), id(stat), id(store)}
    parts = {
        "page: pieces' text": deep([p.text for p in page.pieces], seen),
        "page: compressed blocks": deep([page.deflated], seen),
        "page: the rest (pieces, offsets)": deep([page], seen),
        "renderer's memo (pieces by family)": deep([target._rendered], seen),
        "compressor's memo (blocks by piece)": deep([target._blocks], seen),
        "show stat: kept columns (cells)": deep(reuse.columns(), seen),
        "show stat: rows' label sets": deep([reuse.rows], seen),
        "show stat: families (value and label columns)": deep([reuse.families], seen),
        "show stat: other kept objects": deep([reuse.objects, reuse], seen),
        "other sources": deep([s for s in target._process.sources if s is not stat], seen),
        "the rest of the poller and store": deep([target, poller, store], seen),
    }
    return {name: round(size / MIB, 1) for name, size in parts.items()}


def run_size(backends: int, servers: int, polls: int, workdir: Path) -> dict[str, Any]:
    sock = str(workdir / "admin.sock")
    hap = start_haproxy(workdir, haproxy_config(backends, servers, sock, free_port(), free_port()))
    try:
        wait_until(lambda: hap.alive() and Path(sock).exists(), 120, "HAProxy")
        time.sleep(1)
        config = build_config({"haproxy": {"address": sock, "timeout": "120s"}})
        real = make_client(config.poll_targets()[0]).run
        stat = str(real("show stat"))
        made = [0]

        class Moving:
            """The target's client: the real answers, but show stat a changed copy made when asked
            (no copy waits in memory)."""

            def run(self, command: str, budget: Budget | None = None) -> Text:
                answer = real(command)
                if command != "show stat":
                    return answer
                made[0] += 1
                return variants(stat, 0.01, made[0])[-1]

        store = Store(config.poll.max_age)
        poller = Poller(config, store, connect=lambda target: Moving())
        gc.collect()
        out: dict[str, Any] = {"size": f"{backends}x{servers}", "polls": polls,
                               "baseline_rss_mib": round(rss() / MIB, 1)}
        before = tracemalloc.take_snapshot() if tracemalloc.is_tracing() else None

        def run() -> None:
            for _ in range(polls):
                if not poller.poll_once():
                    raise RuntimeError("poll failed")

        thread = threading.Thread(target=run)
        thread.start()
        thread.join()
        gc.collect()
        out["rss_mib"] = round(rss() / MIB, 1)
        out["page_mib"] = round(store.published.page.size / MIB, 1)  # type: ignore[union-attr]
        out["structures_mib"] = where(poller, store)
        out["structures_total_mib"] = round(sum(out["structures_mib"].values()), 1)
        if before is not None:
            lines = tracemalloc.take_snapshot().compare_to(before, "lineno")
            out["top_lines_mib"] = [(str(stat.traceback), round(stat.size_diff / MIB, 2)) for stat in lines[:12]]
        return out
    finally:
        hap.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memwhere", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000x10")
    parser.add_argument("--polls", type=int, default=6)
    parser.add_argument("--trace", action="store_true", help="tracemalloc's lines too (its RSS is then not the daemon's)")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    if args.trace:
        tracemalloc.start()
    results: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                               "command": command_line("memwhere", argv), "sizes": []}
    with tempfile.TemporaryDirectory(prefix="hrxwhere") as tmp:
        workdir = Path(tmp)
        for size in args.sizes.split(","):
            b, _, s = size.lower().partition("x")
            found = run_size(int(b), int(s), args.polls, workdir)
            results["sizes"].append(found)
            for key, value in found.items():
                if key == "top_lines_mib":
                    for line, mib in value:
                        print(f"  {mib:7.2f} MiB  {line}")
                elif key == "structures_mib":
                    for name, mib in value.items():
                        print(f"  {mib:7.1f} MiB  {name}")
                else:
                    print(f"{key}: {value}")
    write_results(results, args.out, "memwhere")
    return 0


if __name__ == "__main__":
    sys.exit(main())
