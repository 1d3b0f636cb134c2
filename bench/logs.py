"""Log lines into metrics, side by side in one run: the exporter's log source against Debian's mtail
(issue 22), on loopback, every wait bounded.

1. **CPU per million lines.**  The same pre-made ``httplog`` lines (frontends, backends and servers
   that exist in HAProxy's config, so the exporter exports them; timers from 0 to 2000 ms; codes
   200/301/404/500/503; termination states ``----``, ``CD--``, ``sH--``, ``SC--``) go

   * as syslog frames into HAProxy's ``log-forward`` TCP bind (octet counting), which writes them
     into a ring that the exporter reads with ``show events <ring> -w -n`` (its ``logs:`` section);
   * into mtail through a named pipe, as sites run it (a syslog daemon holding the pipe open),
     and, for reference, through a file that mtail tails.

   mtail runs two programs, one after the other, on the same lines: ``light``, which does less
   than the exporter (a histogram of the active time, ``%Ta``, per backend with the exporter's
   buckets, and a counter of responses by backend and code), and ``equivalent``, which counts what
   the exporter counts (the same families, labels and buckets: :data:`MTAIL_PROGRAMS`).  Each
   process's CPU (utime + stime of ``/proc/<pid>/stat``) before and after, per million lines; the
   exporter's with its child processes' (the ring's reader, ``python -m exporter.sources.logs.child``,
   whose CPU is in none of the exporter's figures while it runs; one that died and was restarted
   during the run is counted once the exporter reaped it, and the change of pid is reported).
   Checked: the lines that reached the ring (a raw ``show events`` reader of this script's own)
   against the delta of the exporter's ``haproxy_exporter_log_lines_read_total``, mtail's
   counter total against the lines sent, and every sample of the exporter's log families against
   the equivalent program's (all of them equal, buckets too, when every line was read by both).
   With ``--turns N`` the comparison runs N times, each turn the exporter's run then mtail's
   (HAProxy and the exporter stay up, idle, while mtail runs): the ratio turn by turn, its median,
   range and pooled value, as a shared machine's pace moves from one minute to the next.
2. **Sustained rate.**  ``--rate`` lines/s for ``--seconds`` into the ring: the events it dropped
   and the exporter's lines read against the lines sent.
3. **Polling at scale with logs flowing.**  At ``--big`` (1000 backends x 10 servers: bench/genconfig.py
   plus the ring), the exporter's polls (each poll is a thread of its own: CPU and lifetime from
   ``/proc/<pid>/task``) and its ``/metrics`` latency (plain and gzip, bench/scale.py's series),
   in one exporter: before any line, with ``--big-rate`` lines/s flowing, and after them (the log
   series stay: what the extra series cost, apart from the lines' share of the interpreter).

The ring's losses are counted as HAProxy tells them: "N events dropped" written into the ring once
it can (``show events``' listing holds only what is not announced yet).  mtail 3.0.0-rc50
(Debian 12) reads a named pipe 4 KiB per ``--poll_interval`` tick, 250 ms by default: about 85
lines/s of these (189 bytes); its file reader reads to the end at each tick.  Go 1.19's timers tick no faster
than about 1 ms here, so the pipe is read with ``--mtail-poll-interval 1ms`` (~18k lines/s) and mtail
sets the pace of that run; a writer that lets mtail see it go (closing the pipe) loses lines, so
the pipe is held open throughout, as a syslog daemon holds it.  Figures are reported, not
asserted: the exit status is non-zero only when the run itself fails.

    .venv/bin/python -m bench.logs                                  # the full run, ~5 minutes
    .venv/bin/python -m bench.logs --parts cpu --turns 5 --mtail-programs equivalent   # ~10 minutes
    .venv/bin/python -m bench.logs --lines 100000 --seconds 5 --big 100x10 --repeat 5   # a short one
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import select
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from bench import client
from bench.environment import machine, versions
from bench.genconfig import haproxy_config
from bench.logstream import GLOBAL, POOL, RingReader, dropped, frame, pace, ring_sections, send
from bench.procs import RESULTS, ROOT, Child, TreeCpu, command_line, cpu_of, descendants, start_haproxy, wait_until, write_results
from bench.scale import p95, parse_size, series, spacing_for, start_ours
from exporter.sources.logs.format import builtin
from testkit.procs import free_port, free_ports, haproxy_binary, require
from testkit.runtime import raw_bytes

# The log source's default buckets (seconds), given to both so that both histograms are the same.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
RING = "logs"
# The syslog header as a syslog daemon writes it into a file or a pipe; the ring's rfc3164 lines
# start with the priority before it (local0.info), as log-forward passes the frames on.
HEADER = "Dec  5 03:45:26 localhost haproxy[1234]: "
PRI = "<134>"
# mtail's programs.  "light": less than the exporter counts (one histogram per backend, one counter),
# as first measured.  "equivalent": what the exporter's log source counts from these lines with
# this script's config (logs: {ring, format: httplog, ring_format: rfc3164, buckets}, servers off;
# exporter/sources/logs/tally.py, naming.py), the same families, labels and buckets: five
# histograms per backend (%Ta, %Tr, %Tw, %Tc, %TR; -1 is not observed), responses by exact code
# (100 to 599) and terminations by the state's first two characters (each a character HAProxy
# writes there), per frontend and per backend, retries (%rc) and redispatches (%rc with a "+") per
# backend.  What mtail cannot do is keep to the names show stat lists (the exporter counts no
# other): all the names in these lines exist.  mtail 3.0.0-rc50's buckets are (low, high] from the
# first bound given, which is not exported as an "le": from 0, a time of 0 ms would fall into no
# bucket (not even +Inf, whose count would then be less than _count), so they start at -1.  The
# backend's response counter comes last: once it counted every line, every line was done.
MTAIL_PROGRAMS = {
    "light": r"""histogram haproxy_backend_log_total_time_seconds by proxy buckets {buckets}
counter haproxy_backend_log_http_responses_total by proxy, code

# option httplog behind a syslog header: %ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST ...
/^\w{{3}} [ \d]\d \d\d:\d\d:\d\d \S+ \S+: / +
/\S+:\d+ \[\S+\] \S+ (?P<backend>[^ \/]+)\/\S+ / +
/-?\d+\/-?\d+\/-?\d+\/-?\d+\/\+?(?P<ta>-?\d+) (?P<code>\d{{3}}) / {{
  haproxy_backend_log_http_responses_total[$backend][$code]++
  $ta >= 0 {{
    haproxy_backend_log_total_time_seconds[$backend] = $ta / 1000.0
  }}
}}
""",
    "equivalent": r"""histogram haproxy_backend_log_total_time_seconds by proxy buckets -1, {buckets}
histogram haproxy_backend_log_response_time_seconds by proxy buckets -1, {buckets}
histogram haproxy_backend_log_queue_time_seconds by proxy buckets -1, {buckets}
histogram haproxy_backend_log_connect_time_seconds by proxy buckets -1, {buckets}
histogram haproxy_backend_log_request_time_seconds by proxy buckets -1, {buckets}
counter haproxy_frontend_log_http_responses_total by proxy, code
counter haproxy_backend_log_http_responses_total by proxy, code
counter haproxy_frontend_log_terminations_total by proxy, state
counter haproxy_backend_log_terminations_total by proxy, state
counter haproxy_backend_log_retries_total by proxy
counter haproxy_backend_log_redispatches_total by proxy

