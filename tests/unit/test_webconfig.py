"""The web config file (exporter-toolkit format): validation with one-line errors, and basic auth."""

from __future__ import annotations

import ssl
import tempfile
from pathlib import Path

import bcrypt
import pytest

from exporter.validation import ConfigError
from exporter.web.auth import bcrypt_matches
from exporter.web.config import WebConfig, load_web_config
from testkit.tlscerts import Certs, make_certs

HASH = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(4)).decode()  # cost 4: fast tests, same code path


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "web.yml"
    path.write_text(text)
    return str(path)


def load_web_config_text(text: str) -> WebConfig:
    with tempfile.TemporaryDirectory() as tmp:
        return load_web_config(write(Path(tmp), text))


def test_full_file_loads(tmp_path: Path, certs: Certs) -> None:
    path = write(tmp_path, f"""
tls_server_config:
  cert_file: {certs.server_cert}
  key_file: {certs.server_key}
  client_ca_file: {certs.ca}
  client_auth_type: VerifyClientCertIfGiven
  min_version: TLS13
basic_auth_users:
  prometheus: {HASH}
http_server_config:
  http2: true
  headers:
    X-Frame-Options: deny
""")
    web = load_web_config(path)
    assert web.context is not None and web.context.verify_mode == ssl.CERT_OPTIONAL
    assert web.context.minimum_version == ssl.TLSVersion.TLSv1_3
    assert web.auth is not None and set(web.auth.users) == {"prometheus"}
    assert web.headers == {"X-Frame-Options": "deny"}


def test_relative_paths_are_relative_to_the_file_and_ca_alone_requires_client_certs(certs: Certs) -> None:
    path = certs.dir / "web-relative.yml"
    path.write_text("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_ca_file: ca.crt\n")
    web = load_web_config(str(path))
    assert web.context is not None and web.context.verify_mode == ssl.CERT_REQUIRED  # toolkit default
    assert web.auth is None


