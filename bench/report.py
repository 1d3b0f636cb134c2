"""Tables, ratios and target checks for bench/scale.py results (markdown for people, JSON for tools)."""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any, Callable

PEERS = ("promex", "go")
TITLES = {"ours": "ours", "promex": "promex (HAProxy built-in)", "go": "Go haproxy_exporter"}


def _ms(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds * 1000:,.1f} ms" if seconds < 10 else f"{seconds:,.2f} s"


def _mb(n: int | None) -> str:
    return "–" if n is None else f"{n / 1e6:,.2f} MB"


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "–"
    r = a / b
    return f"1/{1 / r:,.1f}" if 0 < r < 1 else f"{r:,.2f}×"


def _worst_concurrent(t: dict, mode: str) -> float:
    return float(max(max(r) for r in t[f"concurrent_{mode}"]))


def _slowest_median(t: dict, mode: str) -> float:
    """The slowest of the three scrapes of each round, median over the rounds (one VM hiccup in one
    round does not decide the figure; the worst round is shown beside it)."""
    return float(statistics.median(max(r) for r in t[f"concurrent_{mode}"]))


def rows(size: dict) -> list[tuple[str, dict[str, str], dict[str, str]]]:
    """(what, value per exporter, ratio of ours to each peer)."""
    ts = size["targets"]

    def row(label: str, getter: Callable[[dict], Any], fmt: Callable[[Any], str],
            ratio: bool = True) -> tuple[str, dict[str, str], dict[str, str]]:
        values = {name: getter(t) for name, t in ts.items()}
        shown = {name: fmt(v) for name, v in values.items()}
        ratios = {p: _ratio(values.get("ours"), values.get(p)) if ratio and p in values else "–" for p in PEERS}
        return label, shown, ratios

    def conc(mode: str, stat: Callable[[dict, str], float] = _slowest_median) -> Callable[[dict], float]:
        return lambda t: stat(t, mode) / t[f"{mode}_median"]

    def concurrency_rows(mode: str) -> list[tuple[str, dict[str, str], dict[str, str]]]:
        return [
            row(f"3 concurrent {mode}, each (worst round)", lambda t: max(t[f"concurrent_{mode}"], key=max),
                lambda v: " / ".join(_ms(x) for x in v), ratio=False),
            *(row(f"3 concurrent {mode}, slowest ÷ own single median ({which} round)", conc(mode, stat),
                  lambda v: f"{v:.2f}×", ratio=False)
              for which, stat in (("median", _slowest_median), ("worst", _worst_concurrent))),
        ]

    out = [
        row("samples exported", lambda t: t["samples"], lambda v: f"{v:,}"),
        row("/metrics plain, median", lambda t: t["plain_median"], _ms),
        row("/metrics plain, p95", lambda t: t["plain_p95"], _ms),
        row("/metrics gzip, median", lambda t: t["gzip_median"], _ms),
        row("/metrics gzip, p95", lambda t: t["gzip_p95"], _ms),
        row("bytes on the wire, plain", lambda t: t["wire_plain"], _mb),
        row("bytes on the wire, gzip asked", lambda t: t["wire_gzip"], _mb),
        row("gzip served", lambda t: t["gzip_served"], lambda v: "yes" if v else "no", ratio=False),
        *concurrency_rows("plain"),
        *concurrency_rows("gzip"),
        row("resident memory VmRSS (promex: HAProxy's)", lambda t: t["rss_kib"] * 1024, _mb),
        row("peak resident VmHWM (promex: HAProxy's)", lambda t: t["hwm_kib"] * 1024, _mb),
        row("process CPU per plain scrape (ours: incl. poll loop)", lambda t: t["cpu_per_plain_scrape"], _ms),
    ]
    return out


