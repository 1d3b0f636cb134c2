"""Lines per second of the log-format parser (exporter/sources/logs/format.py) on real lines.

Reads the captures of every HAProxy version in tests/fixtures/logs/ (each format's lines, as the
``rfc3164`` ring held them), repeats them to ``--lines`` per format and parses them with the
compiled format, header included, on one core: the best of ``--rounds`` rounds.  Also the
cost of a line that does not match (the reason path) and of ``parse_bytes`` (decode + parse).
The goal of the logs issue is 100k lines/s on 2 cores; this is the parser alone, no reading.

    .venv/bin/python -m bench.logparse [--lines 100000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path
from typing import Callable

from exporter.sources.logs.format import LineParser, builtin, compile_format

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "logs"
FORMATS = ("httplog", "httpslog", "httplog-clf", "tcplog", "tcplog-clf", "custom")


def parser_for(version_dir: Path, name: str) -> LineParser:
    if name == "custom":
        found = re.search(r'log-format "(.*)"', (version_dir / "haproxy.cfg").read_text())
        assert found is not None, "the capture's configuration has its custom log-format"
        return compile_format(found.group(1), "rfc3164")
    return builtin(name.replace("-", " "), "rfc3164")


def best(rounds: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.logparse", description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=100_000, help="lines parsed per format and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the best one counts")
    args = parser.parse_args(argv)
    versions = sorted(d for d in FIXTURES.iterdir() if d.is_dir())
    print(f"{'format':<12} {'lines/s':>10} {'us/line':>8}  (HAProxy {', '.join(d.name for d in versions)})")
    for name in FORMATS:
        pairs = [(parser_for(d, name), (d / f"{name}.log").read_text().splitlines())
                 for d in versions if (d / f"{name}.log").exists()]
        if not pairs:
            continue
        per = max(1, args.lines // sum(len(lines) for _, lines in pairs))
        work = [(p, lines * per) for p, lines in pairs]
        count = sum(len(lines) for _, lines in work)
        for p, lines in work:
            bad = [line for line in lines if isinstance(p.parse(line), str)]
            assert not bad, f"{name}: {bad[0]!r} does not parse"

        def run(work: list[tuple[LineParser, list[str]]] = work) -> None:
            for p, lines in work:
                parse = p.parse
                for line in lines:
                    parse(line)

        took = best(args.rounds, run)
        print(f"{name:<12} {count / took:>10,.0f} {took / count * 1e6:>8.2f}")
    httplog = builtin("httplog", "rfc3164", maxlen=2048)
    sample = (versions[0] / "httplog.log").read_text().splitlines()
    junk = [line.replace(" 200 ", " xx ") for line in sample] * max(1, args.lines // 10 // len(sample))
    took = best(args.rounds, lambda: [httplog.parse(line) for line in junk])
    print(f"{'(no match)':<12} {len(junk) / took:>10,.0f} {took / len(junk) * 1e6:>8.2f}")
    raw = [line.encode() for line in sample] * max(1, args.lines // len(sample))
    took = best(args.rounds, lambda: [httplog.parse_bytes(line) for line in raw])
    print(f"{'(bytes)':<12} {len(raw) / took:>10,.0f} {took / len(raw) * 1e6:>8.2f}")


if __name__ == "__main__":
    main()
