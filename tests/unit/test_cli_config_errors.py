"""Every invalid config value, through the real CLI in a subprocess: one stderr line naming the key,
exit status 2, no traceback, nothing on stdout."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from support import free_ports, run_cli_as, wait_for

REPO = Path(__file__).resolve().parents[2]


def bomb(levels: int) -> str:
    """A "billion laughs": a flow list whose every item holds the previous one nine times, so it
    is a few hundred bytes and expands to 9**levels strings (levels=8: 363 bytes, 43 million)."""
    items = ['&a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    items += [f"&a{n} [{','.join([f'*a{n - 1}'] * 9)}]" for n in range(1, levels)]
    return "[" + ", ".join(items) + "]\n"


def run_cli(*args: str, user: int | None = None) -> subprocess.CompletedProcess[str]:
    if user is not None:
        return run_cli_as(user, list(args), cwd=REPO)
    return subprocess.run([sys.executable, "-m", "exporter", *args],
                          capture_output=True, text=True, timeout=30, cwd=REPO)


# (name, YAML file or None, extra flags, the key the line must name)
CASES = [
    ("unknown key", "haproxy:\n  adress: /run/haproxy.sock\n", [], "haproxy.adress: unknown key"),
    ("unknown section", "hapoxy:\n  address: /x.sock\n", [], "hapoxy: unknown section"),
    ("section not a mapping", "poll: 5\n", [], "poll: expected a mapping"),
    ("wrong type list", "poll:\n  interval: [5]\n", [], "poll.interval: expected a duration"),
    ("wrong type bool", "poll:\n  interval: true\n", [], "poll.interval: expected a duration"),
    ("wrong type string for int", "haproxy:\n  max_response_bytes: lots\n", [], "haproxy.max_response_bytes:"),
    ("negative interval", "poll:\n  interval: -5\n", [], "poll.interval: must be above zero"),
    ("negative interval text", "poll:\n  interval: -5s\n", [], "poll.interval:"),
    ("zero timeout", "haproxy:\n  timeout: 0s\n", [], "haproxy.timeout: must be above zero"),
    ("negative interval flag", None, ["--poll.interval=-1s"], "poll.interval:"),
    ("huge interval", "poll:\n  interval: 1.0e+10\n", [], "poll.interval: must be at most 24h"),
    ("infinite timeout", "haproxy:\n  timeout: .inf\n", [], "haproxy.timeout: must be at most 24h"),
    ("not a number", "haproxy:\n  timeout: .nan\n", [], "haproxy.timeout: must be above zero"),
    ("huge duration text", None, ["--haproxy.connect-timeout=99999999999s"], "haproxy.connect_timeout: must be at most"),
    ("huge max_age", "poll:\n  max_age: 25h\n", [], "poll.max_age: must be at most 24h"),
    ("bad max_response_bytes flag", None, ["--haproxy.max-response-bytes=-3"], "haproxy.max_response_bytes:"),
    ("max_age below interval", "poll:\n  interval: 10s\n  max_age: 5s\n", [], "poll.max_age: must be at least"),
    ("bad address port", "haproxy:\n  address: ipv4@127.0.0.1:99999\n", [], "haproxy.address: bad port"),
    ("bad address host", "haproxy:\n  address: ipv4@localhost:9999\n", [], "haproxy.address:"),
    ("bad address prefix", None, ["--haproxy.address=tcp@127.0.0.1:1"], "haproxy.address: unknown address prefix"),
    ("empty address", "haproxy:\n  address: ''\n", [], "haproxy.address:"),
    ("bad listen address", None, ["--web.listen-address=nonsense"], "web.listen_address:"),
    ("bad telemetry path", "web:\n  telemetry_path: metrics\n", [], "web.telemetry_path:"),
    ("telemetry path on a page of the exporter", "web:\n  telemetry_path: /-/ready\n", [],
     "web.telemetry_path: /-/ready is one of the exporter's own pages"),
    ("bad log level", None, ["--log.level=verbose"], "log.level:"),
    ("bad yaml", "poll: [\n", [], "config.file: CONFIG is not valid YAML at line"),
    ("yaml tabs", "poll:\n\tinterval: 5s\n", [], "config.file: CONFIG is not valid YAML"),
    ("top level list", "- a\n", [], "(top level): expected a mapping"),
    ("missing file", None, ["--config.file=/nonexistent/exporter.yml"], "config.file: cannot read /nonexistent"),
    ("directory as file", None, ["--config.file=/tmp"], "config.file: cannot read /tmp"),
    ("missing web config file", "web:\n  config_file: /nonexistent/web.yml\n", [], "web.config_file: cannot read"),
    ("bad web config file", "web:\n  config_file: WEB\n", [], "web.config_file: WEB: basic_auth_users.bob:"),
    ("unknown flag", None, ["--haproxy.adress=/x.sock"], "flag error: unrecognized arguments"),
    ("zero max_connections", "web:\n  max_connections: 0\n", [], "web.max_connections: expected a positive whole number"),
    ("bad max_connections flag", None, ["--web.max-connections=lots"], "web.max_connections: expected a positive"),
    ("bad listen_backlog", "web:\n  listen_backlog: -1\n", [], "web.listen_backlog: expected a positive"),
    ("negative header timeout flag", None, ["--web.read-header-timeout=-1s"], "web.read_header_timeout:"),
    ("zero idle timeout", "web:\n  idle_timeout: 0\n", [], "web.idle_timeout: must be above zero"),
    ("bad stall timeout", None, ["--web.write-stall-timeout=soon"], "web.write_stall_timeout: expected a duration"),
    ("write_timeout below the stall timeout", "web:\n  write_stall_timeout: 1m\n  write_timeout: 30s\n", [],
     "web.write_timeout: must be at least web.write_stall_timeout"),
    ("bad tls handshake timeout", "web:\n  tls_handshake_timeout: [1]\n", [], "web.tls_handshake_timeout: expected"),
    # Counts have ceilings: a huge backlog overflowed listen() (a traceback, exit 1).
    ("huge listen_backlog", "web:\n  listen_backlog: 99999999999999\n", [], "web.listen_backlog: must be at most 65,535"),
    ("huge listen_backlog flag", None, ["--web.listen-backlog=2147483648"], "web.listen_backlog: must be at most"),
    ("huge max_connections", "web:\n  max_connections: 10000000\n", [], "web.max_connections: must be at most"),
    ("huge concurrency", "poll:\n  concurrency: 100000\n", [], "poll.concurrency: must be at most 1,024"),
    ("huge max_series", "poll:\n  max_series: 1.0e+30\n", [], "poll.max_series: expected a positive whole number"),
    ("huge max_series int", "poll:\n  max_series: 100000000000\n", [], "poll.max_series: must be at most"),
    ("huge max_response_bytes", None, ["--haproxy.max-response-bytes=1" + "0" * 30], "haproxy.max_response_bytes: must be"),
    ("huge target max_response_bytes", "targets:\n  - {name: a, address: /a.sock, max_response_bytes: 99999999999999}\n",
     [], "targets[0].max_response_bytes: must be at most"),
    ("huge max_entries", "stick_tables:\n  - {name: t, max_entries: 99999999999}\n", [],
     "stick_tables[0].max_entries: must be at most"),
    ("huge max_per_poll", "certificates:\n  max_per_poll: 99999999999\n", [], "certificates.max_per_poll: must be at most"),
    ("a 5000-digit number", "poll:\n  concurrency: " + "9" * 5000 + "\n", [], "config.file: CONFIG is not valid YAML at line 2"),
    ("a 5000-digit number flag", None, ["--poll.concurrency=" + "9" * 5000], "poll.concurrency: expected a positive whole"),
    ("a 5000-digit port", None, ["--web.listen-address=:" + "9" * 5000], "web.listen_address: expected [host]:port"),
    # What the YAML loader refuses before building anything.
    ("alias bomb", "poll:\n  max_age: " + "BOMB", [], "config.file: CONFIG refused at line 2"),
    ("alias cycle", "poll:\n  max_age: &a [*a]\n", [], "config.file: CONFIG refused at line 2, column 16: alias *a refers"),
    ("nested too deep", "poll:\n  max_age: " + "[" * 5000 + "]" * 5000 + "\n", [], "nested more than 64 levels"),
    ("impossible date", "poll:\n  max_age: 2024-13-01\n", [], "config.file: CONFIG is not valid YAML: month must be in"),
    ("huge key", "? " + "x" * 100_000 + "\n: 1\n", [], "config error: xxxx"),
    ("key with a newline", '"a\\nb": 1\n', [], "config error: a\\nb: unknown section"),
    ("web config server header", "web:\n  config_file: HEADERS\n", [],
     "web.config_file: HEADERS: http_server_config.headers.Content-Length: set by the exporter itself"),
]


@pytest.mark.parametrize("name,yaml_text,flags,expected", CASES, ids=[c[0] for c in CASES])
def test_invalid_config_one_line_exit_2(tmp_path: Path, name: str, yaml_text: str | None, flags: list[str],
                                        expected: str) -> None:
    config = tmp_path / "exporter.yml"
    web = tmp_path / "web.yml"
    web.write_text("basic_auth_users:\n  bob: hunter2\n")
    headers = tmp_path / "headers.yml"
    headers.write_text("http_server_config:\n  headers:\n    Content-Length: '0'\n")
    args = list(flags)
    if yaml_text is not None:
        config.write_text(yaml_text.replace("HEADERS", str(headers)).replace("WEB", str(web))
                          .replace("BOMB", bomb(7)))
        args = ["--config.file", str(config), *args]
    result = run_cli(*args)
    assert result.returncode == 2, result.stderr[:1000]
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr[:1000]
    assert "Traceback" not in result.stderr
    assert lines[0].startswith("haproxy-runtime-exporter: ")
    assert len(lines[0]) < 600, "an error line is bounded, whatever the value it quotes"
    assert expected.replace("CONFIG", str(config)).replace("HEADERS", str(headers)).replace("WEB", str(web)) in lines[0]


def test_a_file_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "exporter.yml"
    config.write_bytes(b"poll:\n  interval: \xff\xfe5s\n")
    result = run_cli("--config.file", str(config))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"haproxy-runtime-exporter: config error: config.file: {config} is not "
                                          "valid YAML: unacceptable character #x00ff: invalid start byte"]


def test_an_oversized_file_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    config = tmp_path / "exporter.yml"
    config.write_text("# a comment\n" * 100_000)  # valid YAML (no settings at all), but 1.2 MB of it
    result = run_cli("--config.file", str(config))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"haproxy-runtime-exporter: config error: config.file: {config} is larger "
                                          "than 1 MiB: not a config file"]


@pytest.mark.parametrize("cost", ["03", "32"])
def test_a_bcrypt_cost_no_password_can_match_is_one_line_exit_2(tmp_path: Path, cost: str) -> None:
    """Go's bcrypt takes costs 04-31; outside them every login would fail, silently."""
    web = tmp_path / "web.yml"
    web.write_text(f"basic_auth_users:\n  bob: '$2b${cost}$abcdefghijklmnopqrstuu1234567890123456789012345678901'\n")
    result = run_cli("--web.config.file", str(web))
    assert result.returncode == 2 and result.stdout == "", result.stderr
    assert result.stderr.splitlines() == [f"haproxy-runtime-exporter: config error: web.config_file: {web}: "
                                          f"basic_auth_users.bob: bcrypt cost {cost} is outside 04-31: "
                                          "no password would match it"]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run the CLI as another user")
