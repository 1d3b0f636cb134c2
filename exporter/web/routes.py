"""What each path answers: a small table from path to handler, each returning prepared bytes.

Handlers never touch HAProxy and never render HAProxy's series: ``/metrics`` hands back the parts
the poll published (opaque bytes, plain or gzip); the landing page and the debug view
(``?debug=true``) are small texts made from the record the poll published (exporter/web/view.py).
The protocol layer (exporter/web/protocol.py) does the HTTP framing, exporter/web/send.py the sending.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence
from urllib.parse import parse_qs

from exporter.config import Config, TargetConfig
from exporter.exposition.openmetrics import EOF
from exporter.exposition.page import Page, Part
from exporter.poll.snapshot import Store
from exporter.runtime.address import AddressError, parse_address
from exporter.web import promex_query
from exporter.web.negotiate import OPENMETRICS, PROTOBUF, exposition, wants_gzip
from exporter.web.view import Landing, debug_text

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
HTML = "text/html; charset=utf-8"
ALLOWED_METHODS = ("GET", "HEAD")
AUTH_CHALLENGE = 'Basic realm="haproxy-runtime-exporter", charset="UTF-8"'


@dataclass(frozen=True)
class Request:
    """A parsed request head; header names are lower case, a repeated header keeps the last value
    except for the ones that are lists (joined with ", ", RFC 9110 §5.3)."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]


