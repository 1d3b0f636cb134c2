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


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that uses ``haproxy_bin`` runs once per HAProxy binary of the machine, unless it
    names its binaries itself, or is marked ``one_haproxy``: it tests the exporter's own side (its
    web server, its flags), HAProxy only giving it a page, so it runs on one, which keeps the suite
    inside its time."""
    if "haproxy_bin" not in metafunc.fixturenames:
        return
    if any("haproxy_bin" in str(m.args[0]) for m in metafunc.definition.iter_markers("parametrize") if m.args):
        return
    one = metafunc.definition.get_closest_marker("one_haproxy") is not None
    metafunc.parametrize("haproxy_bin", haproxies.newest() if one else haproxies.params(), indirect=True)


@pytest.fixture
def haproxy_bin(request: pytest.FixtureRequest) -> haproxies.Binary:
    """The HAProxy binary of this run of the test (pytest_generate_tests); missing ones skip, saying why."""
    return request.param