# option httplog behind a syslog header: %ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS
# %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq ...; %ft ends with "~" on a TLS bind: not part of the name.
/^\w{{3}} [ \d]\d \d\d:\d\d:\d\d \S+ \S+: / +
/\S+:\d+ \[\S+\] (?P<frontend>[^ ~]+)~? (?P<backend>[^ \/]+)\/\S+ / +
/(?P<treq>-?\d+)\/(?P<tw>-?\d+)\/(?P<tc>-?\d+)\/(?P<tr>-?\d+)\/\+?(?P<ta>-?\d+) (?P<code>-?\d+) \S+ \S+ \S+ / +
/(?:(?P<state>[-CSPLRIKUDcs][-RQCHDLT])|\S\S)\S\S \d+\/\d+\/\d+\/\d+\/(?P<redispatched>\+?)(?P<retries>-?\d+) / {{
  $ta >= 0 {{
    haproxy_backend_log_total_time_seconds[$backend] = $ta / 1000.0
  }}
  $tr >= 0 {{
    haproxy_backend_log_response_time_seconds[$backend] = $tr / 1000.0
  }}
  $tw >= 0 {{
    haproxy_backend_log_queue_time_seconds[$backend] = $tw / 1000.0
  }}
  $tc >= 0 {{
    haproxy_backend_log_connect_time_seconds[$backend] = $tc / 1000.0
  }}
  $treq >= 0 {{
    haproxy_backend_log_request_time_seconds[$backend] = $treq / 1000.0
  }}
  $state != "" {{
    haproxy_frontend_log_terminations_total[$frontend][$state]++
    haproxy_backend_log_terminations_total[$backend][$state]++
  }}
  $retries > 0 {{
    haproxy_backend_log_retries_total[$backend] += $retries
  }}
  $redispatched == "+" {{
    haproxy_backend_log_redispatches_total[$backend]++
  }}
  $code >= 100 && $code <= 599 {{
    haproxy_frontend_log_http_responses_total[$frontend][$code]++
    haproxy_backend_log_http_responses_total[$backend][$code]++
  }}
}}
""",
}


def mtail_program(name: str) -> str:
    """One of :data:`MTAIL_PROGRAMS` with :data:`BUCKETS` in it."""
    return MTAIL_PROGRAMS[name].format(buckets=", ".join(f"{b:g}" for b in BUCKETS))


_SHARED = Path(os.environ.get("HAPROXY_SHARED", ROOT.parent / "shared" / "haproxy"))
_OWN = re.compile(rb"\n(haproxy_exporter_(?:log_\w+|polls_total)(?:\{[^}\n]*\})?) (\S+)")
_MTAIL = re.compile(rb"\n(mtail_lines_total|haproxy_backend_log_http_responses_total)(?:\{[^}\n]*\})? (\S+)")


# ---------------------------------------------------------------------------------------------
# Lines


@dataclass(frozen=True)
class Route:
    """Where a request went: a frontend, one of its backends, and that backend's servers."""

    frontend: str
    backend: str
    servers: tuple[str, ...]


def _servers(prefix: str, count: int) -> tuple[str, ...]:
    return tuple(f"{prefix}{n}" for n in range(1, count + 1))


SMALL = (
    Route("fe_web", "be_app", _servers("app", 4)),
    Route("fe_web", "be_static", _servers("static", 2)),
    Route("fe_web", "be_search", _servers("search", 3)),
    Route("fe_web", "be_auth", _servers("auth", 2)),
    Route("fe_api", "be_api", _servers("api", 4)),
    Route("fe_api", "be_auth", _servers("auth", 2)),
    Route("fe_admin", "be_app", _servers("app", 4)),
)
STATES = ("----", "CD--", "sH--", "SC--")
STATE_WEIGHTS = (90, 4, 3, 3)
PATHS = ("/", "/login", "/api/v1/items/{n}", "/api/v1/users/{n}/orders", "/static/app.{n}.js", "/search?q={n}")


def big_routes(backends: int, servers: int) -> tuple[Route, ...]:
    """bench/genconfig.py's names: one frontend, ``be_<b>`` with servers ``s<n>``."""
    return tuple(Route("fe_promex", f"be_{b}", tuple(f"s{s}" for s in range(servers))) for b in range(backends))


def _active_time(rng: random.Random) -> int:
    """0 to 2000 ms, as many below 10 ms as between 200 ms and 2 s (log-uniform)."""
    return int(math.exp(rng.uniform(0, math.log(2001)))) - 1


def message(rng: random.Random, n: int, route: Route) -> str:
    """One ``option httplog`` message (no syslog header) as HAProxy writes it."""
    state = rng.choices(STATES, STATE_WEIGHTS)[0]
    server = rng.choice(route.servers)
    th, tw, tc = rng.choice((0, 0, 0, 1, 2, 5)), (0 if rng.random() < 0.95 else rng.randint(1, 50)), rng.randint(0, 3)
    ta = _active_time(rng)
    retries = "0" if rng.random() < 0.98 else rng.choice(("1", "2", "+1"))
    if state in ("----", "CD--"):
        code = 200 if state == "CD--" else rng.choices((200, 301, 404, 500), (80, 8, 8, 4))[0]
        tr = max(0, ta - th - tw - tc - rng.randint(0, 20))
        ta = max(ta, th + tw + tc + tr)
    elif state == "sH--":  # the server sent no headers in time
        code, tr, ta = 503, -1, max(ta, 1000)
    elif rng.random() < 0.3:  # SC--: no server available
        code, server, tw, tc, tr, ta = 503, "<NOSRV>", -1, -1, -1, min(ta, 5)
    else:  # SC--: the server refused the connection
        code, tc, tr, retries = 503, -1, -1, "3"
    size = {200: rng.randint(200, 60000), 301: rng.randint(100, 250), 404: rng.randint(150, 400)}.get(code, 200)
    ac = rng.randint(1, 500)
    fc = rng.randint(1, ac)
    bc = rng.randint(0, fc)
    sc = rng.randint(0, bc)
    method = rng.choices(("GET", "POST", "HEAD"), (85, 12, 3))[0]
    path = rng.choice(PATHS).format(n=rng.randint(1, 99999))
    return (f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}:{rng.randint(1024, 65535)} "
            f"[05/Dec/2026:03:{45 + n // 60000 % 15:02d}:{n // 1000 % 60:02d}.{n % 1000:03d}] "
            f"{route.frontend} {route.backend}/{server} {th}/{tw}/{tc}/{tr}/{ta} {code} {size} - - {state} "
            f"{ac}/{fc}/{bc}/{sc}/{retries} 0/0 \"{method} {path} HTTP/1.1\"")


