"""The TLS context for new connections, rebuilt when the certificate or key files change.

Certificates are renewed by tools that replace the files (certbot, cert-manager, Vault agents)
and expect the server to notice, as the exporter-toolkit does; waiting for a SIGHUP would serve
an expired certificate.  The files are stat'ed (inode, size, mtime) at most once per
``check_every`` seconds when a connection arrives, and reloaded only when that signature
changes.  A new pair that does not load (a key not yet written, a mismatched pair) keeps the
old context serving and is reported once; the next change of the files is tried again.
"""

from __future__ import annotations

import logging
import os
import ssl
import time
from typing import Callable

from exporter.validation import ConfigError
from exporter.web.config import TLSSettings, ssl_context

log = logging.getLogger("exporter.web.tls")
Signature = tuple[tuple[int, int, int, int], ...]


def file_signature(paths: list[str]) -> Signature:
    """(device, inode, size, mtime) of each file; a missing file gives zeros, which also differ."""
    out = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            out.append((0, 0, -1, 0))
        else:
            out.append((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(out)


class ReloadingContext:
    """Hands out the current server context; swaps in a new one when the files change."""

    def __init__(self, config_path: str, tls: TLSSettings, context: ssl.SSLContext,
                 check_every: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._path = config_path
        self._tls = tls
        self._context = context
        self._check_every = check_every
        self._clock = clock
        self._files = [p for p in (tls.cert_file, tls.key_file, tls.client_ca_file) if p]
        self._loaded = file_signature(self._files)  # what the current context was built from
        self._refused: Signature | None = None  # a signature that failed to load: not retried
        self._next_check = clock() + check_every
        self.reloads = 0

    def context(self) -> ssl.SSLContext:
        now = self._clock()
        if now >= self._next_check:
            self._next_check = now + self._check_every
            self._maybe_reload()
        return self._context

    def _maybe_reload(self) -> None:
        signature = file_signature(self._files)
        if signature == self._loaded or signature == self._refused:
            return
        try:
            context = ssl_context(self._path, self._tls)
        except ConfigError as exc:
            self._refused = signature
            log.error("TLS files changed but cannot be loaded, still serving the previous certificate: %s", exc)
            return
        self._context, self._loaded, self._refused = context, signature, None
        self.reloads += 1
        log.info("TLS certificate and key reloaded from %s", self._tls.cert_file)