def test_config_file_without_read_permission() -> None:
    with tempfile.TemporaryDirectory(prefix="hrxc") as d:  # /tmp/hrxc*: others may enter, unlike pytest's
        os.chmod(d, 0o755)
        config = Path(d) / "exporter.yml"
        config.write_text("haproxy:\n  address: /nonexistent.sock\n")
        os.chmod(config, 0o644)  # control: readable, so the CLI gets past the config (and fails to poll)
        readable = run_cli("--once", "--config.file", str(config), user=65534)
        assert readable.returncode == 1, readable.stderr
        os.chmod(config, 0o600)  # root's file; the exporter runs as nobody
        result = run_cli("--once", "--config.file", str(config), user=65534)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"haproxy-runtime-exporter: config error: config.file: cannot read {config}: Permission denied"]


# --------------------------------------------------------------------- what a refused file costs

PEAK_RSS_BOUND_KIB = 100 * 1024  # the CLI alone peaks at ~25 MiB; before the loader counted, the bomb took ~1 GB


# The CLI reports its own high-water mark at exit.  Not os.wait4's ru_maxrss: Linux carries the
# pre-exec peak of the forked child, which is the whole pytest process (~200 MiB late in the suite).
_REPORT_PEAK = """
import atexit, sys
out = sys.argv.pop(1)
def peak():
    with open("/proc/self/status") as fh:
        kib = next(line.split()[1] for line in fh if line.startswith("VmHWM:"))
    with open(out, "w") as fh:
        fh.write(kib)
atexit.register(peak)
from exporter.cli import main
sys.exit(main(sys.argv[1:]))
"""


