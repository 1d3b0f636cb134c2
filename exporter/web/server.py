"""HTTP side: serve the latest published exposition, a landing page and a health check.

One asyncio event loop in its own thread serves every connection; a connection costs a few
objects and a timer, not a thread, so thousands of idle or slow clients hold little memory and
no scheduler time.  Handlers only read the store's current reference and hand its bytes to the
socket, so scrapes never touch HAProxy and never render.

What bounds a client (docs/reliability.md, "Serving limits"): ``web.max_connections`` (beyond
it a new connection gets a short 503 and is closed), the timers of exporter/web/protocol.py,
the listen backlog, the TLS handshake timeout, and the descriptor reserve of
exporter/web/limits.py (accepting pauses near the open file limit and on EMFILE, with one log
line per episode, so the poll of HAProxy always has descriptors).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import threading
from typing import Any, Callable, Sequence

from exporter.clock import SYSTEM_CLOCK, Clock
from exporter.config import Config, parse_listen_address
from exporter.poll.snapshot import Store
from exporter.web import limits
from exporter.web.auth import PasswordChecks
from exporter.web.config import WebConfig
from exporter.web.protocol import Connection
from exporter.web.routes import CONTENT_TYPE, Handler, Request, Response, dispatch, route_table
from exporter.web.tls import ReloadingContext

__all__ = ["CONTENT_TYPE", "ListenError", "Server", "start_server"]

log = logging.getLogger("exporter.web.server")
ACCEPT_BATCH = 64  # accepts per wake-up, so a burst of connects does not starve open connections
ACCEPT_BACKOFF = 1.0  # seconds accepting pauses on EMFILE/ENFILE or near the descriptor limit
_REFUSED_BODY = b"too many connections (web.max_connections)\n"
REFUSED = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
           b"Content-Length: %d\r\nRetry-After: 1\r\nConnection: close\r\n\r\n%s" % (len(_REFUSED_BODY), _REFUSED_BODY))


class ListenError(OSError):
    """An address of ``web.listen_address`` could not be listened on (its text in ``address``)."""

    def __init__(self, address: str, exc: OSError) -> None:
        super().__init__(exc.errno, exc.strerror or str(exc))
        self.address = address


def socket_name(sock: socket.socket) -> str:
    """Where a listening socket listens, written as ``web.listen_address`` writes it (a UNIX
    socket, which only socket activation hands over, as unix:PATH)."""
    name = sock.getsockname()
    if sock.family == socket.AF_INET6:
        return f"[{name[0]}]:{name[1]}"
    if sock.family == socket.AF_INET:
        return f"{name[0]}:{name[1]}"
    return f"unix:{name.decode(errors='replace') if isinstance(name, bytes) else name}"


def never_waiting() -> str | None:
    return None


class Episode:
    """A condition logged when it starts and when it ends, not once per event (EMFILE at every
    accept would otherwise be thousands of lines a second)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.active = False
        self.count = 0  # events over the server's life

    def hit(self, message: str, *args: object) -> None:
        self.count += 1
        if not self.active:
            self.active = True
            log.warning(message, *args)

    def clear(self, message: str, *args: object) -> None:
        if self.active:
            self.active = False
            log.info(message, *args)


