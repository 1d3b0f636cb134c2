"""The operator's view: the landing page (``/``) and the debug text of one target's last poll.

Both answer "what did the last poll of edge1 send, and what came back?" from what the poll
already published (each target's :class:`~exporter.poll.snapshot.Snapshot` and its
:class:`~exporter.poll.record.PollRecord`): nothing here talks to HAProxy or waits on a poll, and
no scrape of ``/metrics`` renders any of it.  The landing page keeps each target's row as it
rendered it, keyed by the snapshot it came from (replaced whole by every poll) and the state, so
a page view re-renders only the targets polled since the last one.

Everything from outside (target names, addresses, HAProxy's error texts) is escaped; the page is
one small HTML document with inline CSS, no script and no external asset.  Secrets never appear:
the debug text shows a target's own settings (its address, mode, timeouts and limits), never the
web config's users, password hashes or TLS files.
"""

from __future__ import annotations

import time
from html import escape
from typing import Iterable
from urllib.parse import quote

from exporter import __version__
from exporter.config import Config, TargetConfig
from exporter.poll.record import HISTORY, MAX_EXCHANGES, Exchange, FailedPoll, Failure, PollRecord, printable
from exporter.poll.snapshot import DEFAULT_TARGET, Snapshot, Store

UP, DOWN, STALE, NEVER = "up", "down", "stale", "never polled"
MEANING = {
    UP: "the last poll read HAProxy",
    DOWN: "the last poll failed; the last good data, if any, is served until poll.max_age",
    STALE: "the last good data is older than poll.max_age: HAProxy's series are withheld (haproxy_up 0)",
    NEVER: "no poll of it has completed yet",
}
STYLE = ("body{font-family:sans-serif;margin:1em 2em;color:#222}table{border-collapse:collapse;width:100%}"
         "th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}"
         "th{background:#f3f3f3}.up{background:#d7f5d7}.down{background:#f8d0d0}.stale{background:#fbe7c0}"
         ".never{background:#e6e6e6}.bad{color:#a00}.ok{color:#070}small{color:#555}ol{margin:.2em 0}"
         ".when{white-space:nowrap}")
BAD = frozenset({"failed", "build failed", "not sent"})  # a source's outcomes that lose its series


def state_of(snapshot: Snapshot | None, fresh: bool) -> str:
    """up, down, stale or never polled, from the published snapshot and whether its page is fresh."""
    record = snapshot.record if snapshot is not None else None
    if snapshot is None or record is None:
        return NEVER
    if snapshot.page is not None and not fresh:
        return STALE
    return UP if record.ok and fresh else DOWN


def when(wall: float) -> str:
    """A wall time as UTC, to the millisecond: the same in every browser and log."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(wall)) + f".{int(wall % 1 * 1000):03d}Z"


def shown_name(name: str) -> str:
    return printable(name) or "HAProxy"


# ---------------------------------------------------------------------------------- landing page


class Landing:
    """The landing page of one config, with each target's row kept until its snapshot or state
    changes (event loop thread only)."""

    def __init__(self, config: Config, store: Store) -> None:
        self.config = config
        self.store = store
        self._rows: dict[str, tuple[Snapshot | None, str, str]] = {}

    def page(self) -> str:
        rows: dict[str, tuple[Snapshot | None, str, str]] = {}
        for target in self.config.poll_targets():
            snapshot = self.store.snapshot(target.name)
            state = state_of(snapshot, snapshot is not None and self.store.is_fresh(snapshot))
            kept = self._rows.get(target.name)
            if kept is None or kept[0] is not snapshot or kept[1] != state:
                kept = (snapshot, state, target_row(self.config, target, snapshot, state))
            rows[target.name] = kept
        self._rows = rows  # targets gone from the config are forgotten
        return landing_html(self.config, (row for _, _, row in rows.values()))


def landing_html(config: Config, rows: Iterable[str]) -> str:
    path = escape(config.web.telemetry_path)
    count = len(config.poll_targets())
    if config.multi_target:
        what = f"Reading {count} targets every {config.poll.interval:g}s"
        metrics = "the exporter's own view of every target; each target's page is at /probe?target=&lt;name&gt;"
    else:
        what = f"Reading one HAProxy every {config.poll.interval:g}s"
        metrics = "metrics"
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>HAProxy Runtime Exporter</title>'
        f"<style>{STYLE}</style></head><body><h1>HAProxy Runtime Exporter {escape(__version__)}</h1>"
        f"<p>{what}. Below is what each target's last poll did, as the poll recorded it; "
        "this page never asks HAProxy anything.</p>"
        f'<ul><li><a href="{path}">{path}</a>: {metrics}</li>'
        '<li><a href="/healthz">/healthz</a>: health of the poll loop</li>'
        '<li><a href="/-/ready">/-/ready</a>: whether every target has been polled once</li></ul>'
        '<table><tr><th>target</th><th>state</th><th>last poll</th><th>sources</th><th>last error</th></tr>'
        + "".join(rows) + "</table></body></html>\n"
    )


def links(config: Config, name: str) -> tuple[str, str]:
    """The target's page and its debug view (already escaped for an attribute)."""
    if name == DEFAULT_TARGET:
        path = escape(config.web.telemetry_path)
        return path, f"{path}?debug=true"
    page = "/probe?target=" + escape(quote(name, safe=""))
    return page, page + "&amp;debug=true"


