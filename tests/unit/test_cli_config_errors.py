"""Every invalid config value, through the real CLI in a subprocess: one stderr line naming the key,
exit status 2, no traceback, nothing on stdout."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from support import run_cli_as

REPO = Path(__file__).resolve().parents[2]


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
]


@pytest.mark.parametrize("name,yaml_text,flags,expected", CASES, ids=[c[0] for c in CASES])
def test_invalid_config_one_line_exit_2(tmp_path: Path, name: str, yaml_text: str | None, flags: list[str],
                                        expected: str) -> None:
    config = tmp_path / "exporter.yml"
    web = tmp_path / "web.yml"
    web.write_text("basic_auth_users:\n  bob: hunter2\n")
    args = list(flags)
    if yaml_text is not None:
        config.write_text(yaml_text.replace("WEB", str(web)))
        args = ["--config.file", str(config), *args]
    result = run_cli(*args)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert lines[0].startswith("haproxy-runtime-exporter: ")
    assert expected.replace("CONFIG", str(config)).replace("WEB", str(web)) in lines[0]


@pytest.mark.parametrize("cost", ["03", "32"])
def test_a_bcrypt_cost_no_password_can_match_is_one_line_exit_2(tmp_path: Path, cost: str) -> None:
    """Go's bcrypt takes costs 04-31; outside them every login would fail, silently."""
    web = tmp_path / "web.yml"
    web.write_text(f"basic_auth_users:\n  bob: '$2b${cost}$abcdefghijklmnopqrstuu1234567890123456789012345678901'\n")
    result = run_cli("--web.config.file", str(web))
    assert result.returncode == 2 and result.stdout == "", result.stderr
    assert result.stderr.splitlines() == [f"haproxy-runtime-exporter: config error: web.config_file: {web}: "
                                          f"basic_auth_users.bob: bcrypt cost {cost} is outside 04-31: no password would match it"]


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
