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

import os
import re
import ssl
from dataclasses import dataclass, field
from typing import Any, Mapping

from exporter.validation import ConfigError, Keys, mapping, read_yaml, shown
from exporter.web.auth import BasicAuth

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
_TLS_KEYS = Keys(("cert_file", "key_file", "client_ca_file", "client_auth_type", "min_version", "max_version",
                  "prefer_server_cipher_suites"), required=("cert_file", "key_file"))
_TLS_REFUSED = {"cipher_suites", "curve_preferences", "client_allowed_sans"}
_HTTP_KEYS = Keys(("headers", "http2"))
_TOP_KEYS = Keys(("basic_auth_users", "http_server_config", "tls_server_config"))
_BCRYPT = re.compile(r"\$2[aby]\$([0-9]{2})\$[./A-Za-z0-9]{53}")
_BCRYPT_COSTS = range(4, 32)  # as Go's bcrypt (MinCost, MaxCost): outside it no password matches
# http_server_config.headers: the exporter-toolkit's list (web/handler.go, extraHTTPHeaders), names
# compared exactly as there, with the only values it takes where it has a list.  A file that loads
# here loads in node_exporter and the other way round; any other header is refused, as there.
_EXTRA_HEADERS: dict[str, tuple[str, ...]] = {
    "Strict-Transport-Security": (),
    "X-Content-Type-Options": ("nosniff",),
    "X-Frame-Options": ("deny", "sameorigin"),
    "X-XSS-Protection": (),
    "Content-Security-Policy": (),
}
# What the server writes itself (exporter/web/protocol.py, routes.py, server.py) or what frames the
# message: named in the refusal, since a second copy would make every response malformed.
_SERVER_HEADERS = ("Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive", "Date", "Server",
                   "Content-Type", "Content-Encoding", "Vary", "WWW-Authenticate", "Allow", "Retry-After",
                   "Trailer", "Upgrade")
# A value h11 sends as it is: visible ASCII, spaces and tabs only between words (RFC 9110 §5.5
# field-value without obs-text: h11 encodes header text as ASCII).
_HEADER_VALUE = re.compile(r"[\x21-\x7e]+(?:[ \t]+[\x21-\x7e]+)*")


def _error(path: str, where: str, problem: str) -> ConfigError:
    return ConfigError(f"{_prefix(path)}{where}: {problem}")


def _prefix(path: str) -> str:
    """What starts every line about the file at ``path``: the key that names it, then the file."""
    return f"{KEY}: {path}: "


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
    auth: BasicAuth | None = None


def _mapping(path: str, where: str | None, value: Any, keys: Keys | None = None) -> Mapping[Any, Any]:
    """The mapping at ``where`` (an absent one is empty), its keys checked when ``keys`` declares them."""
    if value is None:
        return {}
    return keys.check(where, value, _prefix(path)) if keys else mapping(where, value, prefix=_prefix(path))


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
    _TLS_KEYS.check(where, data, _prefix(path))
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
        users[user] = _bcrypt_hash(path, where, hashed)
    return users


def _bcrypt_hash(path: str, where: str, hashed: Any) -> bytes:
    """A hash every login can be checked against: anything else would fail every login, silently."""
    text = hashed if isinstance(hashed, str) else ""
    match = _BCRYPT.fullmatch(text)
    if match is None:
        raise _error(path, where, "expected a bcrypt hash ($2y$..., 60 characters; "
                                  "make one with htpasswd -nBC 12 '' | tr -d ':\\n')")
    cost = int(match.group(1))
    if cost not in _BCRYPT_COSTS:
        raise _error(path, where, f"bcrypt cost {match.group(1)} is outside 04-31: no password would match it")
    import bcrypt

    try:  # the library's own parse of the salt, at the lowest cost (a millisecond)
        bcrypt.checkpw(b"", f"{text[:4]}04{text[6:]}".encode())
    except ValueError as exc:
        raise _error(path, where, f"not a bcrypt hash the bcrypt library accepts: {exc}") from None
    return text.encode()


def _headers(path: str, data: Mapping[str, Any]) -> dict[str, str]:
    """The headers added to every response: the toolkit's security headers, each one line of ASCII."""
    headers: dict[str, str] = {}
    for name, value in data.items():
        where = f"http_server_config.headers.{name if isinstance(name, str) else shown(name)}"
        allowed = _EXTRA_HEADERS.get(name) if isinstance(name, str) else None
        if allowed is None:
            raise _error(path, where, _header_refusal(name))
        if not isinstance(value, str) or not _HEADER_VALUE.fullmatch(value):
            raise _error(path, where, f"expected one line of visible ASCII (spaces between words), got {shown(value)}")
        if allowed and value not in allowed:
            raise _error(path, where, f"expected one of {', '.join(allowed)}, got {shown(value)}")
        headers[name] = value
    return headers


def _header_refusal(name: Any) -> str:
    known = ", ".join(_EXTRA_HEADERS)
    if isinstance(name, str):
        same = [known_name for known_name in _EXTRA_HEADERS if known_name.lower() == name.lower()]
        if same:
            return f"write it {same[0]} (names are compared exactly, as in the exporter-toolkit)"
        if name.lower() in (owned.lower() for owned in _SERVER_HEADERS):
            return "set by the exporter itself on every response; it cannot be configured"
    return f"this header cannot be configured (the exporter-toolkit's list: {known})"


SECRET = "<secret>"  # what a password hash is printed as (Prometheus prints its secrets so)


def dump_web_config(web: WebConfig) -> dict[str, Any]:
    """The loaded file as it applies (``--config.check``): file paths made absolute, the client
    auth type and TLS versions as the file names them, every password hash as ``<secret>``."""
    out: dict[str, Any] = {}
    if web.tls is not None:
        tls: dict[str, Any] = {"cert_file": web.tls.cert_file, "key_file": web.tls.key_file}
        if web.tls.client_ca_file:
            tls["client_ca_file"] = web.tls.client_ca_file
        tls["client_auth_type"] = next(name for name, mode in _CLIENT_AUTH.items() if name and mode == web.tls.verify_mode)
        versions = {version: name for name, version in _TLS_VERSIONS.items()}
        tls["min_version"] = versions[web.tls.min_version]
        if web.tls.max_version is not None:
            tls["max_version"] = versions[web.tls.max_version]
        out["tls_server_config"] = tls
    if web.users:
        out["basic_auth_users"] = {user: SECRET for user in web.users}
    if web.headers:
        out["http_server_config"] = {"headers": dict(web.headers)}
    return out


def load_web_config(path: str) -> WebConfig:
    """Read and validate the file; raise :class:`ConfigError` with one line naming the key."""
    data = read_yaml(path, KEY)
    top = _mapping(path, None, data, _TOP_KEYS)
    web = WebConfig(path)
    tls_data = _mapping(path, "tls_server_config", top.get("tls_server_config"))
    if tls_data:
        web.tls = _tls(path, tls_data)
        web.context, web.signature = signed_context(path, web.tls)
    web.users = _users(path, _mapping(path, "basic_auth_users", top.get("basic_auth_users")))
    web.auth = BasicAuth(web.users) if web.users else None
    http = _mapping(path, "http_server_config", top.get("http_server_config"), _HTTP_KEYS)
    web.headers = _headers(path, _mapping(path, "http_server_config.headers", http.get("headers")))
    return web