def size_table(size: dict) -> str:
    names = [n for n in ("ours", "promex", "go") if n in size["targets"]]
    peers = [p for p in PEERS if p in names]
    head = ["what", *(TITLES[n] for n in names), *(f"ours ÷ {p}" for p in peers if "ours" in names)]
    lines = [f"### {size['backends']} backends × {size['servers']} servers", ""]
    st = size.get("show_stat")
    if st:
        lines.append(f"`show stat` itself: {st['rows']:,} rows, {_mb(st['bytes'])}, {_ms(st['median_seconds'])} "
                     f"(median of 3). Our poll interval for this size: {size.get('interval')} s; timed scrapes "
                     f"{size.get('spacing', 0):.2f} s apart and concurrent rounds {size.get('round_spacing', 0):.2f} s "
                     "apart, so both sample every phase of our poll cycle.")
        lines.append("")
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, shown, ratios in rows(size):
        cells = [label, *(shown.get(n, "–") for n in names)]
        if "ours" in names:
            cells += [ratios[p] for p in peers]
        lines.append("| " + " | ".join(cells) + " |")
    poll = size.get("poll")
    if poll:
        lines += ["", f"Our poll cycle, measured in-process (median of {poll['runs']}; {poll['samples']:,} samples, "
                      f"{_mb(poll['plain_bytes'])} plain, {_mb(poll['gzip_bytes'])} gzip):", "",
                  "| phase | CPU | wall | wall inside Poller.poll_once |", "|---|---|---|---|"]
        for phase in poll["cpu"]:
            lines.append(f"| {phase} | {_ms(poll['cpu'][phase])} | {_ms(poll['wall'][phase])} | "
                         f"{_ms(poll['poll_once_phase_wall'].get(phase))} |")
        lines.append(f"| **total** | **{_ms(poll['cpu_total'])}** | **{_ms(poll['wall_total'])}** | "
                     f"whole poll_once: {_ms(poll['poll_once_cpu'])} CPU, {_ms(poll['poll_once_wall'])} wall |")
        if "cold_cpu_total" in poll:
            lines += ["", f"The first poll after start (no label objects to reuse yet) took "
                          f"{_ms(poll['cold_cpu_total'])} CPU: "
                          + ", ".join(f"{k} {_ms(v)}" for k, v in poll["cold_cpu"].items()) + "."]
        own = size["targets"].get("ours", {}).get("own")
        if own and own.get("duration_wall") is not None:
            lines += ["", "The running exporter's own last poll (wall, from haproxy_exporter_poll_*): "
                      + ", ".join(f"{k} {_ms(v)}" for k, v in own["phase_wall"].items())
                      + f"; total {_ms(own['duration_wall'])}."]
    lines += poll_cpu_table(size)
    floor = size.get("floor")
    if floor:
        lines += ["", "Floor for concurrent transfers on this machine: a minimal socket server (bench/floor.py, "
                      "no HTTP parsing, no poll loop) sending the same number of bytes:", "",
                  "| bytes | single median | single p95 | 3 concurrent, slowest ÷ single median: median round "
                  "(each round) |", "|---|---|---|---|"]
        for mode, f in floor.items():
            slowest = [max(r) / f["median"] for r in f["concurrent"]]
            lines.append(f"| {_mb(f['bytes'])} ({mode}) | {_ms(f['median'])} | {_ms(f['p95'])} | "
                         f"{statistics.median(slowest):.2f}× ({', '.join(f'{x:.2f}×' for x in slowest)}) |")
    checks = target_checks(size)
    if size["size"] != "1000x10":  # the issue sets the targets at 1000 x 10; elsewhere only the interval
        checks = [c for c in checks if c[0].startswith("poll cycle inside")]
    if size["size"] in ("1000x10", "2000x25"):  # the poll's CPU: at both (issue 14)
        checks += poll_cpu_checks(size)
    if checks:
        lines += ["", "| target | figure | met |", "|---|---|---|"]
        lines += [f"| {name} | {figure} | {'yes' if ok else '**no**'} |" for name, figure, ok in checks]
    return "\n".join(lines) + "\n"


STATES = {"none": "no row changes", "1%": "1 % of the rows change", "all": "every row changes"}


def _promex_scrape_cpu(size: dict) -> float | None:
    """promex's CPU per scrape, the cheaper of plain and gzip (the stricter comparison)."""
    promex = size["targets"].get("promex")
    return None if promex is None else min(promex["cpu_per_plain_scrape"], promex["cpu_per_gzip_scrape"])


def poll_cpu_table(size: dict) -> list[str]:
    """Our poll's CPU in each steady state against one scrape's CPU of each peer (issue 14)."""
    states, ts = size.get("poll_states"), size["targets"]
    if not states:
        return []
    promex, go = ts.get("promex"), ts.get("go")
    best = _promex_scrape_cpu(size)
    go_total = None if go is None else go["cpu_per_plain_scrape"] + go["haproxy_cpu_per_plain_scrape"]
    lines = ["", "Our poll's CPU against one scrape's (`Poller.poll_once` in-process, median; every row's "
                 "lastchg moves on each poll as on a real HAProxy; bench/pollcpu.py):", "",
             "| CPU | ours per poll | HAProxy's for our poll | ours ÷ promex scrape | ours ÷ Go scrape |",
             "|---|---|---|---|---|"]
    for state, figures in states.items():
        cpu = figures["cpu_seconds"]
        lines.append(f"| ours, {STATES.get(state, state)} | {_ms(cpu)} | {_ms(figures['haproxy_cpu_seconds'])} | "
                     f"{_ratio(cpu, best)} | {_ratio(cpu, go_total)} |")
    if promex is not None:
        lines.append(f"| promex scrape, plain / gzip (HAProxy's CPU) | {_ms(promex['cpu_per_plain_scrape'])} / "
                     f"{_ms(promex['cpu_per_gzip_scrape'])} | | | |")
    if go is not None:
        lines.append(f"| Go scrape, plain: Go's CPU + HAProxy's | {_ms(go['cpu_per_plain_scrape'])} + "
                     f"{_ms(go['haproxy_cpu_per_plain_scrape'])} | | | |")
    return lines


