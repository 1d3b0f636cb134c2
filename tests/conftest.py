from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import haproxies  # noqa: E402
from support import HAProxy  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture
def haproxy_factory(haproxy_bin: haproxies.Binary) -> Iterator:
    """Start HAProxy processes from config templates; all are stopped after the test.

    Every test that starts HAProxy this way runs once per HAProxy binary of the machine
    (``haproxy_bin``).  A short temp dir, not tmp_path: UNIX socket paths are limited to 107 bytes.
    """
    started: list[HAProxy] = []
    base = Path(tempfile.mkdtemp(prefix="hrx"))

    def make(template: str, nports: int = 6, start: bool = True, binary: str | None = None) -> HAProxy:
        workdir = base / f"h{len(started)}"
        workdir.mkdir()
        proxy = HAProxy(workdir, template, nports, binary or haproxy_bin.path)
        started.append(proxy)
        return proxy.start() if start else proxy

    yield make
    for proxy in started:
        proxy.stop()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(params=haproxies.params())
def haproxy_bin(request: pytest.FixtureRequest) -> haproxies.Binary:
    """Each HAProxy binary of the machine in turn (tests/haproxies.py); missing ones skip, saying why."""
    return request.param
