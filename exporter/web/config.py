"""``--web.config.file``: TLS and basic auth for /metrics, in the file format Prometheus exporters share.

The format is the exporter-toolkit's (node_exporter, haproxy_exporter, ...), so operators reuse
the file and the bcrypt hashes they already have::

    tls_server_config:
      cert_file: server.crt          # relative paths are relative to this file
      key_file: server.key
      client_ca_file: ca.crt         # optional: ask clients for a certificate
      client_auth_type: RequireAndVerifyClientCert
      min_version: TLS12
    basic_auth_users:
      prometheus: $2b$12$...         # htpasswd -nBC 12 "" | tr -d ':\\n'

Every mistake is a one-line :class:`ConfigError` naming ``web.config_file`` and the key.  Options
of the toolkit format that would weaken what an operator asked for if silently ignored
(cipher_suites, curve_preferences, client_allowed_sans, unverified client certificates) are
refused rather than dropped.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import ssl
import threading
from base64 import b64decode
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Mapping

from exporter.validation import ConfigError, read_yaml

KEY = "web.config_file"
_CLIENT_AUTH = {
    "": None,  # default: none, or RequireAndVerifyClientCert when client_ca_file is set (as the toolkit)
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
_UNVERIFIED_CLIENT_AUTH = ("RequestClientCert", "RequireAnyClientCert")
_TLS_VERSIONS = {"TLS10": ssl.TLSVersion.TLSv1, "TLS11": ssl.TLSVersion.TLSv1_1,
                 "TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}
_TLS_KEYS = {"cert_file", "key_file", "client_ca_file", "client_auth_type", "min_version", "max_version",
             "prefer_server_cipher_suites"}
_TLS_REFUSED = {"cipher_suites", "curve_preferences", "client_allowed_sans"}
_HTTP_KEYS = {"http2", "headers"}
_TOP_KEYS = {"tls_server_config", "basic_auth_users", "http_server_config"}
_BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")


def _error(path: str, where: str, problem: str) -> ConfigError:
    return ConfigError(f"{KEY}: {path}: {where}: {problem}")


@dataclass(frozen=True)
class TLSSettings:
    cert_file: str
    key_file: str
    client_ca_file: str | None = None
    verify_mode: int = ssl.CERT_NONE
    min_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2
    max_version: ssl.TLSVersion | None = None


Signature = tuple[tuple[int, int, int, int], ...]


@dataclass
class WebConfig:
    """What the HTTP server enforces; ``context`` is built once at load so a bad key fails at load,
    ``signature`` is that of the files it was built from (exporter/web/tls.py reloads on a change)."""

    path: str
    tls: TLSSettings | None = None
    context: ssl.SSLContext | None = None
    signature: Signature = ()
    users: dict[str, bytes] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    auth: "BasicAuth | None" = None


class BasicAuth:
    """Checks ``Authorization: Basic`` headers against bcrypt hashes, remembering recent results.

    bcrypt costs tens of milliseconds on purpose; Prometheus sends the same credentials on every
    scrape, so results are cached (as the exporter-toolkit does) under a keyed digest of the user
    and password, never the password itself.  The cache is bounded and per loaded file.
    """

    def __init__(self, users: Mapping[str, bytes], cache_size: int = 1024) -> None:
        self.users = dict(users)
        self._key = os.urandom(32)
        self._cache: OrderedDict[bytes, bool] = OrderedDict()
        self._size = cache_size
        self._lock = threading.Lock()
        self.bcrypt_checks = 0  # for tests and curiosity: how often the slow path ran
        self._dummy: bytes | None = None  # checked for unknown users: a wrong name costs as much as a wrong password

    def _dummy_hash(self) -> bytes:
        import bcrypt

        if self._dummy is None:
            rounds = int(next(iter(self.users.values()))[4:6]) if self.users else 10
            self._dummy = bcrypt.hashpw(os.urandom(16).hex().encode(), bcrypt.gensalt(rounds))
        return self._dummy

    def _digest(self, header: str | None) -> tuple[bytes, str, str] | None:
        credentials = _basic_credentials(header)
        if credentials is None:
            return None
        user, password = credentials
        return hmac.new(self._key, user.encode() + b"\0" + password.encode(), hashlib.sha256).digest(), user, password

    def cached(self, header: str | None) -> bool | None:
        """The verdict without bcrypt: known credentials or a header that is not Basic auth at
        all; None when only bcrypt can tell (the HTTP side then runs :meth:`check` off its loop)."""
        found = self._digest(header)
        if found is None:
            return False
        with self._lock:
            verdict = self._cache.get(found[0])
            if verdict is not None:
                self._cache.move_to_end(found[0])
            return verdict

    def check(self, header: str | None) -> bool:
        found = self._digest(header)
        if found is None:
            return False
        digest, user, password = found
        with self._lock:
            cached = self._cache.get(digest)
            if cached is not None:
                self._cache.move_to_end(digest)
                return cached
        ok = self._verify(user, password)
        with self._lock:
            self._cache[digest] = ok
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return ok

    def _verify(self, user: str, password: str) -> bool:
        import bcrypt

        hashed = self.users.get(user)
        self.bcrypt_checks += 1
        try:
            ok = bcrypt.checkpw(password.encode(), hashed if hashed is not None else self._dummy_hash())
        except ValueError:
            return False
        return ok and hashed is not None


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        decoded = b64decode(token.strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def _mapping(path: str, where: str, value: Any) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _error(path, where, f"expected a mapping, got {type(value).__name__}")
    return value


def _file(path: str, where: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise _error(path, where, f"expected a file path, got {value!r}")
    full = value if os.path.isabs(value) else os.path.join(os.path.dirname(os.path.abspath(path)), value)
    if not os.access(full, os.R_OK) or not os.path.isfile(full):
        raise _error(path, where, f"cannot read {full}")
    return full


def _tls(path: str, data: Mapping[str, Any]) -> TLSSettings:
    where = "tls_server_config"
    for key in data:
        if key in _TLS_REFUSED:
            raise _error(path, f"{where}.{key}", "not supported by this exporter; remove it "
                                                 "(ignoring it would weaken what the file asks for)")
        if key not in _TLS_KEYS:
            raise _error(path, f"{where}.{key}", "unknown key")
    for key in ("cert_file", "key_file"):
        if not data.get(key):
            raise _error(path, f"{where}.{key}", "required when tls_server_config is given")
    cert, key_file = _file(path, f"{where}.cert_file", data["cert_file"]), _file(path, f"{where}.key_file", data["key_file"])
    ca = _file(path, f"{where}.client_ca_file", data["client_ca_file"]) if data.get("client_ca_file") else None
    auth_type = data.get("client_auth_type") or ""
    if auth_type in _UNVERIFIED_CLIENT_AUTH:
        raise _error(path, f"{where}.client_auth_type", f"{auth_type} accepts unverified certificates and is not "
                                                        "supported; use VerifyClientCertIfGiven or RequireAndVerifyClientCert")
    if auth_type not in _CLIENT_AUTH:
        raise _error(path, f"{where}.client_auth_type",
                     f"expected one of {', '.join(k for k in _CLIENT_AUTH if k)}, got {auth_type!r}")
    mode = _CLIENT_AUTH[auth_type]
    if mode is None:
        mode = ssl.CERT_REQUIRED if ca else ssl.CERT_NONE
    if mode != ssl.CERT_NONE and ca is None:
        raise _error(path, f"{where}.client_ca_file", f"required for client_auth_type {auth_type}")
    versions = {}
    for key in ("min_version", "max_version"):
        value = data.get(key)
        if value is not None:
            if value not in _TLS_VERSIONS:
                raise _error(path, f"{where}.{key}", f"expected one of {', '.join(_TLS_VERSIONS)}, got {value!r}")
            versions[key] = _TLS_VERSIONS[value]
    return TLSSettings(cert, key_file, ca, mode, versions.get("min_version", ssl.TLSVersion.TLSv1_2),
                       versions.get("max_version"))


def tls_files(tls: TLSSettings) -> list[str]:
    """The files a context for ``tls`` is built from."""
    return [p for p in (tls.cert_file, tls.key_file, tls.client_ca_file) if p]


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


def signed_context(path: str, tls: TLSSettings) -> tuple[ssl.SSLContext, Signature]:
    """:func:`ssl_context` and the signature of its files taken just before they were read.

    Taken before, a file replaced while the context is being built (or at any time after) no
    longer matches, so the next check reloads it; taken after, the context could hold the old
    certificate under the new file's signature, and be served until the next renewal.
    """
    signature = file_signature(tls_files(tls))
    return ssl_context(path, tls), signature


def ssl_context(path: str, tls: TLSSettings) -> ssl.SSLContext:
    """A server context for ``tls``; a key that does not match or a bad file is a ConfigError."""
    where = "tls_server_config"
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.options |= ssl.OP_NO_RENEGOTIATION  # a client cannot restart the handshake mid-response
    ctx.minimum_version = tls.min_version
    if tls.max_version is not None:
        ctx.maximum_version = tls.max_version
    try:
        ctx.load_cert_chain(tls.cert_file, tls.key_file)
    except (ssl.SSLError, OSError) as exc:
        raise _error(path, f"{where}.cert_file/key_file", f"cannot load the certificate and key: {exc}") from None
    if tls.client_ca_file:
        try:
            ctx.load_verify_locations(tls.client_ca_file)
        except (ssl.SSLError, OSError) as exc:
            raise _error(path, f"{where}.client_ca_file", f"cannot load: {exc}") from None
    ctx.verify_mode = ssl.VerifyMode(tls.verify_mode)
    return ctx


def _users(path: str, data: Mapping[str, Any]) -> dict[str, bytes]:
    users: dict[str, bytes] = {}
    for user, hashed in data.items():
        where = f"basic_auth_users.{user}"
        if not isinstance(user, str) or not user or ":" in user:
            raise _error(path, where, "a user name must be a non-empty string without ':'")
        if not isinstance(hashed, str) or not hashed.startswith(_BCRYPT_PREFIXES) or len(hashed) != 60 \
                or not hashed[4:6].isdigit() or hashed[6] != "$":
            raise _error(path, where, "expected a bcrypt hash ($2y$..., 60 characters; "
                                      "make one with htpasswd -nBC 12 '' | tr -d ':\\n')")
        users[user] = hashed.encode()
    return users


def load_web_config(path: str) -> WebConfig:
    """Read and validate the file; raise :class:`ConfigError` with one line naming the key."""
    data = read_yaml(path, KEY)
    top = _mapping(path, "(top level)", data)
    for key in top:
        if key not in _TOP_KEYS:
            raise _error(path, str(key), f"unknown key (known: {', '.join(sorted(_TOP_KEYS))})")
    web = WebConfig(path)
    tls_data = _mapping(path, "tls_server_config", top.get("tls_server_config"))
    if tls_data:
        web.tls = _tls(path, tls_data)
        web.context, web.signature = signed_context(path, web.tls)
    web.users = _users(path, _mapping(path, "basic_auth_users", top.get("basic_auth_users")))
    web.auth = BasicAuth(web.users) if web.users else None
    http = _mapping(path, "http_server_config", top.get("http_server_config"))
    for key in http:
        if key not in _HTTP_KEYS:
            raise _error(path, f"http_server_config.{key}", "unknown key")
    headers = _mapping(path, "http_server_config.headers", http.get("headers"))
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str) or "\n" in value or "\r" in value:
            raise _error(path, f"http_server_config.headers.{name}", "expected a one-line string")
    web.headers = dict(headers)
    return web