def target_row(config: Config, target: TargetConfig, snapshot: Snapshot | None, state: str) -> str:
    name = target.name
    page, debug = links(config, name)
    css = state.split()[0]
    record = snapshot.record if snapshot is not None else None
    head = (f'<tr id="target-{escape(printable(name) or "haproxy")}" data-state="{escape(state)}">'
            f'<td><a href="{page}">{escape(shown_name(name))}</a><br><small><code>{escape(printable(target.address.text))}'
            f'</code></small><br><a href="{debug}">debug view</a></td>'
            f'<td class="state {css}" title="{escape(MEANING[state])}">{escape(state)}</td>')
    if record is None:
        return head + "<td>none yet</td><td></td><td></td></tr>"
    result = "success" if record.ok else "failed"
    return (head + f'<td class="when">{when(record.started)}<br>took {record.seconds:.3f}s, '
            f'<span class="{"ok" if record.ok else "bad"}">{result}</span></td>'
            f"<td>{sources_html(record)}</td><td>{last_error_html(record)}</td></tr>")


def sources_html(record: PollRecord) -> str:
    """The sources grouped by what became of them (their worst over the processes read), each
    read one with its time: one short paragraph however many sources there are."""
    worst: dict[str, str] = {}
    for decision in record.decisions:
        if worst.get(decision.source) in (None, "read"):
            worst[decision.source] = decision.verdict
    groups: dict[str, list[str]] = {}
    for source, verdict in worst.items():
        seconds = record.source_seconds.get(source)
        took = f" {seconds * 1000:.1f}ms" if seconds is not None and verdict == "read" else ""
        groups.setdefault(verdict, []).append(escape(source) + took)
    css = {"read": ' class="ok"', **{verdict: ' class="bad"' for verdict in BAD}}
    return "<br>".join(f'<span{css.get(verdict, "")}>{escape(verdict)}</span>: '
                       + ", ".join(items) for verdict, items in groups.items())


def last_error_html(record: PollRecord) -> str:
    failure = record.last_failure
    if failure is None:
        return "none"
    at = f"{when(record.history[-1].last)}: " if record.history else ""
    text = (f'<span class="bad">{at}{escape(failure.command)} failed ({escape(failure.reason)})</span>: '
            f"{escape(failure.message)}<br><b>to fix:</b> {escape(failure.advice)}")
    if record.history:
        items = "".join(f"<li>{escape(history_line(entry))}</li>" for entry in reversed(record.history))
        text += f"<details><summary>recent failed polls ({len(record.history)})</summary><ol>{items}</ol></details>"
    return text


