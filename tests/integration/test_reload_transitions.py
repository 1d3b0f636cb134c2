"""Every kind of reload, on the real CLI: one exporter process taken by SIGHUP through a sequence of
configs (one socket, targets added, removed, renamed, moved, one socket again, TLS and basic auth
on and off), reading three real HAProxys shared by the steps.

After each SIGHUP, ``/metrics``, ``/probe?target=`` and ``/healthz`` must say what the HAProxys
themselves say: each page carries the pid ``show info`` gives on that HAProxy's own socket and
that HAProxy's frontend, a removed or renamed target is 404 and absent from the overview, and the
poll loop stays healthy.  Every wait is bounded (support.wait_for); nothing is timed.
"""

from __future__ import annotations

import base64
import http.client
import json
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterator

import bcrypt
import pytest
from exposition import samples, value
from support import ADMIN_HTTP_HEAD, HAProxy, free_ports, haproxy_binary, raw_command, require, stop_process, wait_for

from testkit.tlscerts import Certs, make_certs

REPO = Path(__file__).resolve().parents[2]
CFG = ADMIN_HTTP_HEAD + """
frontend fe_NAME
    bind 127.0.0.1:{p0}
    http-request return status 200 content-type text/plain string ok
"""
PASSWORD = "s3cret"
WAIT = 20  # seconds: generous, only a reload that is never applied reaches it


@pytest.fixture(scope="module")
def haproxys() -> Iterator[dict[str, HAProxy]]:
    """Three HAProxys (fe_x, fe_y, fe_z), shared by the whole sequence."""
    binary = require(haproxy_binary(), "haproxy")
    base = Path(tempfile.mkdtemp(prefix="hrxrt"))
    started: dict[str, HAProxy] = {}
    try:
        for name in ("x", "y", "z"):
            (base / name).mkdir()
            started[name] = HAProxy(base / name, CFG.replace("NAME", name), nports=1, binary=binary).start()
        yield started
    finally:
        for hap in started.values():
            hap.stop()
        shutil.rmtree(base, ignore_errors=True)


def pid(hap: HAProxy) -> int:
    """HAProxy's own answer, on its own socket: the oracle every page is checked against."""
    return int(raw_command(hap.admin, "show info").split("Pid: ", 1)[1].split("\n", 1)[0])


class Client:
    """Plain or TLS, with or without basic auth: what the current web config asks of a scraper."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.context: ssl.SSLContext | None = None
        self.auth: str | None = None

    def get(self, path: str, auth: bool = True) -> tuple[int | None, str]:
        scheme = "https" if self.context is not None else "http"
        request = urllib.request.Request(f"{scheme}://127.0.0.1:{self.port}{path}")
        if auth and self.auth is not None:
            request.add_header("Authorization", f"Basic {self.auth}")
        try:
            with urllib.request.urlopen(request, timeout=5, context=self.context) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except (urllib.error.URLError, OSError, http.client.HTTPException):
            return None, ""  # not listening yet, or a plain client on a TLS port

    def page(self, path: str) -> dict | None:
        status, body = self.get(path)
        return samples(body) if status == 200 else None


class Exporter:
    """The real CLI with a config file rewritten for each step, then SIGHUP."""

    def __init__(self, workdir: Path, first: dict[str, Any]) -> None:
        self.config = workdir / "exporter.yaml"
        self.web = workdir / "web.yaml"
        self.stderr_path = workdir / "exporter.stderr"
        self.client = Client(free_ports(1)[0])
        self.config.write_text(json.dumps(first))
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "exporter", "--config.file", str(self.config),
                 "--web.listen-address", f"127.0.0.1:{self.client.port}"],
                stdout=subprocess.DEVNULL, stderr=err, cwd=REPO)

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def reload(self, config: dict[str, Any], web: str | None = None) -> None:
        if web is not None:
            self.web.write_text(web)
            config = {**config, "web": {"config_file": str(self.web)}}
        reloaded = self.stderr.count("config reloaded")
        self.config.write_text(json.dumps(config))
        self.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: self.stderr.count("config reloaded") > reloaded, WAIT, f"no reload:\n{self.stderr}")

    def until(self, check: Callable[[], bool], what: str) -> None:
        wait_for(check, WAIT, f"{what}; exporter stderr:\n{self.stderr}")


def serves(page: dict | None, hap: HAProxy, name: str) -> bool:
    """The page is this HAProxy's and no other's: its pid, its frontend up, no other frontend."""
    if page is None or value(page, "haproxy_up") != 1 or value(page, "haproxy_process_pid") != pid(hap):
        return False
    fronts = {dict(labels)["proxy"] for metric, labels in page if metric == "haproxy_frontend_status"}
    return fronts == {f"fe_{name}"} and value(page, "haproxy_frontend_status", proxy=f"fe_{name}", state="UP") == 1


def overview_of(page: dict | None) -> dict[str, float] | None:
    """The overview's ``haproxy_up`` by target, or None when ``/metrics`` is not an overview."""
    if page is None or any(metric == "haproxy_process_pid" for metric, _ in page):
        return None
    return {dict(labels)["target"]: v for (metric, labels), v in page.items() if metric == "haproxy_up"}


def successes(page: dict | None, target: str) -> float:
    return (value(page, "haproxy_exporter_polls_total", target=target, result="success") or 0) if page else 0


