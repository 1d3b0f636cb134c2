"""Cost of the maps/ACLs and errors sources on one real HAProxy at a realistic size.

Starts HAProxy (loopback and a UNIX socket only) with ``--maps`` map files holding ``--entries``
entries in total (each used by a ``map()`` converter), ``--acls`` ACL files of 1,000 entries and
``--proxies`` frontends, each of which is sent one malformed request carrying ``--error-bytes`` of
headers, so ``show errors`` has one capture per frontend.  Then, median of ``--polls`` runs:

* ``maps``:   the maps source alone as the poller runs it (``show map`` + ``show acl``: fetch,
  parse, build, render), CPU and wall seconds added to a poll;
* ``stream``: what counting by dumping every list would cost instead (``show map #<id>`` for each
  map, lines counted), the alternative when a listing has no ``entry_cnt``;
* ``errors``: the errors source alone (``show errors``: fetch, parse, build, render);
* ``poll``:   a whole poll cycle with errors on, and ``haproxy_exporter_source_duration_seconds``
  of each new source as the exporter reports it.

HAProxy's own CPU per run is read from /proc (10 ms ticks, so a mean over the runs).

    .venv/bin/python -m bench.maps_errors_bench [--maps 100] [--entries 100000] [--proxies 100]
        [--haproxy /usr/sbin/haproxy]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from bench.procs import start_haproxy, wait_until
from exporter.config import build_config
from exporter.exposition.render import render_bytes
from exporter.poll.poller import Poller
from exporter.poll.process import make_client
from exporter.poll.snapshot import Store
from exporter.runtime.answer import Text
from exporter.sources.base import Command, Source
from exporter.sources.errors.config import ErrorsConfig
from exporter.sources.errors.source import ErrorsSource
from exporter.sources.maps.source import MapsSource
from exporter.sources.values import ModelStats
from testkit.configs import admin_http_head
from testkit.procs import free_ports, haproxy_binary
from testkit.runtime import raw_command


def config(tmp: Path, maps: int, entries: int, acls: int, ports: list[int], maps_port: int) -> str:
    """The HAProxy config, writing the map and ACL files it uses."""
    per_map = entries // maps
    lines = [admin_http_head(str(tmp / "admin.sock"), "stats timeout 60s")]
    for n, port in enumerate(ports):
        lines.append(f"frontend fe{n}\n    bind 127.0.0.1:{port}\n    http-request return status 200")
    lines.append(f"frontend fe_maps\n    bind 127.0.0.1:{maps_port}")
    for m in range(maps):
        path = tmp / f"m{m}.map"
        path.write_text("".join(f"host{m}-{i}.example.com be_{i % 50}\n" for i in range(per_map)))
        lines.append(f"    http-request set-var(txn.m{m}) req.hdr(host),lower,map({path},none)")
    for a in range(acls):
        path = tmp / f"a{a}.acl"
        path.write_text("".join(f"10.{a}.{i // 256}.{i % 256}\n" for i in range(1000)))
        lines.append(f"    acl blocked{a} src -f {path}\n    http-request deny if blocked{a}")
    lines.append("    http-request return status 200")
    return "\n".join(lines) + "\n"


def provoke(port: int, size: int) -> None:
    """One malformed request of about ``size`` bytes of headers (a bad header line at the end)."""
    filler = "".join(f"X-Filler-{i}: {'v' * 60}\r\n" for i in range(max(size // 76, 1)))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"GET / HTTP/1.1\r\nHost: x\r\n{filler}Bad Header\r\n\r\n".encode())
        try:
            s.recv(65536)
        except OSError:
            pass


def source_cost(source: Source, run: Callable[[str], Text]) -> dict[str, float]:
    """One poll's worth of the source: its commands fetched and parsed, families built, rendered."""
    def ask(command: Command) -> Any:
        return command.parse(run(command.text))
    cpu0, wall0 = time.process_time(), time.perf_counter()
    got, ok = source.read(ask)
    assert ok, f"{source.name}: a command failed"
    families = source.build(got, ModelStats())
    text = render_bytes(families)
    return {"cpu": time.process_time() - cpu0, "wall": time.perf_counter() - wall0,
            "samples": sum(len(f.values) for f in families), "bytes": len(text)}