def history_line(entry: FailedPoll) -> str:
    span = when(entry.first) if entry.count == 1 else f"{when(entry.first)} to {when(entry.last)}, {entry.count} polls"
    what = "; ".join(f"{f.command}: {f.reason}" for f in entry.failures[:3])
    more = f" and {len(entry.failures) - 3} more" if len(entry.failures) > 3 else ""
    return f"{span} ({'up, a source failed' if entry.up else 'down'}): {what}{more}"


# ---------------------------------------------------------------------------------- debug text


def debug_text(config: Config, target: TargetConfig, store: Store) -> str:
    """What the last poll of ``target`` sent and got back, as text (like blackbox's ``debug=true``)."""
    snapshot = store.snapshot(target.name)
    fresh = snapshot is not None and store.is_fresh(snapshot)
    state = state_of(snapshot, fresh)
    lines = [f"Last poll of {shown_name(target.name)}, as the exporter recorded it (haproxy-runtime-exporter "
             f"{__version__}); nothing was sent to HAProxy for this page.", "",
             "Target:", f"  name: {printable(target.name) or '(the one HAProxy of the haproxy: section)'}",
             f"  address: {printable(target.address.text)}", f"  mode: {target.mode}",
             f"  connect_timeout: {target.connect_timeout:g}s, timeout: {target.timeout:g}s, "
             f"max_response_bytes: {target.max_response_bytes}",
             f"  poll.interval: {config.poll.interval:g}s, poll.max_age: {config.poll.max_age:g}s", "",
             f"State: {state} ({MEANING[state]})"]
    record = snapshot.record if snapshot is not None else None
    if snapshot is None or record is None:
        return "\n".join(lines) + "\n"
    lines += _poll_lines(snapshot, record)
    lines += ["", "Commands sent, in order (bytes read, wall time, outcome):"]
    lines += [_exchange_line(x) for x in record.exchanges] or ["  none"]
    if record.more_exchanges:
        lines.append(f"  ... and {record.more_exchanges} more, not kept (at most {MAX_EXCHANGES} a poll)")
    lines += ["", "Decision per source:"]
    lines += [f"  {d.source + (' ' + d.process if d.process else ''):<28} {d.verdict:<12} {d.detail}"
              for d in record.decisions] or ["  none: the socket could not be read"]
    lines += ["", "Failures of this poll:"] + (_failure_lines(record.failures) or ["  none"])
    lines += ["", f"Recent failed polls (newest first, at most {HISTORY} kept, a repeat of the newest folded into it):"]
    for entry in reversed(record.history):
        lines.append(f"  {history_line(entry)}")
        lines += [f"    {line}" for line in _failure_lines(entry.failures)]
    if not record.history:
        lines.append("  none")
    status = snapshot.status if fresh else snapshot.status_stale
    lines += ["", "The exporter's own lines for this target (HAProxy's series left out):",
              status.text.decode("utf-8", "replace").rstrip("\n")]
    return "\n".join(lines) + "\n"


def _poll_lines(snapshot: Snapshot, record: PollRecord) -> list[str]:
    kind = {"worker": "a worker's stats socket", "master": "a master CLI"}.get(record.kind or "", "not known yet")
    lines = [f"Last poll: {when(record.started)}, took {record.seconds:.3f}s, "
             f"{'success: HAProxy was read' if record.ok else 'failed: nothing new was published'}",
             f"Socket read as: {kind}"]
    if snapshot.page is not None:
        lines.append(f"Data served from the poll of {when(snapshot.page.taken_at)}: {snapshot.page.samples} samples")
    return lines


def _exchange_line(exchange: Exchange) -> str:
    outcome = "ok" if exchange.reason is None else f"{exchange.reason}: {exchange.message}"
    probe = " (the poll's own question)" if exchange.probe else ""
    return f"  {exchange.sent!r:<40} {exchange.size:>10} B {exchange.seconds:>9.4f}s  {outcome}{probe}"


def _failure_lines(failures: Iterable[Failure]) -> list[str]:
    lines = []
    for failure in failures:
        lines.append(f"  {failure.command}: {failure.reason}: {failure.message}")
        lines.append(f"    to fix: {failure.advice}")
    return lines