@dataclass
class Response:
    """Status, headers (without framing ones) and the body as chunks sent in order, never copied."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: Sequence[bytes | memoryview] = ()

    @property
    def length(self) -> int:
        return sum(len(chunk) for chunk in self.body)


Handler = Callable[[Request], Response]


def text(status: int, body: str, extra: Sequence[tuple[str, str]] = ()) -> Response:
    return Response(status, [("Content-Type", TEXT), *extra], [body.encode()])


def parts_response(parts: Sequence[Page | Part] | None, request: Request,
                   unavailable: str = "no poll has completed yet\n") -> Response:
    """An exposition from published parts: the gzip members when the client accepts gzip, and
    only the pieces promex's query parameters select (exporter/web/promex_query.py).

    ``None`` or no parts is a 503 with Retry-After (nothing to serve yet); a query promex
    refuses is a 400.  Meant for every route that serves parts (``/metrics``, ``/probe``).
    """
    try:
        selection = promex_query.parse(request.query)
    except promex_query.QueryError as exc:
        return text(400, f"bad query: {exc}\n")
    if not parts:
        return text(503, unavailable, [("Retry-After", "1")])
    gz = wants_gzip(request.headers.get("accept-encoding"))
    kind, content_type = exposition(request.headers.get("accept"))
    headers = [("Content-Type", content_type), ("Vary", "Accept, Accept-Encoding")]
    if gz:
        headers.append(("Content-Encoding", "gzip"))
    keep = selection.keeps if selection is not None else None
    if kind == OPENMETRICS:  # the parts' OpenMetrics forms, each made once (page.py), then # EOF
        parts = [*(part.openmetrics() for part in parts), END]
    elif kind == PROTOBUF:  # the parts' protobuf forms, each made once (page.py)
        parts = [part.protobuf() for part in parts]
    return Response(200, headers, [chunk for part in parts for chunk in part.chunks(gz, keep)])


END = Part.of(EOF)  # the end of an OpenMetrics page, sent after its parts


def looks_like_an_address(name: str) -> bool:
    """A ``target`` that names a socket rather than a configured target: refused, never connected to."""
    if "/" in name or "@" in name or name.startswith("["):
        return True
    try:
        parse_address(name)
    except AddressError:
        return False
    return ":" in name


class BadQuery(ValueError):
    """A query parameter of ours (``debug``) with a value it cannot have: 400."""


def wants_debug(query: str) -> bool:
    """``debug=true`` (blackbox's word) asks for the debug view; absent or ``false``, the page."""
    given = parse_qs(query, keep_blank_values=True).get("debug")
    if given is None or given == ["false"]:
        return False
    if given == ["true"]:
        return True
    raise BadQuery("debug must be given once, as debug=true or debug=false")


def debug_response(config: Config, target: TargetConfig, store: Store) -> Response:
    return text(200, debug_text(config, target, store))


def probe(request: Request, store: Store, config: Config) -> Response:
    """``/probe?target=<name>``: one configured target's page (Prometheus's multi-target pattern),
    or with ``debug=true`` the record of its last poll (exporter/web/view.py).

    Only configured names are served: a missing ``target`` or one that reads as an address is 400,
    any other unknown name 404, so nothing in a URL can make the exporter connect anywhere.
    """
    wanted = parse_qs(request.query, keep_blank_values=True).get("target")
    if not wanted or len(wanted) != 1 or not wanted[0]:
        return text(400, "probe needs exactly one target=<name> of the exporter's targets\n")
    name = wanted[0]
    known = {t.name: t for t in config.targets}
    if name not in known:
        if looks_like_an_address(name):
            return text(400, "target must be the name of a configured target, not an address\n")
        return text(404, "no such target\n")
    try:
        if wants_debug(request.query):
            return debug_response(config, known[name], store)
    except BadQuery as exc:
        return text(400, f"{exc}\n")
    return parts_response(store.probe(name), request)


def metrics_page(request: Request, store: Store, config: Config) -> Response:
    """The telemetry path: the page, or with ``debug=true`` the single HAProxy's last poll; with
    several targets each has its own debug view, at ``/probe?target=<name>&debug=true``."""
    try:
        debug = wants_debug(request.query)
    except BadQuery as exc:
        return text(400, f"{exc}\n")
    if not debug:
        return parts_response(store.parts(), request)
    if config.multi_target:
        return text(400, "with several targets, ask each for its debug view: /probe?target=<name>&debug=true\n")
    return debug_response(config, config.haproxy, store)


def route_table(config: Config, store: Store, healthy: Callable[[], bool],
                waiting: Callable[[], str | None] = lambda: None) -> dict[str, Handler]:
    """Path → handler for ``config``.  Add a route here; every route gets auth, the method check
    (GET and HEAD) and the web config's headers from the protocol layer.

    ``/healthz`` and ``/-/healthy`` say whether the poll loop is alive (exporter/poll/poller.py,
    ``healthy``); ``/-/ready`` whether there is something to serve: 200 once every target has
    completed a poll, good or failed, and before that 503 with ``waiting``'s one-line reason.
    """

    landing_page = Landing(config, store)

    def metrics(request: Request) -> Response:
        return metrics_page(request, store, config)

    def landing(_request: Request) -> Response:
        return Response(200, [("Content-Type", HTML)], [landing_page.page().encode()])

    def health(_request: Request) -> Response:
        ok = healthy()
        return text(200 if ok else 503, "OK\n" if ok else "poll loop not running\n")

    def ready(_request: Request) -> Response:
        reason = waiting()
        if reason is None:
            return text(200, "OK\n")
        return text(503, " ".join(reason.split()) + "\n", [("Retry-After", "1")])

    def probe_target(request: Request) -> Response:
        return probe(request, store, config)

    return {config.web.telemetry_path: metrics, "/probe": probe_target, "/": landing, "/healthz": health,
            "/-/healthy": health, "/-/ready": ready}


def dispatch(request: Request, table: Mapping[str, Handler], authorized: bool) -> Response:
    """Auth on every path (as the exporter-toolkit), then the path (404), then the method (405)."""
    if not authorized:
        return text(401, "Unauthorized\n", [("WWW-Authenticate", AUTH_CHALLENGE)])
    handler = table.get(request.path)
    if handler is None:
        return text(404, "not found\n")
    if request.method not in ALLOWED_METHODS:
        return text(405, "method not allowed\n", [("Allow", ", ".join(ALLOWED_METHODS))])
    return handler(request)
