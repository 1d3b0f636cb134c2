"""The TLS context for new connections, rebuilt when the certificate or key files change.

Certificates are renewed by tools that replace the files (certbot, cert-manager, Vault agents)
and expect the server to notice, as the exporter-toolkit does; waiting for a SIGHUP would serve
an expired certificate.  The files are stat'ed (inode, size, mtime) when a connection arrives, at
most once per ``check_every`` seconds, and reloaded when that signature differs from the one
taken before the current context was built (at load, SIGHUP included, or at the last reload): a
renewal at any time after the files were read, before the first connection too, is seen.  A new
pair that does not load (a key not yet written, a mismatched pair) keeps the old context
serving and is reported once; the next change of the files is tried again.
"""

from __future__ import annotations

import logging
import ssl

from exporter.clock import Clock
from exporter.validation import ConfigError
from exporter.web.config import Signature, TLSSettings, file_signature, signed_context, tls_files

log = logging.getLogger("exporter.web.tls")
RECORD = 16 * 1024  # the most plaintext one TLS record carries (RFC 8446, 5.1)


class ReloadingContext:
    """Hands out the current server context; swaps in a new one when the files change.

    ``signature`` is that of the files ``context`` was built from, taken before they were read
    (config.signed_context), not when the first connection arrives."""

    def __init__(self, config_path: str, tls: TLSSettings, context: ssl.SSLContext, signature: Signature,
                 clock: Clock, check_every: float = 1.0) -> None:
        self._path = config_path
        self._tls = tls
        self._context = context
        self._check_every = check_every
        self._clock = clock
        self._files = tls_files(tls)
        self._loaded = signature  # what the current context was built from
        self._refused: Signature | None = None  # a signature that failed to load: not retried
        self._next_check = clock.monotonic()  # the first connection checks
        self.reloads = 0

    def context(self) -> ssl.SSLContext:
        now = self._clock.monotonic()
        if now >= self._next_check:
            self._next_check = now + self._check_every
            self._maybe_reload()
        return self._context

    def _maybe_reload(self) -> None:
        current = file_signature(self._files)
        if current == self._loaded or current == self._refused:
            return
        try:
            context, signature = signed_context(self._path, self._tls)
        except ConfigError as exc:
            self._refused = current
            log.error("TLS files changed but cannot be loaded, still serving the previous certificate: %s", exc)
            return
        self._context, self._loaded, self._refused = context, signature, None
        self.reloads += 1
        log.info("TLS certificate and key reloaded from %s", self._tls.cert_file)


class TLSLayer:
    """TLS for one connection over memory BIOs, driven by the connection's own protocol.

    asyncio's SSL transport allocates a 256 KiB read buffer per connection up front, so clients
    that open a TCP connection and never say hello hold that much each (BENCHMARKS.md); here a
    pending handshake costs OpenSSL's own state only.  It also keeps one flow control for plain and TLS
    connections: ciphertext goes out the same way, record by record.
    """

    def __init__(self, context: ssl.SSLContext) -> None:
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._obj = context.wrap_bio(self._in, self._out, server_side=True)
        self.established = False

    def handshake(self, data: bytes) -> tuple[bytes, bool]:
        """Feed the client's bytes; returns (bytes to send, handshake done).  Raises
        ssl.SSLError when the client cannot be served (no certificate, bad hello)."""
        self._in.write(data)
        try:
            self._obj.do_handshake()
        except ssl.SSLWantReadError:
            return self._out.read(), False
        self.established = True
        return self._out.read(), True

    def receive(self, data: bytes) -> tuple[bytes, bytes, bool]:
        """Feed ciphertext; returns (plaintext, bytes to send, the client closed its TLS side)."""
        if data:
            self._in.write(data)
        chunks, closed = [], False
        while True:
            try:
                chunk = self._obj.read(64 * 1024)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:  # close_notify
                closed = True
                break
            if not chunk:
                closed = True
                break
            chunks.append(chunk)
        return b"".join(chunks), self._out.read(), closed

    def encrypt(self, data: bytes | memoryview) -> bytes:
        """The ciphertext of ``data``, one record at a time.

        The outgoing memory BIO keeps the largest buffer it ever needed until the connection
        closes (OpenSSL grows it and never shrinks it), so it is emptied after every record:
        whatever the caller passes, the BIO never holds more than one record's ciphertext.
        """
        if not data:
            return b""
        if len(data) <= RECORD:  # the sending path's case: one record, no list, no join
            self._obj.write(data)  # all of it: a memory BIO never pushes back
            return self._out.read()
        view = memoryview(data)
        out = []
        while view:
            written = self._obj.write(view[:RECORD])
            view = view[written:]
            out.append(self._out.read())
        return b"".join(out)

    def close_notify(self) -> bytes:
        """Our close_notify alert; the client's is not waited for (as Go's server does)."""
        try:
            self._obj.unwrap()
        except (ssl.SSLError, ValueError):
            pass
        return self._out.read()