class Measured:
    """The CLI in a subprocess with stderr in a file; its own peak RSS (VmHWM) written at exit."""

    def __init__(self, workdir: Path, *args: str) -> None:
        self.stderr_path = workdir / "stderr"
        self.peak_path = workdir / "peak-kib"
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen([sys.executable, "-c", _REPORT_PEAK, str(self.peak_path), *args],
                                         stdout=subprocess.DEVNULL, stderr=err, cwd=REPO)

    def stderr(self) -> str:
        with open(self.stderr_path, "rb") as fh:
            return fh.read(64 * 1024).decode(errors="replace")  # the unbounded messages were hundreds of MB

    def reap(self, timeout: float = 60) -> tuple[int, int]:
        """(exit status, peak resident KiB); a process still running after ``timeout`` is killed."""
        deadline = time.monotonic() + timeout
        while True:
            pid, status, _usage = os.wait4(self.proc.pid, os.WNOHANG)
            if pid:
                self.proc.returncode = os.waitstatus_to_exitcode(status)
                assert self.peak_path.exists(), f"the CLI did not report its peak:\n{self.stderr()}"
                return self.proc.returncode, int(self.peak_path.read_text())
            if time.monotonic() > deadline:
                self.proc.kill()
                _, status, _usage = os.wait4(self.proc.pid, 0)
                self.proc.returncode = os.waitstatus_to_exitcode(status)
                raise AssertionError(f"still running after {timeout}s:\n{self.stderr()}")
            time.sleep(0.02)

    def running(self) -> bool:
        return self.proc.returncode is None and os.wait4(self.proc.pid, os.WNOHANG)[0] == 0


