"""A loopback OCSP responder for HAProxy's OCSP updater: certificates that name it, and openssl answering.

``updatable`` makes a CA and certificates whose Authority Information Access gives an OCSP URI
(``http://127.0.0.1:<port>/``), each PEM holding the certificate, the CA (the issuer HAProxy's
updater needs: a ``.issuer`` file beside it is not enough for 2.8's ``ocsp-update on``) and the
key.  ``Responder`` listens on 127.0.0.1 and answers each request (GET as RFC 5019 has it, which
HAProxy sends, or POST) with openssl's own OCSP responder code (``openssl ocsp -reqin ...
-index``), one openssl run per request, and counts them.
(``openssl ocsp -port`` would listen on every address: OpenSSL 3.0 takes no host there.)
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import tempfile
import threading
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from support import require

_EC = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")


def _run(*args: str, cwd: Path) -> str:
    return subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, text=True, timeout=30).stdout


@dataclass(frozen=True)
class Updatable:
    dir: Path  # the CA (ca.crt, ca.key) and index.txt, what a Responder reads
    pems: dict[str, Path]  # name → certificate + issuer + key, as HAProxy's crt takes it
    serials: dict[str, str]


def updatable(directory: Path, urls: dict[str, str]) -> Updatable:
    """A CA and one certificate per name whose OCSP URI is ``urls[name]``; every one ``good`` in the index."""
    require(shutil.which("openssl"), "openssl")
    directory.mkdir(parents=True, exist_ok=True)
    _run("req", "-x509", *_EC, "-days", "100", "-subj", "/CN=Test OCSP CA", "-keyout", "ca.key", "-out", "ca.crt",
         cwd=directory)
    index, pems, serials = [], {}, {}
    for name, url in urls.items():
        _run("req", *_EC, "-subj", f"/CN={name}", "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=directory)
        (directory / f"{name}.ext").write_text(f"subjectAltName=DNS:{name}\nauthorityInfoAccess=OCSP;URI:{url}\n")
        _run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
             "-days", "30", "-extfile", f"{name}.ext", "-out", f"{name}.crt", cwd=directory)
        serial = _run("x509", "-in", f"{name}.crt", "-noout", "-serial", cwd=directory).split("=")[1].strip()
        index.append(f"V\t491231235959Z\t\t{serial}\tunknown\t/CN={name}")
        pem = directory / f"{name}.pem"
        pem.write_text("".join((directory / f).read_text() for f in (f"{name}.crt", "ca.crt", f"{name}.key")))
        pems[name], serials[name] = pem, serial
    (directory / "index.txt").write_text("\n".join(index) + "\n")
    return Updatable(directory, pems, serials)


class Responder:
    """``openssl ocsp`` behind a loopback HTTP server; ``requests`` counts the answered requests."""

    def __init__(self, ca_dir: Path, port: int = 0, days: int = 1) -> None:
        self.ca_dir, self.days = ca_dir, days
        self.requests = 0
        self._lock = threading.Lock()
        responder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                self._reply(self.rfile.read(int(self.headers.get("Content-Length", "0"))))

            def do_GET(self) -> None:  # noqa: N802 (RFC 5019's GET, the request base64 in the path: HAProxy's way)
                self._reply(base64.b64decode(urllib.parse.unquote(self.path.rsplit("/", 1)[-1])))

            def _reply(self, request: bytes) -> None:
                der = responder.answer(request)
                self.send_response(200)
                self.send_header("Content-Type", "application/ocsp-response")
                self.send_header("Content-Length", str(len(der)))
                self.end_headers()
                self.wfile.write(der)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, request: bytes) -> bytes:
        work = Path(tempfile.mkdtemp(prefix="hrxocspr"))
        try:
            (work / "req.der").write_bytes(request)
            with self._lock:  # one openssl at a time over the one index
                subprocess.run(["openssl", "ocsp", "-index", str(self.ca_dir / "index.txt"), "-CA",
                                str(self.ca_dir / "ca.crt"), "-rsigner", str(self.ca_dir / "ca.crt"), "-rkey",
                                str(self.ca_dir / "ca.key"), "-reqin", str(work / "req.der"), "-respout",
                                str(work / "resp.der"), "-ndays", str(self.days)],
                               check=True, capture_output=True, timeout=30)
                self.requests += 1
            return (work / "resp.der").read_bytes()
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def __enter__(self) -> Responder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
