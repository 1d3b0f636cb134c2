"""One client connection: h11 parses requests strictly, the connection owns every timer.

An asyncio Protocol of our own rather than streams, so that a response's bytes are never copied
(exporter/web/send.py) and every deadline is a plain timer.  Apart from the sending: what to
answer and when is this module's (the request head, its deadlines, the password check,
keep-alive, pipelining); how the bytes reach the socket (written directly or through the
transport, TLS records, progress) is the sender's, which knows nothing of HTTP.  One TLS layer
(exporter/web/tls.py) serves both: the handshake and what is read here, what is written there.
What the connection needs of the server is its :class:`Host`, so this module does not import it.

Timers are plain loop timers, one per connection at a time:

* the request head must be complete within ``web.read_header_timeout`` of its first byte (of
  the connection, for the first request): a drip of bytes does not extend it;
* between requests a keep-alive connection may stay silent for ``web.idle_timeout``;
* a response is checked every ``_SEND_CHECK`` seconds for progress (bytes taken by the client:
  a write that went through, the transport's buffer or the kernel's unacknowledged bytes
  shrinking); none for
  ``web.write_stall_timeout`` aborts it, as does ``web.write_timeout`` for the whole response;
* a client waiting for its password check is looked at every ``_AUTH_WATCH`` seconds.

Reading is paused while a response is sent, so a client cannot make us buffer requests it
pipelines behind a slow one, and h11 bounds an incomplete head to ``MAX_HEAD_BYTES``.
"""

from __future__ import annotations

import asyncio
import enum
import http
import re
import select
import ssl
import time
from email.utils import formatdate
from typing import Callable, Protocol, Sequence, cast

import h11

from exporter import __version__
from exporter.config import Config
from exporter.web.auth import Busy, PasswordChecks
from exporter.web.config import WebConfig
from exporter.web.routes import ALLOWED_METHODS, Request, Response, text
from exporter.web.send import Sender
from exporter.web.tls import TLSLayer

MAX_HEAD_BYTES = 16 * 1024  # request line and headers; beyond it, 431 and close
_SEND_CHECK = 1.0  # seconds between progress checks of a response being sent
_AUTH_WATCH = 0.5  # seconds between checks that a client waiting for its password check is still there
SERVER_HEADER = f"haproxy-runtime-exporter/{__version__}"
_CLOSE_AFTER = {400, 408, 413, 431, 505}  # the request stream cannot be trusted after these
# method SP request-target SP HTTP-version: checked as soon as the first line is complete, so an
# HTTP/0.9 request ("GET /metrics" and nothing else) is refused at once, not at the head deadline.
_REQUEST_LINE = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+ [^\x00-\x20\x7f]+ HTTP/[0-9]\.[0-9]\r?\n")


class Phase(enum.Enum):
    HANDSHAKE = "TLS handshake"
    HEAD = "reading a request head"
    IDLE = "idle between requests"
    RESPOND = "sending a response"
    CLOSING = "closing"
    CLOSED = "closed"


class BadRequest(Exception):
    """A request the protocol layer refuses; ``status`` is sent and the connection closed."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def http_date(now: float | None = None) -> str:
    """The Date header."""
    return formatdate(int(time.time() if now is None else now), usegmt=True)


def _hung_up(fd: int) -> bool:
    """The client closed its side or reset (POLLRDHUP), seen without reading from the socket."""
    if fd < 0:
        return False
    poller = select.poll()
    poller.register(fd, select.POLLRDHUP)
    try:
        return any(events & (select.POLLRDHUP | select.POLLHUP | select.POLLERR) for _, events in poller.poll(0))
    except OSError:
        return False


def request_of(event: h11.Request) -> Request:
    """A :class:`Request` from h11's event, or :class:`BadRequest` for what h11 lets through."""
    if event.http_version not in (b"1.0", b"1.1"):
        raise BadRequest(505, f"HTTP version {event.http_version.decode('ascii', 'replace')}")
    headers: dict[str, str] = {}
    hosts = 0
    for name, value in event.headers:
        key = name.decode("ascii")
        hosts += key == "host"
        text_value = value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text_value}" if key in headers else text_value
    if hosts > 1:
        raise BadRequest(400, "more than one Host header")
    target = event.target.decode("ascii", "replace")
    if target.startswith("/"):
        path, _, query = target.partition("?")
    elif target.lower().startswith(("http://", "https://")):  # absolute form (RFC 9112 §3.2.2)
        rest = target.split("://", 1)[1]
        slash = rest.find("/")
        path, _, query = (rest[slash:] if slash >= 0 else "/").partition("?")
    else:
        raise BadRequest(400, "request target is not a path")
    method = event.method.decode("ascii")
    size = len(event.method) + len(event.target) + 12 + sum(len(n) + len(v) + 4 for n, v in event.headers)
    if size > MAX_HEAD_BYTES:  # h11 bounds only an incomplete head; a complete one arrives whole
        raise BadRequest(431, f"request head of {size} bytes")
    has_body = "transfer-encoding" in headers or headers.get("content-length", "0") != "0"
    if has_body and method in ALLOWED_METHODS:
        raise BadRequest(400, f"{method} with a body (Content-Length or Transfer-Encoding)")
    return Request(method, path, query, headers)