def messages(count: int, routes: Sequence[Route], seed: int = 22) -> list[str]:
    """``count`` messages, the same ones for the same arguments; a sample of them is checked
    against the exporter's own ``httplog`` parser (a line it cannot read would measure nothing)."""
    rng = random.Random(seed)
    out = [message(rng, n, routes[rng.randrange(len(routes))]) for n in range(count)]
    parser = builtin("httplog", "rfc3164", maxlen=2048)
    for text in out[:: max(1, count // 1000)]:
        why = parser.parse(PRI + HEADER + text)
        if isinstance(why, str):
            raise RuntimeError(f"a generated line does not parse ({why}): {text!r}")
    return out


def ring_frames(texts: Sequence[str]) -> list[bytes]:
    """Octet-counted syslog frames for log-forward."""
    return [frame((PRI + HEADER + text).encode()) for text in texts]


def file_lines(texts: Sequence[str]) -> list[bytes]:
    """The same lines as a syslog daemon writes them into a file or a pipe for mtail."""
    return [(HEADER + text + "\n").encode() for text in texts]


# ---------------------------------------------------------------------------------------------
# HAProxy and the exporter


def small_config(sock: str, port: int, ring_size: int, ring_format: str) -> str:
    """The frontends and backends of :data:`SMALL` (servers on an unused port, no checks: nothing
    is ever connected to), the ring and the log-forward that feeds it."""
    frontends = list(dict.fromkeys(r.frontend for r in SMALL))
    backends = {r.backend: r.servers for r in SMALL}
    *ports, server_port = free_ports(len(frontends) + 1)
    # stats timeout: HAProxy 2.6 ends a `show events -w` stream idle for that long (10 s by default),
    # and the raw reader's stream (RingReader) must outlive the mtail runs between two turns.
    lines = [GLOBAL.format(sock=sock).rstrip("\n"), "    stats timeout 10m", "    maxconn 2000", "", "defaults",
             "    mode http",
             "    timeout connect 2s", "    timeout client 60s", "    timeout server 60s", ""]
    for name, fe_port in zip(frontends, ports):
        first = next(r.backend for r in SMALL if r.frontend == name)
        lines += [f"frontend {name}", f"    bind 127.0.0.1:{fe_port}", f"    default_backend {first}", ""]
    for name, servers in backends.items():
        lines += [f"backend {name}", *(f"    server {s} 127.0.0.1:{server_port}" for s in servers), ""]
    return "\n".join(lines) + "\n" + ring_sections(port, ring_size, RING, ring_format)


def big_config(backends: int, servers: int, sock: str, port: int, ring_size: int, ring_format: str) -> str:
    return (haproxy_config(backends, servers, sock, free_port(), free_port()) + "\n\n"
            + ring_sections(port, ring_size, RING, ring_format))


def log_source_registered() -> bool:
    """Whether this checkout's exporter has a log source (a ``logs:`` config section)."""
    from exporter.sources import registry
    return "logs" in registry.config_sections()


def exporter_config(workdir: Path, ring_format: str) -> Path:
    """The exporter's config file: its ``logs:`` section (JSON is YAML)."""
    path = workdir / "exporter.yaml"
    logs = {"ring": RING, "format": "httplog", "ring_format": ring_format, "maxlen": 2048, "buckets": list(BUCKETS)}
    path.write_text(json.dumps({"logs": logs}, indent=2) + "\n")
    return path


def start_exporter(sock: str, interval: int, workdir: Path, ring_format: str, logs: bool) -> tuple[Child, int]:
    extra = ["--config.file", str(exporter_config(workdir, ring_format))] if logs else []
    return start_ours(sock, interval, workdir, extra=extra)


def exporter_page(port: int, buf: bytearray) -> tuple[client.Scrape, bytes]:
    """The exporter's /metrics (plain): the scrape and the page."""
    scraped = client.scrape(port, False, keep=True, buffer=buf)
    status, _, body = client.decode(scraped.raw or b"")
    if status != 200:
        raise RuntimeError(f"exporter: /metrics answered {status}")
    return scraped, body


def own(port: int, buf: bytearray, page: dict[str, int] | None = None) -> dict[str, float]:
    """The exporter's log pipeline counters and polls_total, each series by its name and labels;
    the page's size into ``page`` if given (bytes on the wire, plain, and samples)."""
    scraped, body = exporter_page(port, buf)
    if page is not None:
        page.update(wire_bytes=scraped.wire_bytes, samples=body.count(b"\n") - body.count(b"\n#") - body.startswith(b"#"))
    return {m.group(1).decode(): float(m.group(2)) for m in _OWN.finditer(body)}


def total(figures: dict[str, float], family: str) -> float:
    return sum(v for k, v in figures.items() if k == family or k.startswith(family + "{"))


def by_reason(before: dict[str, float], after: dict[str, float], family: str) -> dict[str, float]:
    """The delta of each series of ``family`` that moved."""
    return {k[len(family):] or "total": after[k] - before.get(k, 0.0) for k in after
            if (k == family or k.startswith(family + "{")) and after[k] != before.get(k, 0.0)}


LINES_READ = "haproxy_exporter_log_lines_read_total"
RING_DROPPED = "haproxy_exporter_log_ring_dropped_total"


def wait_lines(port: int, buf: bytearray, start: float, target: int, timeout: float, step: float = 0.25) -> float:
    """Wait until the exporter's lines read moved ``target`` past ``start`` (or stopped moving for
    5 s, or ``timeout``); the delta then."""
    deadline = time.monotonic() + timeout
    last, moved = -1.0, time.monotonic()
    while True:
        got = total(own(port, buf), LINES_READ) - start
        now = time.monotonic()
        if got != last:
            last, moved = got, now
        if got >= target or now - moved > 5 or now > deadline:
            return got
        time.sleep(step)


def resolve_haproxy(text: str) -> str:
    """``--haproxy``: empty for Debian's, a version (3.2, 3.4) for $HAPROXY_SHARED/<v>.0/haproxy, or a path."""
    if not text:
        return require(haproxy_binary(), "haproxy")
    if re.fullmatch(r"\d+\.\d+", text):
        path = _SHARED / f"{text}.0" / "haproxy"
        if not path.exists():
            raise SystemExit(f"HAProxy {text}: {path} not found (set HAPROXY_SHARED)")
        return str(path)
    return text


# ---------------------------------------------------------------------------------------------
# The same counts?

Families = dict[tuple[str, tuple[tuple[str, str], ...]], float]  # (name, labels) → value
_LOG_SAMPLE = re.compile(rb"^(haproxy_(?:frontend|backend|server)_log_\w+)(?:\{([^}\n]*)\})? (\S+)$", re.M)
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
_HISTOGRAM_PARTS = re.compile(r"_(?:bucket|sum|count)\Z")


def log_series(body: bytes) -> Families:
    """The samples of the log families of a /metrics page, the exporter's or mtail's, by name and
    labels: mtail's ``prog`` label left out, each ``le`` as a number (0.001 and 1e-3 alike)."""
    out: Families = {}
    for m in _LOG_SAMPLE.finditer(body):
        labels = [(k, repr(float(v)) if k == "le" else v) for k, v in _LABEL.findall((m.group(2) or b"").decode())
                  if k != "prog"]
        out[(m.group(1).decode(), tuple(sorted(labels)))] = float(m.group(3))
    return out


def _shown(key: tuple[str, tuple[tuple[str, str], ...]]) -> str:
    return key[0] + "{" + ",".join(f"{k}={v}" for k, v in key[1]) + "}"


def equivalence(ours: Families, theirs: Families) -> dict[str, Any]:
    """Every log family's samples, the exporter's against mtail's (equivalent program), equal
    within float rounding (mtail adds seconds, the exporter whole milliseconds); a sample on one
    side only differs.  Named apart: the backends' responses by code, and the total time's
    histogram's _count and _sum per backend."""
    families: dict[str, dict[str, int]] = {}
    differ: list[list[Any]] = []
    for key in sorted(ours.keys() | theirs.keys()):
        row = families.setdefault(_HISTOGRAM_PARTS.sub("", key[0]), {"samples": 0, "equal": 0})
        row["samples"] += 1
        a, b = ours.get(key), theirs.get(key)
        if a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9):
            row["equal"] += 1
        else:
            differ.append([_shown(key), a, b])
    responses: list[list[Any]] = [[dict(labels).get("proxy"), dict(labels).get("code"), value, theirs.get((name, labels))]
                 for (name, labels), value in sorted(ours.items()) if name == "haproxy_backend_log_http_responses_total"]
    timed: dict[str, dict[str, list[float | None]]] = {}
    for part in ("count", "sum"):
        name = f"haproxy_backend_log_total_time_seconds_{part}"
        for (found, labels), value in sorted(ours.items()):
            if found == name:
                timed.setdefault(str(dict(labels).get("proxy")), {})[part] = [value, theirs.get((name, labels))]
    samples = sum(row["samples"] for row in families.values())
    return {"samples": samples, "equal": samples - len(differ), "families": families, "differ": differ[:20],
            "backend_responses": responses,
            "backend_responses_equal": sum(1 for r in responses if r[3] is not None and math.isclose(r[2], r[3])),
            "total_time": timed}


# ---------------------------------------------------------------------------------------------
# mtail


class Mtail:
    """Debian's mtail reading a named pipe (``pipe``) or tailing a file (``file``) with one of the
    programs above.  The pipe is held open for writing from before mtail starts until it stops, as a syslog
    daemon holds it: mtail never sees its writer go (when it does, it closes and reopens the pipe
    every poll tick, and lines written across that are lost)."""

    def __init__(self, workdir: Path, mode: str, poll_interval: str | None, program: str = "light") -> None:
        binary = require(shutil.which("mtail"), "mtail (apt-get install mtail)")
        home = Path(tempfile.mkdtemp(prefix=f"mtail-{mode}-{program}-", dir=workdir))  # one per turn
        progs = home / "progs"
        progs.mkdir()
        (progs / "haproxy.mtail").write_text(mtail_program(program))
        self.path = home / ("pipe" if mode == "pipe" else "haproxy.log")
        if mode == "pipe":
            os.mkfifo(self.path)
            self.fd = os.open(self.path, os.O_RDWR | os.O_NONBLOCK)  # never blocks; a reader of it comes later
        else:
            self.path.touch()
            self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK)
        self.port = free_port()
        argv = [binary, "--progs", str(progs), "--logs", str(self.path), "--address", "127.0.0.1",
                "--port", str(self.port), "--logtostderr"]
        if poll_interval:
            argv += ["--poll_interval", poll_interval]
        self.proc = Child(f"mtail-{mode}", argv, home / "mtail.log")
        try:
            wait_until(lambda: self.proc.alive() and self._reading() and self.counts()[0] == 0, 30, "mtail")
        except BaseException:
            self.stop()
            raise

    def _reading(self) -> bool:
        fds = Path(f"/proc/{self.proc.pid}/fd")
        return any(os.readlink(fds / fd) == str(self.path) for fd in os.listdir(fds))

    def page(self) -> bytes:
        """mtail's /metrics."""
        scraped = client.scrape(self.port, False, keep=True, buffer=bytearray(1 << 20), timeout=10)
        return client.decode(scraped.raw or b"")[2]

    def counts(self) -> tuple[int, int]:
        """Lines mtail read, and the total of its backends' response counter (lines its program
        matched: the last thing either program does with a line)."""
        read = counted = 0.0
        for m in _MTAIL.finditer(self.page()):
            if m.group(1) == b"mtail_lines_total":
                read += float(m.group(2))
            else:
                counted += float(m.group(2))
        return int(read), int(counted)

    def write(self, data: bytes, stall: float = 30.0) -> None:
        """All of ``data``, waiting while the pipe is full (mtail reads it at its own pace), but
        never more than ``stall`` seconds without progress."""
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self.fd, view):]
            except BlockingIOError:
                if not select.select([], [self.fd], [], stall)[1]:
                    raise TimeoutError(f"mtail read nothing of {self.path} for {stall:g}s") from None

    def stop(self) -> None:
        self.proc.stop()
        os.close(self.fd)


