"""A throwaway CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from testkit.procs import require


@dataclass(frozen=True)
class Certs:
    dir: Path
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path  # a CA that signed nothing here: trusting only it must fail

    def web_config(self, extra: str = "") -> str:
        """A ``--web.config.file`` serving TLS with the server certificate; ``extra``: more of it."""
        return f"tls_server_config:\n  cert_file: {self.server_cert}\n  key_file: {self.server_key}\n{extra}"


def _run(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def _ca(cwd: Path, name: str) -> None:
    _run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
         "-subj", f"/CN={name}", "-keyout", f"{name}.key", "-out", f"{name}.crt", cwd=cwd)


def _leaf(cwd: Path, name: str, ext: str) -> None:
    _run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", f"/CN={name}",
         "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=cwd)
    (cwd / f"{name}.ext").write_text(ext + "\n")
    _run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
         "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.crt", cwd=cwd)


def make_certs(directory: Path) -> Certs:
    require(shutil.which("openssl"), "openssl")
    directory.mkdir(parents=True, exist_ok=True)
    _ca(directory, "ca")
    _ca(directory, "other")
    _leaf(directory, "server", "subjectAltName=IP:127.0.0.1,DNS:localhost")
    _leaf(directory, "client", "extendedKeyUsage=clientAuth")
    d = directory
    return Certs(d, d / "ca.crt", d / "server.crt", d / "server.key", d / "client.crt", d / "client.key",
                 d / "other.crt")


def make_leaf(certs: Certs, name: str) -> tuple[Path, Path]:
    """Another server certificate for 127.0.0.1 from the same CA (a renewal): (cert, key)."""
    _leaf(certs.dir, name, "subjectAltName=IP:127.0.0.1,DNS:localhost")
    return certs.dir / f"{name}.crt", certs.dir / f"{name}.key"


def self_signed_pem(path: Path, name: str, days: int) -> Path:
    """A self-signed certificate for ``name`` valid ``days`` and its key, in one PEM file as HAProxy's
    ``crt`` takes it (nothing else beside it: a ``crt`` directory loads every file in it)."""
    require(shutil.which("openssl"), "openssl")
    work = Path(tempfile.mkdtemp(prefix="hrxcrt"))
    try:
        _run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", str(days),
             "-subj", f"/CN={name}", "-addext", f"subjectAltName=DNS:{name}", "-keyout", "key.pem", "-out", "crt.pem",
             cwd=work)
        path.write_text((work / "crt.pem").read_text() + (work / "key.pem").read_text())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return path


def ocsp_stapled(directory: Path, names: dict[str, str], days: int = 3) -> dict[str, Path]:
    """A CA, a certificate per name signed by it, and an OCSP response for each as HAProxy loads it
    beside the certificate (``<file>.ocsp``, with the issuer in ``<file>.issuer``).

    ``names`` maps a name to its status in the CA's index: ``good`` or ``revoked``.  The responses
    say so, valid ``days`` from now (openssl's own OCSP responder code signs them).
    """
    require(shutil.which("openssl"), "openssl")
    directory.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="hrxocsp"))
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    try:
        _run("req", "-x509", *ec, "-days", "100", "-subj", "/CN=Test OCSP CA", "-keyout", "ca.key", "-out", "ca.crt",
             cwd=work)
        index = []
        for name, status in names.items():
            _run("req", *ec, "-subj", f"/CN={name}", "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=work)
            (work / f"{name}.ext").write_text(f"subjectAltName=DNS:{name}\n")
            _run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                 "-days", "30", "-extfile", f"{name}.ext", "-out", f"{name}.crt", cwd=work)
            serial = subprocess.run(["openssl", "x509", "-in", f"{name}.crt", "-noout", "-serial"], cwd=work,
                                    check=True, capture_output=True, text=True, timeout=30).stdout.split("=")[1].strip()
            expiry = "491231235959Z"
            if status == "revoked":
                index.append(f"R\t{expiry}\t261201000000Z,keyCompromise\t{serial}\tunknown\t/CN={name}")
            else:
                index.append(f"V\t{expiry}\t\t{serial}\tunknown\t/CN={name}")
        (work / "index.txt").write_text("\n".join(index) + "\n")
        out = {}
        for name in names:
            pem = directory / f"{name}.pem"
            pem.write_text((work / f"{name}.crt").read_text() + (work / f"{name}.key").read_text())
            shutil.copy(work / "ca.crt", directory / f"{name}.pem.issuer")
            _run("ocsp", "-index", "index.txt", "-rsigner", "ca.crt", "-rkey", "ca.key", "-CA", "ca.crt", "-issuer",
                 "ca.crt", "-cert", f"{name}.crt", "-respout", str(directory / f"{name}.pem.ocsp"), "-ndays", str(days),
                 "-noverify", cwd=work)
            out[name] = pem
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)