def stream_cost(run: Callable[[str], str]) -> dict[str, float]:
    """Counting every map by dumping it: ``show map #<id>`` per map, entry lines counted."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    ids = [line.split()[0] for line in run("show map").split("\n")[1:] if line]
    total = size = 0
    for map_id in ids:
        text = run(f"show map #{map_id}")
        size += len(text)
        total += text.count("\n0x") + text.startswith("0x")
    return {"cpu": time.process_time() - cpu0, "wall": time.perf_counter() - wall0, "samples": total,
            "bytes": size}


def median(rows: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in rows) for k in rows[0]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.maps_errors_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--maps", type=int, default=100)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--acls", type=int, default=10)
    parser.add_argument("--proxies", type=int, default=100)
    parser.add_argument("--error-bytes", type=int, default=8000)
    parser.add_argument("--polls", type=int, default=20)
    parser.add_argument("--haproxy", default=haproxy_binary())
    args = parser.parse_args(argv)
    if not (1 <= args.maps <= 10_000 and 0 <= args.proxies <= 1000 and args.entries <= 10_000_000):
        raise SystemExit("keep it bounded: at most 10,000 maps, 1,000 proxies, 10,000,000 entries")
    with tempfile.TemporaryDirectory(prefix="mpb") as name:
        tmp = Path(name)
        sock = str(tmp / "admin.sock")
        ports = free_ports(args.proxies + 1)
        proc = start_haproxy(tmp, config(tmp, args.maps, args.entries, args.acls, ports[:-1], ports[-1]),
                             binary=args.haproxy)
        try:
            wait_until(lambda: Path(sock).exists(), 30, "HAProxy", step=0.05)
            for port in ports[:-1]:
                provoke(port, args.error_bytes)
            version = raw_command(sock, "show info", 60).split("Version: ")[1].split("\n")[0]
            target = build_config({"haproxy": {"address": sock, "timeout": "60s",
                                               "max_response_bytes": 1 << 30}}).poll_targets()[0]
            client = make_client(target)
            # the stream case sends show map #<id>, which no source declares: a plain socket here
            errors_size = len(raw_command(sock, "show errors", 60))
            print(f"haproxy {version}; {args.maps} maps, {args.entries} entries in total, {args.acls} ACL files "
                  f"of 1000; {args.proxies} frontends with a captured error; show errors {errors_size / 1e6:.2f} MB")
            cases: dict[str, Callable[[], dict[str, float]]] = {
                "maps": lambda: source_cost(MapsSource(), client.run),
                "stream": lambda: stream_cost(lambda c: raw_command(sock, c, 60)),
                "errors": lambda: source_cost(ErrorsSource(ErrorsConfig(True)), client.run),
            }
            print(f"median of {args.polls} runs (seconds in this process; samples and bytes of what it exports, "
                  f"for stream the entries counted and bytes read)")
            print(f"{'case':8} {'cpu':>9} {'wall':>9} {'samples':>9} {'bytes':>10} {'haproxy cpu':>12}")
            for case, run in cases.items():
                before = proc.cpu_seconds()
                r = median([run() for _ in range(args.polls)])
                spent = (proc.cpu_seconds() - before) / args.polls  # 10 ms ticks: a mean, coarse
                print(f"{case:8} {r['cpu']:9.4f} {r['wall']:9.4f} {int(r['samples']):9} {int(r['bytes']):10} "
                      f"{spent:12.3f}")
            config_on = build_config({"haproxy": {"address": sock, "timeout": "60s", "max_response_bytes": 1 << 30},
                                      "errors": {"enabled": True}})
            poller = Poller(config_on, Store(3600))
            rows = []
            for _ in range(args.polls):
                cpu0, wall0 = time.process_time(), time.perf_counter()
                assert poller.poll_once(), "poll failed"
                state = poller.targets[""].state
                rows.append({"cpu": time.process_time() - cpu0, "wall": time.perf_counter() - wall0,
                             "maps": state.source_seconds.get("maps", 0.0),
                             "errors": state.source_seconds.get("errors", 0.0)})
            r = median(rows)
            print(f"whole poll with errors on: cpu {r['cpu']:.4f} wall {r['wall']:.4f}; "
                  f"source_duration_seconds maps {r['maps']:.4f} errors {r['errors']:.4f}")
        finally:
            proc.stop()


if __name__ == "__main__":
    main()