def run_mtail(mode: str, program: str, texts: Sequence[bytes], args: argparse.Namespace,
              workdir: Path) -> tuple[dict[str, Any], Families]:
    """mtail with ``program`` on ``args.lines`` lines: its figures, and its log families at the end."""
    m = Mtail(workdir, mode, args.mtail_poll_interval if mode == "pipe" else None, program)
    try:
        idle = m.proc.cpu_seconds()
        time.sleep(2)
        idle = (m.proc.cpu_seconds() - idle) / 2
        cpu, started = m.proc.cpu_seconds(), time.monotonic()
        sent, _ = pace(texts, args.lines, args.cpu_rate, m.write)
        deadline = time.monotonic() + args.timeout
        while m.counts()[0] < sent and time.monotonic() < deadline and m.proc.alive():
            time.sleep(0.25)
        wall = time.monotonic() - started
        cpu = m.proc.cpu_seconds() - cpu
        read, counted = m.counts()
        families = log_series(m.page())
    finally:
        m.stop()
    return {"program": program, "lines_sent": sent, "lines_read": read, "counted": counted, "cpu_seconds": cpu,
            "cpu_per_million": cpu / max(1, read) * 1e6, "idle_cpu_per_second": idle,
            "cpu_per_million_less_idle": (cpu - idle * wall) / max(1, read) * 1e6, "wall_seconds": wall,
            "lines_per_second": read / wall if wall else 0.0,
            "poll_interval": args.mtail_poll_interval if mode == "pipe" else "250ms (default)"}, families


# ---------------------------------------------------------------------------------------------
# Feeding the ring


@dataclass
class Ring:
    """One HAProxy with the ring, the raw reader, and the exporter reading it (if it can)."""

    hap: Child
    sock: str
    port: int
    reader: RingReader
    ours: Child | None = None
    our_port: int = 0
    buf: bytearray = field(default_factory=lambda: bytearray(1 << 20))


def tree_figures(before: TreeCpu, after: TreeCpu) -> dict[str, Any]:
    """The exporter's CPU between two moments: its process and its child processes (the log
    reader's, ``python -m exporter.sources.logs.child``, whose CPU is not in the exporter's own
    ``/proc/<pid>/stat`` while it runs), and whether the reader's pid changed (a reader that died:
    the one that ended is counted once the exporter reaped it, cutime + cstime)."""
    out: dict[str, Any] = {"exporter_cpu_seconds": after.total - before.total,
                           "exporter_process_cpu_seconds": after.own - before.own,
                           "reader_child_cpu_seconds": after.others - before.others,
                           "reader_pids": sorted(after.children)}
    gone, new = before.children.keys() - after.children.keys(), after.children.keys() - before.children.keys()
    if gone or new:
        out["reader_pids_changed"] = {"gone": sorted(gone), "new": sorted(new),
                                      "reaped_cpu_seconds": after.reaped - before.reaped}
    return out