class Host(Protocol):
    """What a connection needs of the server that accepted it (exporter/web/server.py's
    ``Server``), declared here so that this module never imports the server, which imports it.

    ``config`` and ``web`` are read per use, not kept: a SIGHUP replaces them for the next
    request of a connection already open."""

    @property
    def config(self) -> Config: ...

    @property
    def web(self) -> WebConfig | None: ...

    @property
    def loop(self) -> asyncio.AbstractEventLoop: ...

    @property
    def passwords(self) -> PasswordChecks: ...

    def note(self, kind: str, detail: str, peer: str) -> None:
        """Count (and log once) a client's misbehaviour of this kind."""

    def respond(self, request: Request, authorized: bool) -> Response:
        """The answer to a request, its credentials checked."""

    def detached(self, conn: Connection) -> None:
        """The connection ended and gives its slot back."""


class Connection(asyncio.Protocol):
    """The life of one accepted connection, from its first byte to its close.

    Slotted, as is its sender: thousands of idle connections are the cheap case the server is
    built for, and an instance without a ``__dict__`` takes less than the split added."""

    __slots__ = ("host", "tls", "loop", "transport", "h11", "phase", "peer", "_timer", "_released", "_head_bytes",
                 "_line_checked", "_sender", "_close_after", "_auth_wait", "_auth_deadline")

    def __init__(self, host: Host, context: ssl.SSLContext | None) -> None:
        self.host = host
        self.tls = TLSLayer(context) if context is not None else None
        self.loop = host.loop
        self.transport: asyncio.Transport | None = None
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
        self.phase = Phase.HEAD
        self.peer = "?"
        self._timer: asyncio.TimerHandle | None = None
        self._released = False
        self._head_bytes = 0
        self._line_checked = False
        self._sender: Sender | None = None  # from connection_made on
        self._close_after = False
        self._auth_wait: tuple[Request, bool, asyncio.Future[bool]] | None = None  # a password check waited for
        self._auth_deadline = 0.0

    # -- lifecycle ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._sender = Sender(self, self.loop, transport, self.tls, transport.get_extra_info("socket"))
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        if self.tls is not None:
            self.phase = Phase.HANDSHAKE
            self._arm(self.host.config.web.tls_handshake_timeout, self._handshake_timeout)
        else:
            self._begin_head()  # the first head's deadline runs from the connection's start

    def connection_lost(self, exc: Exception | None) -> None:
        self.phase = Phase.CLOSED
        self._cancel_auth()
        self._cancel_timer()
        if self._sender is not None:
            self._sender.drop()
        self.release()

    def release(self) -> None:
        """Give the connection's slot back to the server, exactly once."""
        if not self._released:
            self._released = True
            self.host.detached(self)

    def abort(self) -> None:
        if self._sender is not None:
            self._sender.end()  # its duplicate descriptor would keep the socket open
        if self.transport is not None:
            self.transport.abort()

    # -- timers ------------------------------------------------------------------------------

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm(self, delay: float, callback: Callable[[], object]) -> None:
        self._cancel_timer()
        self._timer = self.loop.call_later(delay, callback)

    def _begin_head(self) -> None:
        self.phase = Phase.HEAD
        self._head_bytes = 0
        self._line_checked = False
        self._arm(self.host.config.web.read_header_timeout, self._head_timeout)

    def _head_timeout(self) -> None:
        self._timer = None
        if self.phase is not Phase.HEAD:
            return
        started = self._head_bytes > 0
        self.host.note("header_timeout", f"request head not complete within "
                       f"{self.host.config.web.read_header_timeout:g}s", self.peer)
        if started:  # someone is there to read why
            self._write_error(408, "request head not complete in time\n")
        self._close()

    def _handshake_timeout(self) -> None:
        self._timer = None
        if self.phase is Phase.HANDSHAKE:
            self.host.note("tls_handshake_failed", f"no handshake within "
                           f"{self.host.config.web.tls_handshake_timeout:g}s", self.peer)
            self.abort()

    def _idle_timeout(self) -> None:
        self._timer = None
        if self.phase is Phase.IDLE:
            self._close()

    # -- reading -----------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self.phase in (Phase.CLOSING, Phase.CLOSED):
            return
        if self.tls is not None:
            self._tls_received(data)
            return
        self._plain_received(data)

    def _tls_received(self, data: bytes) -> None:
        assert self.tls is not None and self.transport is not None
        try:
            if self.phase is Phase.HANDSHAKE:
                out, done = self.tls.handshake(data)
                if out:
                    self.transport.write(out)
                if not done:
                    return
                self._begin_head()  # the head's deadline runs from the end of the handshake
                data = b""
            plain, out, closed = self.tls.receive(data)
        except ssl.SSLError as exc:
            self.host.note("tls_handshake_failed" if self.phase is Phase.HANDSHAKE else "tls_error",
                           str(exc), self.peer)
            self.abort()
            return
        if out:
            self.transport.write(out)
        if plain:
            self._plain_received(plain)
        if closed and self.phase in (Phase.HEAD, Phase.IDLE):
            self._end_of_input()

    def _plain_received(self, data: bytes) -> None:
        if self.phase in (Phase.CLOSING, Phase.CLOSED):
            return
        if self.phase is Phase.IDLE:
            self._begin_head()
        if self.phase is Phase.HEAD:
            self._head_bytes += len(data)
        self.h11.receive_data(data)
        if self.phase is Phase.HEAD:
            self._next_request()

    def eof_received(self) -> bool:
        if self.phase is Phase.HANDSHAKE:
            return False
        if self.phase in (Phase.HEAD, Phase.IDLE):
            self._end_of_input()
        # Keep our side open so the answer to a request sent before the EOF goes out.
        return self.phase is Phase.RESPOND

    def _end_of_input(self) -> None:
        self.h11.receive_data(b"")
        self._next_request()

    def _next_request(self) -> None:
        """Take the next complete request from h11's buffer, if there is one, and answer it."""
        try:
            event = self.h11.next_event()
            if event is h11.NEED_DATA:
                self._check_first_line()
                return
            if isinstance(event, h11.ConnectionClosed):
                self._close()
                return
            if not isinstance(event, h11.Request):
                raise BadRequest(400, f"unexpected {type(event).__name__}")
            request = request_of(event)
            if request.method in ALLOWED_METHODS:  # no body (refused above): the end of the message
                end = self.h11.next_event()
                if not isinstance(end, h11.EndOfMessage):
                    raise BadRequest(400, "request body")
        except h11.RemoteProtocolError as exc:
            if self.h11.their_state is h11.ERROR and "peer unexpectedly closed" in str(exc):
                self._close()  # gone in the middle of a head: nobody to answer
                return
            self._reject(exc.error_status_hint or 400, str(exc))
            return
        except BadRequest as exc:
            self._reject(exc.status, str(exc))
            return
        self._answer(request, body_pending=request.method not in ALLOWED_METHODS
                     and self.h11.their_state is not h11.DONE)

    def _check_first_line(self) -> None:
        """While the head is incomplete: once its first line is, it must be an HTTP/1.x one."""
        if self._line_checked:
            return
        buffered = self.h11.trailing_data[0].lstrip(b"\r\n")  # at most MAX_HEAD_BYTES
        end = buffered.find(b"\n")
        if end < 0:
            return
        self._line_checked = True
        if not _REQUEST_LINE.fullmatch(buffered, 0, end + 1):
            raise BadRequest(400, "not an HTTP/1.x request line")

    def _reject(self, status: int, reason: str) -> None:
        self.host.note("bad_request", f"{status} {reason}", self.peer)
        self._write_error(status, f"{http.HTTPStatus(status).phrase}\n")
        self._close()

    # -- answering ---------------------------------------------------------------------------

    def _answer(self, request: Request, body_pending: bool) -> None:
        """Check credentials (bcrypt off the loop when they are not remembered), then respond."""
        assert self.transport is not None
        self.phase = Phase.RESPOND
        self.transport.pause_reading()
        web = self.host.web
        auth = web.auth if web is not None else None
        if auth is None:
            self._respond(request, body_pending, True)
            return
        try:
            verdict = self.host.passwords.check(auth, request.headers.get("authorization"),
                                                self.peer.rpartition(":")[0] or self.peer)
        except Busy as exc:
            self._busy(request, exc)
            return
        if isinstance(verdict, bool):
            self._respond(request, body_pending, verdict)
            return
        # The check holds a weak reference to ``verdict`` only: this connection holds it, and
        # cancels it when it closes or gives up.
        self._auth_wait = (request, body_pending, verdict)
        self._auth_deadline = self.loop.time() + self.host.config.web.write_stall_timeout
        verdict.add_done_callback(self._after_auth)
        self._arm(_AUTH_WATCH, self._auth_watch)

    def _after_auth(self, done: asyncio.Future[bool]) -> None:
        if self._auth_wait is None or self._auth_wait[2] is not done or done.cancelled():
            return  # closed or given up meanwhile
        request, body_pending, _ = self._auth_wait
        self._auth_wait = None
        if self.phase is not Phase.RESPOND or (self._sender is not None and self._sender.sending):
            return
        error = done.exception()
        if isinstance(error, Busy):
            self._busy(request, error)
            return
        self._respond(request, body_pending, error is None and done.result())

    def _auth_watch(self) -> None:
        """While the password check waits: a client that hung up cancels it (reading is paused,
        so its FIN is seen by polling); one that waited ``web.write_stall_timeout`` gets 503."""
        self._timer = None
        if self._auth_wait is None or self.phase is not Phase.RESPOND:
            return
        if _hung_up(self._sender.fd if self._sender is not None else -1):
            self.host.note("auth_abandoned", "client left while its password was being checked", self.peer)
            self._cancel_auth()
            self._close()
            return
        if self.loop.time() >= self._auth_deadline:
            request = self._auth_wait[0]
            self._cancel_auth()
            self._busy(request, Busy(f"password check waited {self.host.config.web.write_stall_timeout:g}s"))
            return
        self._arm(_AUTH_WATCH, self._auth_watch)

    def _cancel_auth(self) -> None:
        if self._auth_wait is not None:
            future = self._auth_wait[2]
            self._auth_wait = None
            future.cancel()

    def _busy(self, request: Request, reason: Busy) -> None:
        """No room to check the password now: 503 and Retry-After, as for too many connections."""
        self.host.note("auth_busy", str(reason), self.peer)
        response = text(503, "too many password checks waiting; retry later\n", [("Retry-After", "1")])
        self._start_response(request.method == "HEAD", response, close=True)

    def _respond(self, request: Request, body_pending: bool, authorized: bool) -> None:
        response = self.host.respond(request, authorized)
        close = body_pending or response.status in _CLOSE_AFTER
        self._start_response(request.method == "HEAD", response, close)

    def _headers(self, response: Response, close: bool) -> list[tuple[str, str]]:
        headers = [("Date", http_date()), ("Server", SERVER_HEADER), *response.headers,
                   ("Content-Length", str(response.length))]
        web = self.host.web
        if web is not None:
            headers.extend(web.headers.items())
        if close:
            headers.append(("Connection", "close"))
        return headers

    def _start_response(self, head_only: bool, response: Response, close: bool) -> None:
        head = self.h11.send(h11.Response(status_code=response.status, headers=self._headers(response, close),
                                          reason=http.HTTPStatus(response.status).phrase.encode()))
        body: Sequence[bytes | memoryview] = () if head_only else [c for c in response.body if c]
        for chunk in body:
            # framing bookkeeping, no copy (h11 only takes the length of a passed-through chunk)
            self.h11.send_with_data_passthrough(h11.Data(data=cast(bytes, chunk)))
        self.h11.send(h11.EndOfMessage())
        self._close_after = close or self.h11.our_state is h11.MUST_CLOSE
        config = self.host.config
        self._arm(min(_SEND_CHECK, config.web.write_stall_timeout / 4), self._check_send)
        assert self._sender is not None
        self._sender.start([head, *body], config.web.write_timeout)

    # -- what the sender tells -------------------------------------------------------------

    def pause_writing(self) -> None:
        if self._sender is not None:
            self._sender.pause()

    def resume_writing(self) -> None:
        if self._sender is not None:
            self._sender.resume(responding=self.phase is Phase.RESPOND)

    def failed(self, kind: str, detail: str) -> None:
        """The sender cannot write to the client (gone, or TLS failed)."""
        self.host.note(kind, detail, self.peer)
        self.abort()

    def _check_send(self) -> None:
        """The send policy, asked of the sender (exporter/web/send.py) while a response or a
        close's flush is under way."""
        self._timer = None
        if self.phase not in (Phase.RESPOND, Phase.CLOSING) or self._sender is None:
            return
        config = self.host.config
        verdict = self._sender.verdict(config.web.write_stall_timeout)
        if verdict == "write_stalled":
            self.host.note("write_stalled", f"client took no byte for {config.web.write_stall_timeout:g}s", self.peer)
            self.abort()
            return
        if verdict == "write_timeout":
            self.host.note("write_timeout", f"response not sent within {config.web.write_timeout:g}s", self.peer)
            self.abort()
            return
        self._arm(min(_SEND_CHECK, config.web.write_stall_timeout / 4), self._check_send)

    def sent(self) -> None:
        """Every byte of the response is in the kernel: next request, or close."""
        if self._close_after:
            # Not from inside resume_writing: closing there makes asyncio's transport (3.11) call
            # connection_lost twice, so the close waits for the next loop iteration.
            self.loop.call_soon(self._close)
            return
        self._cancel_timer()
        self.h11.start_next_cycle()
        self.phase = Phase.IDLE
        self._arm(self.host.config.web.idle_timeout, self._idle_timeout)
        if self.h11.trailing_data[0]:  # a pipelined request already here: it first, then read more
            self._begin_head()
            self.loop.call_soon(self._pipelined)
        else:
            assert self.transport is not None
            self.transport.resume_reading()

    def _pipelined(self) -> None:
        """The next request already read, from the loop rather than from inside the send of the
        last answer: answered there, thousands pipelined in one read were a call chain thousands
        deep (RecursionError).  Reading stays paused until what was read is answered, so a client
        cannot make its buffered requests grow by pipelining faster than it reads."""
        if self.phase is not Phase.HEAD:
            return
        self._next_request()
        if self.phase is Phase.HEAD and self.transport is not None:  # the rest of a head is still to come
            self.transport.resume_reading()

    def _write_error(self, status: int, body: str) -> None:
        """A short error answer written directly: h11 may be in its ERROR state already."""
        if self._sender is None:
            return
        response = text(status, body)
        headers = self._headers(response, close=True)
        head = f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\n" + \
            "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
        self._sender.write_now(head.encode("latin-1") + b"".join(response.body))

    def _close(self) -> None:
        """Close after what was written has gone out; the send policy still watches the flush."""
        if self.phase in (Phase.CLOSING, Phase.CLOSED):
            return
        self.phase = Phase.CLOSING
        if self._sender is None:
            return
        config = self.host.config
        self._sender.close(flush_within=config.web.write_stall_timeout)
        self._arm(min(_SEND_CHECK, config.web.write_stall_timeout / 4), self._check_send)
