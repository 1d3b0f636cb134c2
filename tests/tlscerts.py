"""A throwaway CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from support import require


@dataclass(frozen=True)
class Certs:
    dir: Path
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path  # a CA that signed nothing here: trusting only it must fail


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