def feed(ring: Ring, frames: Sequence[bytes], lines: int, rate: int, timeout: float) -> dict[str, Any]:
    """``lines`` frames at ``rate`` into the ring; what reached it, what the exporter read and at
    what CPU (its process and its reader's, from before the first line to its last line read)."""
    idle = 0.0
    if ring.ours:  # what it spends with no line coming (its polls of this small HAProxy)
        quiet = ring.ours.tree_cpu()
        time.sleep(2)
        idle = (ring.ours.tree_cpu().total - quiet.total) / 2
    before_ring, before_dropped = ring.reader.lines, ring.reader.dropped
    before_own = own(ring.our_port, ring.buf) if ring.ours else {}
    cpu, hap_cpu = (ring.ours.tree_cpu() if ring.ours else None), ring.hap.cpu_seconds()
    started = time.monotonic()
    sent, seconds = send(ring.port, frames, lines, rate)
    got = ring.reader.wait(before_ring + sent, timeout) - before_ring
    out: dict[str, Any] = {"lines_sent": sent, "send_seconds": seconds, "send_rate": sent / seconds if seconds else 0.0,
                           "ring_got": got}
    if ring.ours and cpu is not None:
        read = wait_lines(ring.our_port, ring.buf, total(before_own, LINES_READ), got, timeout)
        figures = tree_figures(cpu, ring.ours.tree_cpu())
        after = own(ring.our_port, ring.buf)
        out.update(exporter_read=int(read), **figures, exporter_idle_cpu_per_second=idle,
                   exporter_cpu_per_million=figures["exporter_cpu_seconds"] / max(1, read) * 1e6,
                   reader_child_cpu_per_million=figures["reader_child_cpu_seconds"] / max(1, read) * 1e6,
                   exporter_ring_dropped=int(total(after, RING_DROPPED) - total(before_own, RING_DROPPED)),
                   published_after=time.monotonic() - started - seconds,
                   rejected=by_reason(before_own, after, "haproxy_exporter_log_lines_rejected_total"),
                   unexported=by_reason(before_own, after, "haproxy_exporter_log_samples_unexported_total"),
                   stream_failures=by_reason(before_own, after, "haproxy_exporter_log_stream_failures_total"))
    out["haproxy_cpu_seconds"] = ring.hap.cpu_seconds() - hap_cpu
    out["ring_dropped"] = ring.reader.dropped - before_dropped  # as HAProxy's notices in the stream said
    out["ring_dropped_pending"] = dropped(ring.sock, RING)  # not announced yet (show events' listing)
    return out