@pytest.mark.parametrize("flag,text", [
    ("--config.file", "poll:\n  max_age: BOMB"),
    ("--web.config.file", "tls_server_config:\n  key_file: k\n  cert_file: BOMB"),  # its error quoted the value
], ids=["config.file", "web.config.file"])
def test_an_alias_bomb_is_one_line_at_once_in_bounded_memory(tmp_path: Path, flag: str, text: str) -> None:
    path = tmp_path / "bomb.yml"
    path.write_text(text.replace("BOMB", bomb(8)))
    assert path.stat().st_size < 444
    cli = Measured(tmp_path, flag, str(path))
    status, peak = cli.reap()
    lines = cli.stderr().splitlines()
    assert status == 2
    assert len(lines) == 1 and len(lines[0]) < 600, lines[:1]
    key = "config.file" if flag == "--config.file" else "web.config_file"
    assert re.fullmatch(f"haproxy-runtime-exporter: config error: {key}: {path} refused at line "
                        f"{text.count(chr(10)) + 1}, column [0-9]+: "
                        r"more than 100,000 values with aliases expanded \(an alias bomb\?\)", lines[0]), lines[0]
    assert peak < PEAK_RSS_BOUND_KIB, f"peak RSS {peak} KiB"


def test_an_alias_bomb_on_sighup_is_refused_and_sigterm_still_stops(tmp_path: Path) -> None:
    config = tmp_path / "exporter.yml"
    config.write_text("haproxy:\n  address: /nonexistent/haproxy.sock\n")
    cli = Measured(tmp_path, "--config.file", str(config), "--web.listen-address", f"127.0.0.1:{free_ports(1)[0]}")
    try:
        wait_for(lambda: "listening on" in cli.stderr(), 30, f"the exporter did not start:\n{cli.stderr()}")
        config.write_text("poll:\n  max_age: " + bomb(8))
        cli.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "config reload refused" in cli.stderr() or not cli.running(), 60,
                 f"no refusal logged:\n{cli.stderr()}")
        assert cli.running(), cli.stderr()
        cli.proc.send_signal(signal.SIGTERM)
        status, peak = cli.reap(30)  # only a stop stuck behind the reload would reach 30 s
    finally:
        if cli.proc.returncode is None:
            cli.proc.kill()
            cli.reap()
    refused = [line for line in cli.stderr().splitlines() if "config reload refused" in line]
    assert status == 0
    assert len(refused) == 1 and len(refused[0]) < 800, refused[:1]
    assert "more than 100,000 values with aliases expanded" in refused[0]
    assert "received SIGTERM, stopping" in cli.stderr()
    assert peak < PEAK_RSS_BOUND_KIB, f"peak RSS {peak} KiB"