class Server:
    """The listening sockets, the accept loop and all connections, on one event loop thread.

    It listens on every address of ``web.listen_address``, or on the ``sockets`` handed to it
    (systemd's, with ``--web.systemd-socket``: exporter/web/activation.py), which it neither binds
    nor gives a backlog (the socket unit's ``Backlog=`` applies).

    ``config`` and ``web`` may be replaced from another thread (SIGHUP); the loop reads them per
    connection and per request, so timeouts, limits, paths, TLS and users apply to new requests.
    It is its connections' ``Host`` (exporter/web/protocol.py), by shape: mypy checks it where a
    ``Connection`` is made.
    """

    def __init__(self, config: Config, store: Store, healthy: Callable[[], bool],
                 web: WebConfig | None = None, clock: Clock = SYSTEM_CLOCK,
                 waiting: Callable[[], str | None] = never_waiting,
                 sockets: Sequence[socket.socket] | None = None) -> None:
        self.store = store
        self.clock = clock  # the edge's; when the TLS files are looked at again
        self.healthy = healthy
        self.waiting = waiting  # why the exporter is not ready yet (/-/ready), None once it is
        self._config = config
        self.web = web
        self.inherited = sockets is not None
        # first: an address in use must not leave a loop behind
        self.listeners = list(sockets) if sockets is not None else self._listen_all(config)
        first = self.listeners[0].getsockname()
        self.server_address: Any = first[:2] if isinstance(first, tuple) else first
        self.loop = asyncio.new_event_loop()
        self.loop.set_exception_handler(self._loop_exception)
        self.connections: set[Connection] = set()  # from accept (TLS handshakes included) to close
        self._setups: set[asyncio.Task[None]] = set()
        self._routes: tuple[Config, dict[str, Handler]] | None = None
        self._tls: tuple[WebConfig, ReloadingContext] | None = None
        self.passwords = PasswordChecks(self.loop)  # outlives a SIGHUP: right passwords stay known
        self.counts: dict[str, int] = {}  # client misbehaviour by kind (see note)
        self._listening = False
        self._resume: asyncio.TimerHandle | None = None
        self.fd_episode = Episode("fds")
        self.cap_episode = Episode("max_connections")
        self._thread = threading.Thread(target=self._run, name="http", daemon=True)

    # -- settings from the main thread ------------------------------------------------------

    @property
    def config(self) -> Config:
        return self._config

    @config.setter
    def config(self, new: Config) -> None:
        old, self._config = self._config, new
        if new.web.listen_backlog != old.web.listen_backlog and self._thread.is_alive():
            self.loop.call_soon_threadsafe(self._relisten, new.web.listen_backlog)

    def _relisten(self, backlog: int) -> None:
        """Linux applies a new backlog to a listening socket on a second listen()."""
        if self.inherited:
            return  # systemd's sockets keep the socket unit's Backlog=
        for listener in self.listeners:
            if listener.fileno() >= 0:
                listener.listen(backlog)

    # -- start and stop ----------------------------------------------------------------------

    @staticmethod
    def _listen_all(config: Config) -> list[socket.socket]:
        """A socket on every address, or none: one that cannot be had closes the others."""
        sockets: list[socket.socket] = []
        try:
            for address in config.web.listen_address:
                sockets.append(Server._listen(address, config.web.listen_backlog))
        except ListenError:
            for sock in sockets:
                sock.close()
            raise
        return sockets

    @staticmethod
    def _listen(address: str, backlog: int) -> socket.socket:
        host, port = parse_listen_address(address)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(backlog)
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            raise ListenError(address, exc) from None
        return sock

    def addresses(self) -> list[str]:
        """Where it listens, one text per socket."""
        return [socket_name(sock) for sock in self.listeners if sock.fileno() >= 0]

    def _any_open(self) -> bool:
        return any(sock.fileno() >= 0 for sock in self.listeners)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self._start_accepting()
        try:
            self.loop.run_forever()
        finally:
            self._finish()

    def _finish(self) -> None:
        """After the loop stopped: end what is left (cancelled setups) and close the loop."""
        pending = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self.loop.close()

    def shutdown(self) -> None:
        """Stop accepting, drop every connection and stop the loop; returns within ~2 s."""
        if self._thread.is_alive():
            try:
                self.loop.call_soon_threadsafe(self._stop)
            except RuntimeError:  # the loop is already closed
                pass
            self._thread.join(timeout=2.0)
        self.passwords.close()

    def server_close(self) -> None:
        for listener in self.listeners:
            listener.close()

    def _stop(self) -> None:
        self._stop_accepting()
        for listener in self.listeners:
            listener.close()
        for task in list(self._setups):
            task.cancel()
        for conn in list(self.connections):
            conn.abort()
        self.loop.call_soon(self.loop.stop)  # after the aborts' connection_lost callbacks

    # -- accepting ---------------------------------------------------------------------------

    def _start_accepting(self) -> None:
        self._resume = None
        if not self._listening and self._any_open():
            for listener in self.listeners:
                if listener.fileno() >= 0:
                    self.loop.add_reader(listener.fileno(), self._accept, listener)
            self._listening = True

    def _stop_accepting(self) -> None:
        if self._listening:
            for listener in self.listeners:
                if listener.fileno() >= 0:
                    self.loop.remove_reader(listener.fileno())
            self._listening = False

    def _back_off(self) -> None:
        """Pause accepting (the kernel keeps new connects in the backlog) for a while, or until
        a connection closes and gives a descriptor back."""
        self._stop_accepting()
        if self._resume is None:
            self._resume = self.loop.call_later(ACCEPT_BACKOFF, self._retry_accepting)

    def _retry_accepting(self) -> None:
        """After a back-off: accept again only if descriptors are free now, so the clients waiting
        in the backlog are not taken one by one just to be refused."""
        self._resume = None
        limit = limits.fd_limit()
        if limits.open_fds(0) >= limit - min(limits.FD_RESERVE, limit // 4):
            self._resume = self.loop.call_later(ACCEPT_BACKOFF, self._retry_accepting)
            return
        self._start_accepting()

    def _accept(self, listener: socket.socket) -> None:
        for _ in range(ACCEPT_BATCH):
            if not self._listening:  # the last one paused accepting
                return
            try:
                sock, _peer = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in limits.RESOURCE_ERRNOS:
                    self.fd_episode.hit("cannot accept connections: %s (open file limit %d); accepting "
                                        "pauses and resumes as descriptors free up", exc.strerror, limits.fd_limit())
                    self._back_off()
                    return
                if exc.errno in limits.TRANSIENT_ERRNOS:
                    continue
                log.error("accept failed: %s", exc)
                self._back_off()
                return
            self._admit(sock)

    def _admit(self, sock: socket.socket) -> None:
        limit = limits.fd_limit()
        reserve = min(limits.FD_RESERVE, limit // 4)
        fd = sock.fileno()
        if limits.within_reserve(fd, limit, reserve):
            self.fd_episode.hit("open files near the limit (descriptor %d of %d, %d kept for polling "
                                "HAProxy): accepting pauses until connections close", fd, limit, reserve)
            self._refuse(sock, polite=False)
            self._back_off()
            return
        if self.fd_episode.active and limits.open_fds(fd + 1) < limit - 2 * reserve:
            self.fd_episode.clear("accepting connections again (%d of %d descriptors open)",
                                  limits.open_fds(fd + 1), limit)
        web = self.web
        tls = web is not None and web.tls is not None and web.context is not None
        open_now = len(self.connections)
        cap = self._config.web.max_connections
        if open_now >= cap:
            self.cap_episode.hit("web.max_connections (%d) reached: new connections get 503 until "
                                 "some close", cap)
            self._refuse(sock, polite=not tls)
            return
        if open_now < cap - max(1, cap // 10):
            self.cap_episode.clear("below web.max_connections (%d) again", cap)
        try:
            sock.setblocking(False)
            if sock.family != socket.AF_UNIX:  # a UNIX socket systemd handed over has no Nagle to turn off
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            sock.close()
            return
        conn = Connection(self, self._tls_context(web) if tls else None)
        self.connections.add(conn)  # counted from now on, through the TLS handshake
        task = self.loop.create_task(self._setup(sock, conn))
        self._setups.add(task)
        task.add_done_callback(self._setups.discard)

    @staticmethod
    def _refuse(sock: socket.socket, polite: bool) -> None:
        """Close at once; on plain HTTP say why first.  What the client already sent is read
        first, so the close is a FIN and the 503 is not destroyed by a reset."""
        try:
            sock.setblocking(False)
            if polite:
                try:
                    sock.recv(65536)
                except OSError:
                    pass
                sock.send(REFUSED)
        except OSError:
            pass
        finally:
            sock.close()

    async def _setup(self, sock: socket.socket, conn: Connection) -> None:
        """Make the transport; a TLS handshake is then the connection's own business."""
        try:
            await self.loop.connect_accepted_socket(lambda: conn, sock)
        except OSError as exc:  # asyncio has closed the transport and with it the socket
            self.note("setup_failed", str(exc) or type(exc).__name__, "")
            conn.release()

    def _tls_context(self, web: WebConfig | None) -> ssl.SSLContext:
        """The context for a new connection: web's own, swapped when its files change."""
        if self._tls is None or self._tls[0] is not web:
            assert web is not None and web.tls is not None and web.context is not None
            self._tls = (web, ReloadingContext(web.path, web.tls, web.context, web.signature, self.clock))
        return self._tls[1].context()

    # -- connections -------------------------------------------------------------------------

    def detached(self, conn: Connection) -> None:
        """A connection ended (or never started): its descriptor is free, accept again."""
        self.connections.discard(conn)
        if not self._listening and self._resume is not None and self._any_open():
            self._resume.cancel()
            self._start_accepting()

    def respond(self, request: Request, authorized: bool) -> Response:
        config = self._config
        if self._routes is None or self._routes[0] is not config:
            self._routes = (config, route_table(config, self.store, self.healthy, self.waiting))
        return dispatch(request, self._routes[1], authorized)

    def note(self, kind: str, detail: str, peer: str) -> None:
        """Count client misbehaviour; the first of each kind is logged at info, the rest at debug."""
        detail = detail if len(detail) <= 200 else detail[:200] + "..."  # client bytes, bounded
        seen = self.counts.get(kind, 0)
        self.counts[kind] = seen + 1
        if seen == 0:
            log.info("%s from %s: %s (further ones are logged at debug level)", kind, peer or "a client", detail)
        else:
            log.debug("%s from %s: %s", kind, peer or "a client", detail)

    def _loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """asyncio reports a client's failed transport here; one of each kind is enough."""
        exc = context.get("exception")
        if isinstance(exc, OSError):
            self.note("transport_error", f"{context.get('message')}: {exc}", "")
            return
        log.error("HTTP event loop: %s", context.get("message"), exc_info=exc)


def start_server(config: Config, store: Store, healthy: Callable[[], bool],
                 web: WebConfig | None = None, clock: Clock = SYSTEM_CLOCK,
                 waiting: Callable[[], str | None] = never_waiting,
                 sockets: Sequence[socket.socket] | None = None) -> Server:
    """Listen (a :class:`ListenError` if an address cannot be had) and serve from a new thread."""
    server = Server(config, store, healthy, web, clock, waiting, sockets)
    server.start()
    how = " (sockets from systemd)" if sockets is not None else ""
    log.info("listening on %s%s, metrics at %s", ", ".join(server.addresses()), how, config.web.telemetry_path)
    return server