def run_small(frames: Sequence[bytes], args: argparse.Namespace, workdir: Path, logs: bool,
              kept: dict[str, Families] | None = None,
              between: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Parts 1 (the exporter's side) and 2 on one HAProxy with the frontends and backends of the
    lines; the exporter's log families after part 1's first turn into ``kept["exporter"]`` (all it
    counted: its totals start with it).  Part 1 runs ``args.turns`` times, ``between(turn)`` after
    each (mtail's runs of that turn, while the exporter waits with nothing to read), so that both
    meet the same stretches of a shared machine."""
    sock, port = str(workdir / "operator.sock"), free_port()
    hap = start_haproxy(workdir, small_config(sock, port, args.ring_mib << 20, args.ring_format), binary=args.binary)
    children = [hap]
    out: dict[str, Any] = {}
    try:
        wait_until(lambda: hap.alive() and Path(sock).exists(), 30, "HAProxy")
        ring = Ring(hap, sock, port, RingReader(sock, RING))
        try:
            if logs:
                ring.ours, ring.our_port = start_exporter(sock, args.interval, workdir, args.ring_format, True)
                children.append(ring.ours)
                time.sleep(1)  # the stream is open
            for turn in range(1, args.turns + 1) if "cpu" in args.parts else ():
                print(f"[cpu] turn {turn}: {args.lines:,} lines at {args.cpu_rate:,}/s into the ring ...", flush=True)
                figures = feed(ring, frames, args.lines, args.cpu_rate, args.timeout)
                out.setdefault("cpu_turns", []).append(figures)
                print(f"[cpu] {figures}", flush=True)
                if turn == 1:
                    out["cpu"] = figures
                    if ring.ours and kept is not None:
                        kept["exporter"] = log_series(exporter_page(ring.our_port, ring.buf)[1])
                if between is not None:
                    between(turn)
            if "sustained" in args.parts:
                lines = args.rate * args.seconds
                print(f"[sustained] {lines:,} lines at {args.rate:,}/s ({args.seconds} s) ...", flush=True)
                out["sustained"] = feed(ring, frames, lines, args.rate, args.timeout)
                print(f"[sustained] {out['sustained']}", flush=True)
        finally:
            ring.reader.close()
    finally:
        for child in reversed(children):
            child.stop()
    return out


# ---------------------------------------------------------------------------------------------
# Polling at scale


@dataclass
class Sample:
    at: float
    process: float
    threads: dict[int, float]
    children: dict[int, float] = field(default_factory=dict)  # child process → its CPU (the log reader's)


class TaskSampler:
    """``/proc/<pid>/task/*/stat`` every ``step`` seconds, in a thread: the process's CPU and each
    thread's.  The exporter starts a thread for each poll, so a poll's CPU is what threads that
    come and go used (see :func:`poll_figures`)."""

    def __init__(self, pid: int, step: float = 0.02) -> None:
        self.pid, self.step = pid, step
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="task sampler", daemon=True)
        self._thread.start()

    def _sample(self) -> Sample:
        base = f"/proc/{self.pid}"
        threads: dict[int, float] = {}
        for tid in os.listdir(f"{base}/task"):
            try:
                threads[int(tid)] = cpu_of(Path(f"{base}/task/{tid}/stat").read_text())
            except (FileNotFoundError, ProcessLookupError):
                pass  # ended between the listing and the read
        # the exporter's child processes (the log reader's, one per target): not in its own
        # /proc/<pid>/stat while they run, so counted apart
        return Sample(time.monotonic(), cpu_of(Path(f"{base}/stat").read_text()), threads, descendants(self.pid))

    def _run(self) -> None:
        while not self._stop.wait(self.step):
            self.samples.append(self._sample())

    def stop(self) -> list[Sample]:
        self._stop.set()
        self._thread.join(5)
        return self.samples


def poll_figures(samples: Sequence[Sample]) -> dict[str, Any]:
    """The polls between the first and the last sample at which no poll thread ran.

    Threads present in every sample are the long-lived ones (main, scheduler, HTTP, log stream);
    the others are polls.  Between two such quiet samples, the polls' CPU is exactly the process's
    CPU less the long-lived threads' (``/proc/<pid>/stat`` keeps what ended threads used); their
    number and wall time are the poll threads seen, each from its first to its last sample."""
    if not samples:
        return {}
    base = set.intersection(*(set(s.threads) for s in samples))
    quiet = [i for i, s in enumerate(samples) if set(s.threads) == base]
    if len(quiet) < 2:
        return {}
    first, last = samples[quiet[0]], samples[quiet[-1]]
    seen: dict[int, list[float]] = {}
    for s in samples[quiet[0]:quiet[-1] + 1]:
        for tid in s.threads.keys() - base:
            seen.setdefault(tid, [s.at, s.at])[1] = s.at
    others = {tid: last.threads[tid] - first.threads[tid] for tid in base}
    polls_cpu = last.process - first.process - sum(others.values())
    seconds = last.at - first.at
    children = sum(last.children[pid] - first.children[pid] for pid in last.children.keys() & first.children.keys())
    walls = [end - start for start, end in seen.values()]
    return {"polls": len(seen), "window_seconds": seconds, "polls_cpu_seconds": polls_cpu, "poll_walls": walls,
            "poll_cpu_seconds": polls_cpu / len(seen) if seen else None,
            "poll_wall_median": statistics.median(walls) if walls else None,
            "other_threads_cpu_per_second": sorted((v / seconds for v in others.values()), reverse=True),
            "children_cpu_per_second": children / seconds if seconds else 0.0}


def condition(port: int, pid: int, args: argparse.Namespace, buf: bytearray) -> dict[str, Any]:
    """Scrape series (plain then gzip, spread over two poll intervals each) while the exporter's
    threads are sampled."""
    spacing = spacing_for(args.interval, args.repeat) * args.spread / 2
    before = own(port, buf)
    sampler = TaskSampler(pid)
    try:
        plain = series(port, False, args.repeat, args.budget, buf, spacing)
        gz = series(port, True, args.repeat, args.budget, buf, spacing)
    finally:
        samples = sampler.stop()
    page: dict[str, int] = {}
    after = own(port, buf, page)
    out = {"plain": plain, "gzip": gz, "plain_median": statistics.median(plain), "plain_p95": p95(plain),
           "gzip_median": statistics.median(gz), "gzip_p95": p95(gz), **page,
           "polls_total": total(after, "haproxy_exporter_polls_total") - total(before, "haproxy_exporter_polls_total"),
           **poll_figures(samples)}
    if out.get("polls_cpu_seconds") is not None and out["polls_total"] > out["polls"] + 1:
        # polls shorter than the sampling step went unseen: the exporter's own count, over
        # nearly the same window
        out["poll_cpu_seconds"] = out["polls_cpu_seconds"] / out["polls_total"]
    return out


def pooled(parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Conditions met in turns (lines flowing, then not, again and again) as one: their scrapes
    pooled, their polls' CPU over all the polls, their children's CPU over all the windows, so
    that both conditions meet the same moments of a shared machine."""
    if len(parts) == 1:
        return parts[0]
    plain = [x for part in parts for x in part["plain"]]
    gz = [x for part in parts for x in part["gzip"]]
    walls = [x for part in parts for x in part.get("poll_walls", [])]
    polls = sum(part.get("polls_total", 0) for part in parts)
    seconds = sum(part.get("window_seconds", 0.0) for part in parts)
    cpu = [part["poll_cpu_seconds"] * part["polls_total"] for part in parts if part.get("poll_cpu_seconds") is not None]
    others = [part.get("other_threads_cpu_per_second", []) for part in parts]
    width = max(map(len, others), default=0)
    return {"plain": plain, "gzip": gz, "plain_median": statistics.median(plain), "plain_p95": p95(plain),
            "gzip_median": statistics.median(gz), "gzip_p95": p95(gz), "rounds": len(parts),
            "samples": parts[-1].get("samples"), "wire_bytes": parts[-1].get("wire_bytes"),
            "polls_total": polls, "polls": sum(part.get("polls", 0) for part in parts), "poll_walls": walls,
            "poll_cpu_seconds": sum(cpu) / polls if polls and len(cpu) == len(parts) else None,
            "poll_wall_median": statistics.median(walls) if walls else None, "window_seconds": seconds,
            "other_threads_cpu_per_second": [statistics.mean(o[k] if k < len(o) else 0.0 for o in others)
                                             for k in range(width)],
            "children_cpu_per_second": sum(part.get("children_cpu_per_second", 0.0) * part.get("window_seconds", 0.0)
                                           for part in parts) / seconds if seconds else 0.0}


def run_big(args: argparse.Namespace, workdir: Path, logs: bool) -> dict[str, Any]:
    backends, servers = parse_size(args.big)
    home = workdir / "big"
    home.mkdir()
    sock, port = str(home / "admin.sock"), free_port()
    hap = start_haproxy(home, big_config(backends, servers, sock, port, args.ring_mib << 20, args.ring_format),
                        binary=args.binary)
    children = [hap]
    stop = threading.Event()
    sender: threading.Thread | None = None
    out: dict[str, Any] = {"size": args.big, "rate": args.big_rate, "interval": args.interval}
    try:
        wait_until(lambda: hap.alive() and os.path.exists(sock) and len(raw_bytes(sock, b"show info", 30)) > 0,
                   120, "HAProxy")
        frames = ring_frames(messages(min(POOL, args.lines), big_routes(backends, servers), seed=23))
        ours, our_port = start_exporter(sock, args.interval, home, args.ring_format, logs)
        children.append(ours)
        first = client.scrape(our_port, False, buffer=bytearray(1 << 20))
        buf = bytearray(first.wire_bytes + first.wire_bytes // 4 + (1 << 20))
        out["wire_plain"] = first.wire_bytes
        print(f"[{args.big}] without logs ...", flush=True)
        out["without"] = condition(our_port, ours.pid, args, buf)
        before = own(our_port, buf)
        withs: list[dict[str, Any]] = []
        afters: list[dict[str, Any]] = []
        lines_sent, send_seconds = 0, 0.0
        control = not logs and args.unread  # the lines flow into the ring, and the exporter reads none
        for turn in range(args.rounds if logs or control else 1):
            sent: dict[str, Any] = {}
            stop = threading.Event()

            def sending(stop: threading.Event = stop, sent: dict[str, Any] = sent) -> None:
                sent["lines"], sent["seconds"] = send(port, frames, args.big_rate * 3600, args.big_rate, stop)

            sender = threading.Thread(target=sending, name="sender", daemon=True)
            sender.start()
            time.sleep(args.interval)  # the log source in its stride
            print(f"[{args.big}] with {args.big_rate:,} lines/s ({turn + 1}/{args.rounds}) ...", flush=True)
            withs.append(condition(our_port, ours.pid, args, buf))
            stop.set()
            sender.join(30)
            lines_sent += sent.get("lines", 0)
            send_seconds += sent.get("seconds", 0.0)
            if logs:
                out["exporter_read"] = int(wait_lines(our_port, buf, total(before, LINES_READ), lines_sent,
                                                      args.timeout, step=1.0))
            if logs or control:
                time.sleep(args.interval)  # a poll published what was read
                print(f"[{args.big}] after the logs ({turn + 1}/{args.rounds}) ...", flush=True)
                afters.append(condition(our_port, ours.pid, args, buf))
        out["with"] = pooled(withs)
        out["lines_sent"] = lines_sent
        out["send_rate"] = lines_sent / send_seconds if send_seconds else 0.0
        out["ring_dropped_pending"] = dropped(sock, RING)
        if logs:
            out["ring_dropped"] = int(total(own(our_port, buf), RING_DROPPED) - total(before, RING_DROPPED))
        if afters:
            out["after"] = pooled(afters)
    finally:
        stop.set()
        if sender is not None:
            sender.join(30)
        for child in reversed(children):
            child.stop()
    return out


# ---------------------------------------------------------------------------------------------
# Report


def _f(value: float | None, fmt: str = "{:.2f}") -> str:
    return "n/a" if value is None else fmt.format(value)


def _ratio(a: float | None, b: float | None) -> str:
    return "n/a" if a is None or not b else f"{a / b:.2f}"


def _turns(rounds: int) -> str:
    return "" if rounds == 1 else f", with and after pooled over {rounds} turns"


def equivalence_lines(mode: str, eq: dict[str, Any], cpu: dict[str, Any]) -> list[str]:
    """The exporter's log families against mtail's equivalent program's, on the same lines."""
    same = cpu.get("exporter_read") == cpu.get("lines_sent")
    mark = "ok" if eq["equal"] == eq["samples"] else "MISMATCH"
    out = [f"   the same counts? exporter against mtail equivalent ({mode}): {eq['equal']:,} of {eq['samples']:,} "
           f"samples of {len(eq['families'])} families equal [{mark}]"
           + ("" if same else " (the exporter did not read every line sent: they cannot be equal)")]
    out.append("     " + "; ".join(f"{name.removeprefix('haproxy_')} {row['equal']}/{row['samples']}"
                                    for name, row in eq["families"].items()))
    good = eq["backend_responses_equal"]
    out.append(f"     backend responses by proxy and code: {good} of {len(eq['backend_responses'])} series equal "
               f"({sum(r[2] for r in eq['backend_responses']):,.0f} responses)")
    shown = []
    for backend, parts in eq["total_time"].items():
        count, total_s = parts.get("count", [None, None]), parts.get("sum", [None, None])
        shown.append(f"{backend} {_f(count[0], '{:,.0f}')}/{_f(count[1], '{:,.0f}')} "
                     f"{_f(total_s[0], '{:,.3f}')}/{_f(total_s[1], '{:,.3f}')}")
    out.append(f"     total time _count and _sum per backend, exporter/mtail: {'; '.join(shown)}")
    for name, a, b in eq["differ"][:5]:
        out.append(f"     differs: {name} exporter {a} mtail {b}")
    return out


def turn_ratios(ours: Sequence[dict[str, Any]], theirs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The exporter's CPU per million lines over mtail's, turn by turn (each pair ran back to back),
    their median and range, and the ratio of the sums (every turn's CPU over every turn's lines)."""
    pairs = [(a, b) for a, b in zip(ours, theirs) if "exporter_cpu_per_million" in a and b.get("cpu_per_million")]
    if not pairs:
        return {}
    mine = [a["exporter_cpu_per_million"] for a, _ in pairs]
    other = [b["cpu_per_million"] for _, b in pairs]
    ratios = [a / b for a, b in zip(mine, other)]
    per_line_ours = sum(a["exporter_cpu_seconds"] for a, _ in pairs) / max(1, sum(a["exporter_read"] for a, _ in pairs))
    per_line_theirs = sum(b["cpu_seconds"] for _, b in pairs) / max(1, sum(b["lines_read"] for _, b in pairs))
    return {"ratios": ratios, "median": statistics.median(ratios), "low": min(ratios), "high": max(ratios),
            "pooled": per_line_ours / per_line_theirs if per_line_theirs else None, "ours": mine, "theirs": other}


def turns_lines(ours: Sequence[dict[str, Any]], mtail: dict[str, dict[str, list[dict[str, Any]]]]) -> list[str]:
    """Part 1's turns, when there are more than one: the ratio in each, its median and range."""
    if len(ours) < 2:
        return []
    out = [f"   {len(ours)} turns, each the exporter's run then mtail's, CPU s/M (exporter / mtail = ratio):"]
    for program, modes in mtail.items():
        for mode, theirs in modes.items():
            r = turn_ratios(ours, theirs)
            if not r:
                continue
            cells = "; ".join(f"{a:.2f}/{b:.2f}={a / b:.2f}" for a, b in zip(r["ours"], r["theirs"]))
            out.append(f"     mtail {program} ({mode}): {cells}")
            out.append(f"       ratio median {r['median']:.2f}, range {r['low']:.2f}-{r['high']:.2f}, "
                       f"pooled {_f(r['pooled'])}  (goal: at most 0.25)")
    return out


def table(run: dict[str, Any]) -> str:
    out = []
    small = run.get("small", {})
    cpu = small.get("cpu", {})
    mtail = run.get("mtail", {})
    ours = cpu.get("exporter_cpu_per_million")
    out.append(f"1. CPU per million lines ({run['lines']:,} httplog lines, sent at up to {run['cpu_rate']:,}/s)")
    out.append(f"   {'process':<44} {'lines in':>10} {'counted':>10} {'CPU s':>7} {'CPU s/M':>8} {'lines/s':>9}")
    if cpu:
        out.append(f"   {'exporter + its reader (ring, show events -w)':<44} {cpu['ring_got']:>10,} "
                   f"{cpu.get('exporter_read', 0):>10,} {_f(cpu.get('exporter_cpu_seconds')):>7} {_f(ours):>8} "
                   f"{cpu['send_rate']:>9,.0f}")
        if "reader_child_cpu_seconds" in cpu:
            out.append(f"   {'  of which the reader child process':<44} {'':>10} {'':>10} "
                       f"{cpu['reader_child_cpu_seconds']:>7.2f} {cpu['reader_child_cpu_per_million']:>8.2f}")
        out.append(f"   {'haproxy (log-forward, ring, 2 readers)':<44} {cpu['lines_sent']:>10,} {cpu['ring_got']:>10,} "
                   f"{cpu['haproxy_cpu_seconds']:>7.2f} {cpu['haproxy_cpu_seconds'] / max(1, cpu['ring_got']) * 1e6:>8.2f}")
    for program, modes in mtail.items():
        for mode, where in (("pipe", "named pipe"), ("file", "file")):
            m = modes.get(mode)
            if m:
                out.append(f"   {f'mtail {program} ({where})':<44} {m['lines_read']:>10,} {m['counted']:>10,} "
                           f"{m['cpu_seconds']:>7.2f} {m['cpu_per_million']:>8.2f} {m['lines_per_second']:>9,.0f}")
    for program, modes in mtail.items():
        for mode in ("pipe", "file"):
            m = modes.get(mode)
            if m:
                out.append(f"   exporter / mtail {program} ({mode}): {_ratio(ours, m['cpu_per_million'])}  (goal: at most 0.25)")
    if cpu:
        out.append(f"   exporter: idle {cpu.get('exporter_idle_cpu_per_second', 0) * 1000:.1f} ms CPU/s; its figure (its "
                   f"process {_f(cpu.get('exporter_process_cpu_seconds'))} s + its reader's child process "
                   f"{_f(cpu.get('reader_child_cpu_seconds'))} s, pid {cpu.get('reader_pids')}) runs until /metrics "
                   f"showed every line ({_f(cpu.get('published_after'))} s after the last was sent: each poll publishes)")
        if cpu.get("reader_pids_changed"):
            out.append(f"   the READER'S PID CHANGED during the run (a restart): {cpu['reader_pids_changed']}; stream "
                       f"failures {cpu.get('stream_failures', {})}")
        out.append(f"   counts: sent {cpu['lines_sent']:,}, reached the ring {cpu['ring_got']:,} (raw reader), exporter read "
                   f"{cpu.get('exporter_read', 'n/a')}, ring dropped {cpu['ring_dropped']}, rejected {cpu.get('rejected', {})}, "
                   f"unexported {cpu.get('unexported', {})}")
    for program, modes in mtail.items():
        for mode in ("pipe", "file"):
            m = modes.get(mode)
            if m:
                mark = "ok" if m["counted"] == m["lines_sent"] else "MISMATCH"
                out.append(f"   mtail {program} ({mode}): sent {m['lines_sent']:,}, read {m['lines_read']:,}, counted "
                           f"{m['counted']:,} [{mark}]; idle {m['idle_cpu_per_second'] * 1000:.1f} ms CPU/s at poll "
                           f"interval {m['poll_interval']} ({m['cpu_per_million_less_idle']:.2f} CPU s/M less that)")
    for mode, eq in run.get("equivalence", {}).items():
        out += equivalence_lines(mode, eq, cpu)
    out += turns_lines(small.get("cpu_turns", []), run.get("mtail_turns", {}))
    sus = small.get("sustained")
    if sus:
        ok = "n/a" if "exporter_read" not in sus else (
            "ok" if sus["ring_dropped"] == 0 and sus["exporter_read"] == sus["lines_sent"] else "LOST")
        out.append(f"2. Sustained: {sus['lines_sent']:,} lines at {sus['send_rate']:,.0f}/s ({sus['send_seconds']:.1f} s): "
                   f"ring got {sus['ring_got']:,}, dropped {sus['ring_dropped']}, "
                   f"exporter read {sus.get('exporter_read', 'n/a')} [{ok}]")
        out.append(f"   exporter CPU {_f(sus.get('exporter_cpu_seconds'))} s ({_f(sus.get('exporter_cpu_per_million'))} s/M; "
                   f"of which its reader's child process {_f(sus.get('reader_child_cpu_seconds'))} s"
                   f"{', ITS PID CHANGED' if sus.get('reader_pids_changed') else ''}), "
                   f"all on /metrics {_f(sus.get('published_after'))} s after the last line sent (each poll publishes); "
                   f"rejected {sus.get('rejected', {})}")
    big = run.get("big")
    if big:
        out.append(f"3. At {big['size']} (poll interval {big['interval']} s), logs at {big['rate']:,}/s "
                   f"(sent {big['send_rate']:,.0f}/s, {big['lines_sent']:,} lines, "
                   f"ring dropped {big.get('ring_dropped', 'n/a')}, exporter read {big.get('exporter_read', 'n/a')}) vs none"
                   f"{_turns(big['with'].get('rounds', 1))}:")
        out.append(f"   {'':<26} {'without':>10} {'with':>10} {'with/without':>12}  (goal: within 1.2)"
                   f" {'after':>10} {'with/after':>10}")
        w, x, a = big["without"], big["with"], big.get("after", {})
        for key, label, scale in (("poll_cpu_seconds", "poll CPU, ms", 1000.0), ("poll_wall_median", "poll wall, ms", 1000.0),
                                  ("plain_median", "scrape plain median, ms", 1000.0),
                                  ("plain_p95", "scrape plain p95, ms", 1000.0),
                                  ("gzip_median", "scrape gzip median, ms", 1000.0), ("gzip_p95", "scrape gzip p95, ms", 1000.0),
                                  ("wire_bytes", "page, MB (plain)", 1e-6), ("samples", "samples", 1.0)):
            cells = [w.get(key), x.get(key), a.get(key)]
            shown = [_f(c if c is None else c * scale, "{:,.1f}" if key != "samples" else "{:,.0f}") for c in cells]
            out.append(f"   {label:<26} {shown[0]:>10} {shown[1]:>10} {_ratio(cells[1], cells[0]):>12} {'':>19} "
                       f"{shown[2]:>10} {_ratio(cells[1], cells[2]):>10}")
        out.append(f"   polls seen {w.get('polls')} / {x.get('polls')} / {a.get('polls')}; the long-lived threads' CPU "
                   f"(log stream, HTTP, ...), cores: {[round(v, 3) for v in w.get('other_threads_cpu_per_second', [])]} / "
                   f"{[round(v, 3) for v in x.get('other_threads_cpu_per_second', [])]} / "
                   f"{[round(v, 3) for v in a.get('other_threads_cpu_per_second', [])]}")
        out.append(f"   the exporter's child processes (the log reader's own, not in the poll CPU above), cores: "
                   f"{w.get('children_cpu_per_second', 0):.3f} / {x.get('children_cpu_per_second', 0):.3f} / "
                   f"{a.get('children_cpu_per_second', 0):.3f}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.logs", description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000, help="lines for the CPU comparison")
    parser.add_argument("--cpu-rate", type=int, default=50_000,
                        help="lines per second for the CPU comparison (mtail's pipe may set a slower pace)")
    parser.add_argument("--turns", type=int, default=1,
                        help="turns of the CPU comparison, the exporter's run then mtail's in each (the ratio's "
                             "median and range over them: a shared machine's pace moves from minute to minute)")
    parser.add_argument("--rate", type=int, default=100_000, help="lines per second of the sustained run")
    parser.add_argument("--seconds", type=int, default=60, help="length of the sustained run")
    parser.add_argument("--parts", default="cpu,sustained,big", help="which of cpu,sustained,big to run (default: all)")
    parser.add_argument("--big", default="1000x10", help="BxS of the HAProxy polled with logs flowing")
    parser.add_argument("--big-rate", type=int, default=50_000, help="lines per second while polling at --big")
    parser.add_argument("--interval", type=int, default=5, help="the exporter's poll interval, seconds")
    parser.add_argument("--repeat", type=int, default=15, help="scrapes per series at --big")
    parser.add_argument("--spread", type=float, default=2.0,
                        help="poll intervals each series of scrapes spans at --big (more: more polls seen)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="turns of lines flowing, then not, at --big (pooled: both meet the same moments)")
    parser.add_argument("--unread", action="store_true",
                        help="at --big, the exporter has no logs: section: the lines flow into HAProxy's ring and "
                             "nobody reads them (a control: what the harness's sender and HAProxy cost the scrapes)")
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per series at --big (at least 3 scrapes)")
    parser.add_argument("--ring-mib", type=int, default=32, help="the ring's size")
    parser.add_argument("--ring-format", default="rfc3164", help="the ring's format (and the exporter's ring_format)")
    parser.add_argument("--mtail-poll-interval", default="1ms", help="mtail's --poll_interval for the named pipe")
    parser.add_argument("--no-mtail-file", dest="mtail_file", action="store_false", help="skip mtail tailing a file")
    parser.add_argument("--mtail-programs", default="light,equivalent",
                        help="mtail's programs, each run on the same lines: light (a histogram and a counter), "
                             "equivalent (what the exporter counts; its counts checked against the exporter's)")
    parser.add_argument("--haproxy", default="", help="HAProxy binary: a path, or 3.2 / 3.4 under $HAPROXY_SHARED "
                        "(default: Debian's)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the last lines of a run")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    args.parts = set(args.parts.split(","))
    if args.parts - {"cpu", "sustained", "big"}:
        parser.error(f"--parts: unknown {', '.join(sorted(args.parts - {'cpu', 'sustained', 'big'}))}")
    args.mtail_programs = args.mtail_programs.split(",")
    if set(args.mtail_programs) - MTAIL_PROGRAMS.keys():
        parser.error(f"--mtail-programs: unknown {', '.join(sorted(set(args.mtail_programs) - MTAIL_PROGRAMS.keys()))}")
    args.binary = resolve_haproxy(args.haproxy)
    logs = log_source_registered() and not args.unread
    results: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine(),
                               "versions": versions(), "command": command_line("logs", argv), "haproxy": args.binary}
    run: dict[str, Any] = {"lines": args.lines, "cpu_rate": args.cpu_rate, "log_source": logs}
    results["run"] = run
    if args.unread:
        print("--unread: the exporter reads no line (a control of what the harness itself costs at --big)")
    elif not logs:
        print("this checkout's exporter has no log source: its side is not measured (part 3 runs it without logs:)")
    texts = messages(min(POOL, args.lines), SMALL)
    workdir = Path(tempfile.mkdtemp(prefix="hrxlogs"))  # short: UNIX socket paths are limited
    started = time.monotonic()
    try:
        kept: dict[str, Families] = {}
        run["mtail"], run["mtail_turns"], run["equivalence"] = {}, {}, {}
        lines = file_lines(texts)

        def mtail_turn(turn: int) -> None:
            """mtail's runs of one turn of part 1, each program and mode on the same lines."""
            for program in args.mtail_programs:
                for mode in ("pipe", "file") if args.mtail_file else ("pipe",):
                    print(f"[cpu] turn {turn}: {args.lines:,} lines into mtail ({program} program, {mode}) ...",
                          flush=True)
                    figures, families = run_mtail(mode, program, lines, args, workdir)
                    run["mtail_turns"].setdefault(program, {}).setdefault(mode, []).append(figures)
                    print(f"[cpu] mtail ({program}, {mode}): {figures}", flush=True)
                    if turn == 1:
                        run["mtail"].setdefault(program, {})[mode] = figures
                        if program == "equivalent" and "exporter" in kept:
                            run["equivalence"][mode] = equivalence(kept["exporter"], families)

        if {"cpu", "sustained"} & args.parts:
            run["small"] = run_small(ring_frames(texts), args, workdir, logs, kept, mtail_turn)
        if "big" in args.parts:
            run["big"] = run_big(args, workdir, logs)
    finally:
        results["seconds"] = round(time.monotonic() - started, 1)
        shutil.rmtree(workdir, ignore_errors=True)
    print(table(run))
    write_results(results, args.out, "logs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