def healthy(client: Client) -> bool:
    return client.get("/healthz")[0] == 200


POLL = {"interval": "100ms"}
TIMEOUTS = {"timeout": "1s", "connect_timeout": "500ms"}


def single(hap: HAProxy) -> dict[str, Any]:
    return {"haproxy": {"address": hap.admin, **TIMEOUTS}, "poll": POLL}


def targets(**by_name: HAProxy) -> dict[str, Any]:
    return {"haproxy": TIMEOUTS, "poll": POLL,
            "targets": [{"name": name, "address": hap.admin} for name, hap in by_name.items()]}


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


def test_every_reload_transition_on_one_running_exporter(haproxys, certs: Certs, tmp_path: Path) -> None:
    x, y, z = haproxys["x"], haproxys["y"], haproxys["z"]
    exp = Exporter(tmp_path, single(x))
    client = exp.client
    try:
        exp.until(lambda: serves(client.page("/metrics"), x, "x") and healthy(client), "never served HAProxy x")
        assert client.get("/probe?target=a")[0] == 404  # no targets: no probe

        # one socket -> targets
        exp.reload(targets(a=x, b=y))
        exp.until(lambda: overview_of(client.page("/metrics")) == {"a": 1, "b": 1}, "the overview is not a, b up")
        exp.until(lambda: serves(client.page("/probe?target=b"), y, "y"), "the added target b is not served")
        assert serves(client.page("/probe?target=a"), x, "x") and healthy(client)

        # a target added
        exp.reload(targets(a=x, b=y, c=z))
        exp.until(lambda: serves(client.page("/probe?target=c"), z, "z"), "the added target c is not served")
        exp.until(lambda: overview_of(client.page("/metrics")) == {"a": 1, "b": 1, "c": 1}, "c not in the overview")
        assert healthy(client)

        # a target removed: gone at once, and not brought back by later polls
        exp.reload(targets(a=x, c=z))
        exp.until(lambda: client.get("/probe?target=b")[0] == 404, "the removed target b is still known")
        before = successes(client.page("/metrics"), "a")
        exp.until(lambda: successes(client.page("/metrics"), "a") >= before + 3, "polling stopped")
        assert overview_of(client.page("/metrics")) == {"a": 1, "c": 1}
        assert client.get("/probe?target=b")[0] == 404 and healthy(client)

        # a target renamed (same address)
        exp.reload(targets(a=x, d=z))
        exp.until(lambda: serves(client.page("/probe?target=d"), z, "z"), "the renamed target d is not served")
        assert client.get("/probe?target=c")[0] == 404
        exp.until(lambda: overview_of(client.page("/metrics")) == {"a": 1, "d": 1}, "the overview still names c")

        # a target moved to another address
        exp.reload(targets(a=y, d=z))
        exp.until(lambda: serves(client.page("/probe?target=a"), y, "y"), "target a still reads HAProxy x")
        assert serves(client.page("/probe?target=d"), z, "z") and healthy(client)

        # targets -> one socket
        exp.reload(single(z))
        exp.until(lambda: serves(client.page("/metrics"), z, "z"), "/metrics is not HAProxy z's page")
        assert client.get("/probe?target=a")[0] == 404 and client.get("/probe?target=d")[0] == 404
        assert not [labels for _, labels in client.page("/metrics") or {} if "target" in dict(labels)]
        assert healthy(client)

        # TLS on
        tls = certs.web_config()
        exp.reload(single(z), web=tls)
        plain = Client(client.port)
        client.context = ssl.create_default_context(cafile=str(certs.ca))
        exp.until(lambda: serves(client.page("/metrics"), z, "z"), "not served over TLS")
        assert plain.get("/metrics")[0] is None and healthy(client)

        # basic auth on (over TLS)
        hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
        auth = f"basic_auth_users:\n  prometheus: '{hashed}'\n"
        exp.reload(single(z), web=tls + auth)
        exp.until(lambda: client.get("/metrics", auth=False)[0] == 401, "basic auth not asked for")
        client.auth = base64.b64encode(f"prometheus:{PASSWORD}".encode()).decode()
        assert serves(client.page("/metrics"), z, "z") and healthy(client)
        assert client.get("/healthz", auth=False)[0] == 401

        # TLS off, auth still on
        exp.reload(single(z), web=auth)
        client.context = None
        exp.until(lambda: client.get("/metrics")[0] == 200, "plain HTTP not served again")
        assert client.get("/metrics", auth=False)[0] == 401
        assert serves(client.page("/metrics"), z, "z")

        # auth off, and one socket -> targets once more, now from a socket that was a target
        exp.reload(targets(a=z, b=x))  # no web config file: plain, open
        client.auth = None
        exp.until(lambda: overview_of(client.page("/metrics")) == {"a": 1, "b": 1}, "the overview is not a, b up")
        assert serves(client.page("/probe?target=a"), z, "z") and serves(client.page("/probe?target=b"), x, "x")
        assert healthy(client)

        assert exp.proc.poll() is None
        assert "config reload refused" not in exp.stderr and "Traceback" not in exp.stderr, exp.stderr
        exp.proc.send_signal(signal.SIGTERM)
        assert exp.proc.wait(10) == 0
    finally:
        stop_process(exp.proc)
