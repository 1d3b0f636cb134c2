"""The exporter conventions on the real command line, against a real HAProxy: several listen
addresses, socket activation by ``systemd-socket-activate``, ``/-/ready`` before and after the
first poll, ``--config.check``, and log lines in logfmt and JSON.

One HAProxy (Debian's) for the module: nothing here depends on HAProxy's version.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

import bcrypt
import pytest
import yaml
from exposition import samples, value
from support import ADMIN_HTTP_HEAD, HAProxy, free_ports, haproxy_binary, require, stop_process, wait_for

from exporter.config import load_config

REPO = Path(__file__).resolve().parents[2]
EXPORTER = [sys.executable, "-m", "exporter"]
CFG = ADMIN_HTTP_HEAD + """
frontend fe_conv
    bind 127.0.0.1:{p0}
    http-request return status 200 content-type text/plain string ok
"""
WAIT = 20  # seconds; only a failure waits this long
LOGFMT_PAIR = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|[^\s"=]*)(?: |$)')


@pytest.fixture(scope="module")
def hap() -> Iterator[HAProxy]:
    base = Path(tempfile.mkdtemp(prefix="hrxcv"))
    proxy = HAProxy(base, CFG, nports=1, binary=require(haproxy_binary(), "haproxy"))
    try:
        yield proxy.start()
    finally:
        proxy.stop()
        shutil.rmtree(base, ignore_errors=True)


def fetch(url: str, timeout: float = 5) -> tuple[int, dict[str, str], str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


def answers(url: str) -> bool:
    try:
        fetch(url, timeout=1)
    except OSError:
        return False
    return True


class Exporter:
    """The CLI (or a command that execs it) with its stderr in a file; stopped by SIGTERM."""

    def __init__(self, workdir: Path, command: list[str]) -> None:
        self.stderr_path = workdir / f"exporter-{len(list(workdir.iterdir()))}.stderr"
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err, cwd=REPO)

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def wait(self, url: str, what: str) -> None:
        wait_for(lambda: self.proc.poll() is None and answers(url), WAIT, f"{what}:\n{self.stderr}")

    def stop(self) -> int:
        stop_process(self.proc)
        return self.proc.returncode


@pytest.fixture
def exporters(tmp_path: Path) -> Iterator[list[Exporter]]:
    started: list[Exporter] = []
    yield started
    for exporter in started:
        stop_process(exporter.proc)


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


def serves_haproxy(base: str) -> bool:
    status, _, body = fetch(f"{base}/metrics")
    return status == 200 and value(samples(body), "haproxy_frontend_status", proxy="fe_conv", state="UP") == 1


# ---------------------------------------------------------------- --web.listen-address, repeated


def test_every_listen_address_given_serves(hap: HAProxy, tmp_path: Path, exporters: list[Exporter]) -> None:
    first, second = free_ports(2)
    other = f"[::1]:{second}" if ipv6_loopback() else f"127.0.0.2:{second}"
    bases = [f"http://127.0.0.1:{first}", f"http://{other}"]
    exporters.append(exporter := Exporter(tmp_path, [*EXPORTER, "--haproxy.address", hap.admin, "--poll.interval",
                                                     "0.2s", "--web.listen-address", f"127.0.0.1:{first}",
                                                     "--web.listen-address", other]))
    for base in bases:
        exporter.wait(f"{base}/-/ready", f"{base} does not answer")
        wait_for(lambda base=base: serves_haproxy(base), WAIT, f"{base} does not serve HAProxy:\n{exporter.stderr}")
        assert fetch(f"{base}/-/ready")[::2] == (200, "OK\n")
    assert f"listening on 127.0.0.1:{first}, {other}, metrics at /metrics" in exporter.stderr
    assert exporter.stop() == 0


def test_an_address_that_cannot_be_had_is_one_line_exit_2_and_frees_the_others(hap: HAProxy) -> None:
    first, taken = free_ports(2)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", taken))
        holder.listen()
        result = subprocess.run([*EXPORTER, "--haproxy.address", hap.admin, "--web.listen-address", f"127.0.0.1:{first}",
                                 "--web.listen-address", f"127.0.0.1:{taken}"], capture_output=True, text=True,
                                timeout=60, cwd=REPO)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if not line.startswith("ts=")]  # the start is logged
    assert errors == [f"haproxy-runtime-exporter: web.listen_address: cannot listen on 127.0.0.1:{taken}: "
                      "Address already in use"]
    with socket.socket() as again:  # the first address was let go, not held until exit
        again.bind(("127.0.0.1", first))


# ---------------------------------------------------------------- --web.systemd-socket


def test_socket_activation_serves_every_socket_systemd_passes(hap: HAProxy, tmp_path: Path,
                                                              exporters: list[Exporter]) -> None:
    activate = require(shutil.which("systemd-socket-activate"), "systemd-socket-activate (Debian package systemd)")
    first, second, unused = free_ports(3)
    # systemd-socket-activate binds both, waits for a connection, then execs the exporter in its
    # own process with LISTEN_FDS=2 and LISTEN_PID set to it; the exporter binds nothing itself.
    exporters.append(exporter := Exporter(tmp_path, [
        activate, "-l", f"127.0.0.1:{first}", "-l", f"127.0.0.1:{second}", *EXPORTER, "--web.systemd-socket",
        "--web.listen-address", f"127.0.0.1:{unused}", "--haproxy.address", hap.admin, "--poll.interval", "0.2s"]))
    wait_for(lambda: "as 4." in exporter.stderr, WAIT, f"systemd-socket-activate does not listen:\n{exporter.stderr}")
    # the first connection starts it: it waits in the socket's queue meanwhile, and is answered (on a
    # loaded machine before the first poll has ended, when /-/healthy may still say 503)
    status, _, _ = fetch(f"http://127.0.0.1:{first}/-/healthy", timeout=WAIT)
    assert status in (200, 503)
    wait_for(lambda: fetch(f"http://127.0.0.1:{first}/-/healthy")[0] == 200, WAIT, f"never healthy:\n{exporter.stderr}")
    for port in (first, second):
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda base=base: serves_haproxy(base), WAIT, f"{base} does not serve HAProxy:\n{exporter.stderr}")
        assert fetch(f"{base}/-/ready")[0] == 200
    assert f"listening on 127.0.0.1:{first}, 127.0.0.1:{second} (sockets from systemd)" in exporter.stderr
    assert not answers(f"http://127.0.0.1:{unused}/-/ready"), "web.listen_address was bound too"
    assert exporter.stop() == 0  # the exporter is the process systemd-socket-activate became


def test_socket_activation_without_sockets_is_one_line_exit_2(hap: HAProxy) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LISTEN_")}
    result = subprocess.run([*EXPORTER, "--web.systemd-socket", "--haproxy.address", hap.admin],
                            capture_output=True, text=True, timeout=60, cwd=REPO, env=env)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "haproxy-runtime-exporter: --web.systemd-socket: no socket activation file descriptors found (LISTEN_FDS and "
        "LISTEN_PID are not set: start the exporter from a .socket unit, or without --web.systemd-socket)"]


# ---------------------------------------------------------------- /-/ready


def test_ready_is_503_until_the_first_poll_of_a_real_haproxy_completes(hap: HAProxy, tmp_path: Path,
                                                                      exporters: list[Exporter]) -> None:
    """HAProxy stopped (SIGSTOP) holds the first poll in its read: the exporter is alive but has
    nothing to serve; once HAProxy runs again the poll completes and it is ready."""
    assert hap.proc is not None
    port = free_ports(1)[0]
    base = f"http://127.0.0.1:{port}"
    hap.proc.send_signal(signal.SIGSTOP)
    try:
        exporters.append(exporter := Exporter(tmp_path, [
            *EXPORTER, "--haproxy.address", hap.admin, "--web.listen-address", f"127.0.0.1:{port}",
            "--haproxy.timeout", "60s", "--poll.interval", "0.2s", "--poll.max-age", "60s"]))
        exporter.wait(f"{base}/-/ready", "the exporter does not answer")
        status, headers, body = fetch(f"{base}/-/ready")
        assert (status, body) == (503, "the first poll of HAProxy has not completed yet\n")
        assert headers["Retry-After"] == "1"
        assert fetch(f"{base}/-/healthy")[0] == 200  # alive: a liveness probe must not restart it
        assert fetch(f"{base}/metrics")[0] == 503
    finally:
        hap.proc.send_signal(signal.SIGCONT)
    wait_for(lambda: fetch(f"{base}/-/ready")[0] == 200, WAIT, f"never ready:\n{exporter.stderr}")
    assert fetch(f"{base}/-/ready")[2] == "OK\n"
    assert value(samples(fetch(f"{base}/metrics")[2]), "haproxy_up") == 1


# ---------------------------------------------------------------- --config.check


def test_config_check_prints_the_effective_config_and_exits_0(tmp_path: Path) -> None:
    hashed = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(4)).decode()
    web = tmp_path / "web.yml"
    web.write_text(f"basic_auth_users:\n  prometheus: '{hashed}'\n")
    config = tmp_path / "exporter.yml"
    config.write_text(f"poll:\n  interval: 10s\nweb:\n  config_file: {web}\n"
                      "targets:\n  - {name: edge1, address: /run/a.sock}\n  - {name: edge2, address: /run/b.sock}\n"
                      "stick_tables: [{name: fe_main, filters: ['data.gpt0 gt 0']}]\n")
    port = free_ports(1)[0]
    result = subprocess.run([*EXPORTER, "--config.file", str(config), "--config.check", "--poll.max-age", "2m",
                             "--web.listen-address", f"127.0.0.1:{port}"],
                            capture_output=True, text=True, timeout=60, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # nothing started: no log line, nothing polled, nothing listened on
    assert hashed not in result.stdout
    effective, shown_web = yaml.safe_load_all(result.stdout)
    assert effective["poll"] == {"interval": "10s", "max_age": "2m", "concurrency": 8, "max_series": 5000000}
    assert effective["web"]["listen_address"] == f"127.0.0.1:{port}"
    assert shown_web == {"basic_auth_users": {"prometheus": "<secret>"}}
    saved = tmp_path / "effective.yml"  # the first document is a config file: the same config
    saved.write_text(result.stdout.split("\n---\n")[0])
    again = subprocess.run([*EXPORTER, "--config.file", str(saved), "--config.check"], capture_output=True, text=True,
                           timeout=60, cwd=REPO)
    assert again.returncode == 0, again.stderr
    assert load_config(str(saved)) == load_config(str(config), {"poll.max_age": "2m",
                                                                "web.listen_address": [f"127.0.0.1:{port}"]})


@pytest.mark.parametrize("text,flags,line", [
    ("poll:\n  interval: -5\n", [], "config error: poll.interval: must be above zero, got -5"),
    ("web:\n  listen_address: [':1', ':1']\n", [], "config error: web.listen_address: :1 is given twice"),
    ("log:\n  format: text\n", [], "config error: log.format: expected one of logfmt, json, got 'text'"),
    ("web:\n  config_file: WEB\n", [], "config error: web.config_file: WEB: basic_auth_users.bob: expected a bcrypt hash"),
    ("{}\n", ["--log.format=xml"], "config error: log.format: expected one of logfmt, json, got 'xml'"),
])
def test_config_check_of_a_wrong_config_is_one_line_and_exit_2(tmp_path: Path, text: str, flags: list[str],
                                                               line: str) -> None:
    web = tmp_path / "web.yml"
    web.write_text("basic_auth_users:\n  bob: hunter2\n")
    config = tmp_path / "exporter.yml"
    config.write_text(text.replace("WEB", str(web)))
    result = subprocess.run([*EXPORTER, "--config.file", str(config), "--config.check", *flags], capture_output=True,
                            text=True, timeout=60, cwd=REPO)
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert lines[0].startswith("haproxy-runtime-exporter: " + line.replace("WEB", str(web))), lines[0]


# ---------------------------------------------------------------- --log.format


def parse_logfmt(line: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    at = 0
    while at < len(line):
        match = LOGFMT_PAIR.match(line, at)
        assert match is not None, f"not logfmt at {at}: {line!r}"
        key, raw = match.groups()
        pairs[key] = json.loads(raw) if raw.startswith('"') else raw
        at = match.end()
    return pairs


@pytest.mark.parametrize("log_format", ["logfmt", "json"])
def test_every_log_line_parses_in_its_format(hap: HAProxy, tmp_path: Path, exporters: list[Exporter],
                                             log_format: str) -> None:
    """A run that logs a start, a failing socket (its path quoted in the message, with a space and a
    quote in it) and a stop: every line is one record, read back by a parser of the format."""
    port = free_ports(1)[0]
    missing = tmp_path / 'no such "dir"' / "admin.sock"
    config = tmp_path / "exporter.yml"
    config.write_text(json.dumps({"targets": [{"name": "up", "address": hap.admin},
                                              {"name": "down", "address": f"unix@{missing}"}]}))
    exporters.append(exporter := Exporter(tmp_path, [
        *EXPORTER, "--config.file", str(config), "--web.listen-address", f"127.0.0.1:{port}", "--poll.interval",
        "0.2s", "--log.format", log_format]))
    exporter.wait(f"http://127.0.0.1:{port}/-/ready", "the exporter does not answer")
    wait_for(lambda: fetch(f"http://127.0.0.1:{port}/-/ready")[0] == 200, WAIT, f"never ready:\n{exporter.stderr}")
    assert exporter.stop() == 0
    lines = exporter.stderr.splitlines()
    records = [json.loads(line) if log_format == "json" else parse_logfmt(line) for line in lines]
    assert all(list(r)[:4] == ["ts", "level", "logger", "msg"] for r in records), lines
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", r["ts"]) for r in records)
    messages = [r["msg"] for r in records]
    assert any(m.startswith(f"listening on 127.0.0.1:{port}") for m in messages), messages
    failed = [r for r in records if r["level"] == "WARNING" and str(missing) in r["msg"]]
    assert failed, messages  # the path came through whole, quote and space included
    assert messages[-1] == "received SIGTERM, stopping"