BAD = [
    ("unknown top key", "tls_config: {}\n", "tls_config: unknown key"),
    ("bad yaml", "basic_auth_users: [\n", "is not valid YAML at line"),
    ("top not a mapping", "- a\n", "(top level): expected a mapping"),
    ("users not a mapping", "basic_auth_users: [a]\n", "basic_auth_users: expected a mapping"),
    ("plain password", "basic_auth_users:\n  bob: hunter2\n", "basic_auth_users.bob: expected a bcrypt hash"),
    ("sha hash", "basic_auth_users:\n  bob: '{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g='\n", "basic_auth_users.bob: expected a bcrypt"),
    ("bcrypt cost below 4", f"basic_auth_users:\n  bob: '{HASH[:4]}03{HASH[6:]}'\n",
     "basic_auth_users.bob: bcrypt cost 03 is outside 04-31"),
    ("bcrypt cost above 31", f"basic_auth_users:\n  bob: '{HASH[:4]}32{HASH[6:]}'\n",
     "basic_auth_users.bob: bcrypt cost 32 is outside 04-31"),
    ("salt bcrypt refuses", f"basic_auth_users:\n  bob: '{HASH[:28]}/{HASH[29:]}'\n",
     "basic_auth_users.bob: not a bcrypt hash the bcrypt library accepts"),
    ("hash with a bad character", f"basic_auth_users:\n  bob: '{HASH[:40]}!{HASH[41:]}'\n",
     "basic_auth_users.bob: expected a bcrypt hash"),
    ("colon in user", f"basic_auth_users:\n  'a:b': '{HASH}'\n", "basic_auth_users.a:b: a user name"),
    ("tls without key", "tls_server_config:\n  cert_file: CERT\n", "tls_server_config.key_file: required"),
    ("missing cert file", "tls_server_config:\n  cert_file: /nonexistent.crt\n  key_file: KEY\n",
     "tls_server_config.cert_file: cannot read /nonexistent.crt"),
    ("cert and key mismatch", "tls_server_config:\n  cert_file: CERT\n  key_file: CLIENTKEY\n",
     "tls_server_config.cert_file/key_file: cannot load"),
    ("key is not a key", "tls_server_config:\n  cert_file: CERT\n  key_file: CERT\n",
     "tls_server_config.cert_file/key_file: cannot load"),
    ("unknown tls key", "tls_server_config:\n  cert_file: CERT\n  key_file: KEY\n  certfile: x\n",
     "tls_server_config.certfile: unknown key"),
    ("refused cipher suites", "tls_server_config:\n  cert_file: CERT\n  key_file: KEY\n  cipher_suites: [x]\n",
     "tls_server_config.cipher_suites: not supported"),
    ("bad client auth", "tls_server_config:\n  cert_file: CERT\n  key_file: KEY\n  client_auth_type: Maybe\n",
     "tls_server_config.client_auth_type: expected one of"),
    ("unverified client auth", "tls_server_config:\n  cert_file: CERT\n  key_file: KEY\n"
     "  client_auth_type: RequireAnyClientCert\n", "tls_server_config.client_auth_type: RequireAnyClientCert"),
    ("verify without ca", "tls_server_config:\n  cert_file: CERT\n  key_file: KEY\n"
     "  client_auth_type: RequireAndVerifyClientCert\n", "tls_server_config.client_ca_file: required"),
    ("bad version", "tls_server_config:\n  cert_file: CERT\n  key_file: KEY\n  min_version: SSL3\n",
     "tls_server_config.min_version: expected one of"),
    ("unknown http key", "http_server_config:\n  http3: true\n", "http_server_config.http3: unknown key"),
    ("header with newline", "http_server_config:\n  headers:\n    X-XSS-Protection: \"1\\nb\"\n",
     "http_server_config.headers.X-XSS-Protection: expected one line of visible ASCII"),
    # Headers the server writes itself: a second Content-Length made every response unreadable.
    *[(f"server's own {name}", f"http_server_config:\n  headers:\n    {name}: '5'\n",
       f"http_server_config.headers.{name}: set by the exporter itself") for name in
      ("Content-Length", "Transfer-Encoding", "Connection", "Date", "Server", "Content-Type", "content-encoding",
       "Vary", "WWW-Authenticate", "Allow", "Retry-After")],
    ("header name not a token", "http_server_config:\n  headers:\n    'X Bad': a\n",
     "http_server_config.headers.X Bad: this header cannot be configured"),
    ("header name with a colon", "http_server_config:\n  headers:\n    'X-A:': a\n",
     "http_server_config.headers.X-A:: this header cannot be configured"),
    ("header name with a newline", "http_server_config:\n  headers:\n    \"X-A\\nX-B\": a\n",
     "http_server_config.headers.X-A\\nX-B: this header cannot be configured"),
    ("header not on the toolkit's list", "http_server_config:\n  headers:\n    Cache-Control: no-store\n",
     "Cache-Control: this header cannot be configured (the exporter-toolkit's list: Strict-Transport-Security"),
    ("header name in another case", "http_server_config:\n  headers:\n    x-frame-options: deny\n",
     "x-frame-options: write it X-Frame-Options"),
    ("header value off the toolkit's list", "http_server_config:\n  headers:\n    X-Frame-Options: allow\n",
     "X-Frame-Options: expected one of deny, sameorigin, got 'allow'"),
    ("header value with a NUL", "http_server_config:\n  headers:\n    Content-Security-Policy: \"a\\0b\"\n",
     "Content-Security-Policy: expected one line of visible ASCII"),
    ("header value not ASCII", "http_server_config:\n  headers:\n    Content-Security-Policy: \"caf\u00e9\"\n",
     "Content-Security-Policy: expected one line of visible ASCII"),
    ("header value with a trailing space", "http_server_config:\n  headers:\n    Strict-Transport-Security: 'max-age=5 '\n",
     "Strict-Transport-Security: expected one line of visible ASCII"),
    ("header value a number", "http_server_config:\n  headers:\n    Strict-Transport-Security: 5\n",
     "Strict-Transport-Security: expected one line of visible ASCII (spaces between words), got 5"),
    ("header value empty", "http_server_config:\n  headers:\n    Content-Security-Policy: ''\n",
     "Content-Security-Policy: expected one line of visible ASCII"),
]


@pytest.mark.parametrize("name,text,message", BAD, ids=[b[0] for b in BAD])
def test_invalid_web_config_is_one_line_naming_the_key(tmp_path: Path, certs: Certs, name: str, text: str,
                                                       message: str) -> None:
    text = text.replace("CLIENTKEY", str(certs.client_key)).replace("CERT", str(certs.server_cert)) \
        .replace("KEY", str(certs.server_key))
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_web_config(path)
    line = str(err.value)
    assert "\n" not in line
    assert line.startswith("web.config_file: ")
    assert message in line


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^web.config_file: cannot read .*missing.yml"):
        load_web_config(str(tmp_path / "missing.yml"))


def test_basic_auth_accepts_only_the_right_credentials() -> None:
    auth = load_web_config_text(f"basic_auth_users:\n  prometheus: '{HASH}'\n").auth
    assert auth is not None
    hashed, name = auth.target(b"prometheus")
    assert name == "prometheus" and bcrypt_matches(b"s3cret", hashed)
    for password in (b"wrong", b"", b"s3cret ", b"s3cre"):
        assert not bcrypt_matches(password, hashed), password
    assert auth.target(b"nobody")[1] is None and not bcrypt_matches(b"s3cret", auth.target(b"nobody")[0])