def poll_cpu_checks(size: dict) -> list[tuple[str, str, bool]]:
    """Issue 14's goal: a poll costs at most one promex scrape's CPU in every state, and HAProxy
    spends at most a third of a promex scrape answering it."""
    states, best = size.get("poll_states"), _promex_scrape_cpu(size)
    if not states or best is None:
        return []
    worst = max(f["cpu_seconds"] for f in states.values())
    hap = max(f["haproxy_cpu_seconds"] for f in states.values())
    return [("one poll's CPU ≤ one promex scrape's, in every state",
             f"worst state {_ms(worst)} vs promex {_ms(best)} ({_ratio(worst, best)})", worst <= best),
            ("HAProxy's CPU per poll ≤ 1/3 of promex's per scrape",
             f"{_ms(hap)} vs {_ms(best)} ({_ratio(hap, best)})", hap * 3 <= best)]


def target_checks(size: dict) -> list[tuple[str, str, bool]]:
    """The issue's targets, evaluated on this size's figures (all ratios from the same run)."""
    ts, poll = size["targets"], size.get("poll")
    ours = ts.get("ours")
    out: list[tuple[str, str, bool]] = []
    if ours is None:
        return out
    for peer, limit in (("promex", 5), ("go", 50)):
        if peer in ts:
            for mode in ("plain", "gzip"):
                a, b = ours[f"{mode}_median"], ts[peer][f"{mode}_median"]
                out.append((f"{mode} median ≤ 1/{limit} of {peer}'s", f"{_ms(a)} vs {_ms(b)} ({_ratio(a, b)})",
                            a * limit <= b))
    for mode in ("plain", "gzip"):
        slowest = _slowest_median(ours, mode)
        out.append((f"3 concurrent {mode} scrapes each ≤ 2× a single one",
                    f"slowest of 3 {_ms(slowest)} (median round; worst {_ms(_worst_concurrent(ours, mode))}) "
                    f"vs single median {_ms(ours[f'{mode}_median'])} ({slowest / ours[f'{mode}_median']:.2f}×)",
                    slowest <= 2 * ours[f"{mode}_median"]))
    if poll and "go" in ts:
        go = ts["go"]["plain_median"]
        # The real loop's poll_once is the figure; the phase split replays it as a diagnostic.
        cpu = poll["poll_once_cpu"]
        out.append(("one poll cycle's CPU ≤ 1/2 of one Go scrape",
                    f"Poller.poll_once {_ms(cpu)} CPU (phase split {_ms(poll['cpu_total'])}) vs Go scrape "
                    f"{_ms(go)} ({_ratio(cpu, go)}); Go's own CPU per scrape {_ms(ts['go']['cpu_per_plain_scrape'])} "
                    f"({_ratio(cpu, ts['go']['cpu_per_plain_scrape'])})", cpu * 2 <= go))
    if "go" in ts:
        out.append(("resident memory below Go's", f"{_mb(ours['rss_kib'] * 1024)} vs {_mb(ts['go']['rss_kib'] * 1024)} "
                    f"(peak {_mb(ours['hwm_kib'] * 1024)} vs {_mb(ts['go']['hwm_kib'] * 1024)})",
                    ours["rss_kib"] < ts["go"]["rss_kib"]))
    out.append(("gzip served from the stored copy", "Content-Encoding gzip, same samples as plain"
                if ours["gzip_served"] and ours["gzip_samples"] == ours["samples"] else "not served or differs",
                ours["gzip_served"] and ours["gzip_samples"] == ours["samples"]))
    if poll:
        interval = 15
        out.append((f"poll cycle inside a {interval} s interval", f"wall {_ms(poll['poll_once_wall'])}, "
                    f"{poll['poll_once_wall'] / interval:.0%} of {interval} s", poll["poll_once_wall"] < interval / 3))
    return out


def markdown(results: dict) -> str:
    m, v = results["machine"], results["versions"]
    head = [
        f"## Scale benchmark, {results['date']}",
        "",
        f"Machine: {m['nproc']} cores, {m['cpu']}, {m['ram_gib']} GiB RAM; load average at start "
        f"{', '.join(f'{x:.2f}' for x in m['load_avg'])}, at end "
        f"{', '.join(f'{x:.2f}' for x in m.get('load_avg_end', ()))}.",
        f"Versions: exporter {v['exporter']}, Python {v['python']}, prometheus_client {v['prometheus_client']}, "
        f"isal {v.get('isal', '?')}; "
        f"{v['haproxy']}; {v['go_exporter']}.",
        f"Command: `{results['command']}` ({results.get('seconds', '?')} s).",
        "",
        "Latency is request to last byte on loopback, one client for all three (bench/client.py); "
        "ratios are ours ÷ peer (1/N: ours takes 1/N of the peer's time). Exporters are measured one at "
        "a time; ours is stopped before the peers are measured.",
        "",
    ]
    return "\n".join(head) + "\n" + "\n".join(size_table(s) for s in results["sizes"])


def write(results: dict, outdir: Path) -> tuple[Path, Path]:
    outdir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    md, js = outdir / f"scale-{stamp}.md", outdir / f"scale-{stamp}.json"
    md.write_text(markdown(results))
    js.write_text(json.dumps(results, indent=1))
    return md, js
