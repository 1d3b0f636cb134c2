"""The systemd unit: systemd's own verifier accepts it, and it keeps the promised shape.

`systemd-analyze verify` is optional (skipped where systemd is not installed; CI does not need it).
It checks every directive and that ExecStart points at an executable, so the test points ExecStart
at the entry point pip installed into this virtualenv.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support import unit_directives

from exporter.cli import build_parser

UNIT = Path(__file__).resolve().parents[2] / "deploy" / "systemd" / "haproxy-runtime-exporter.service"
INSTALLED_PATH = "/opt/haproxy-runtime-exporter/bin/haproxy-runtime-exporter"


@pytest.fixture(scope="module")
def unit() -> dict[str, list[str]]:
    return unit_directives(UNIT.read_text())


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        pytest.skip("systemd-analyze is not installed (optional)")
    entry_point = Path(sys.executable).with_name("haproxy-runtime-exporter")
    assert entry_point.exists(), "pip install -e . should have created the console script"
    copy = tmp_path / UNIT.name
    copy.write_text(UNIT.read_text().replace(INSTALLED_PATH, str(entry_point)))
    result = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60)
    # verify exits 0 on unknown keys and bad values but says so: any output is a finding
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), result.stdout + result.stderr


def test_runs_unprivileged_with_group_access_to_the_socket(unit: dict[str, list[str]]) -> None:
    assert unit.get("DynamicUser") == ["yes"] or unit.get("User", ["root"])[0] not in ("root", "0")
    assert "haproxy" in unit["SupplementaryGroups"][0].split()
    assert unit["CapabilityBoundingSet"] == [""]


def test_hardening(unit: dict[str, list[str]]) -> None:
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
                       "PrivateTmp": "yes", "RestrictNamespaces": "yes"}.items():
        assert unit.get(key) == [value], key
    assert set(unit["RestrictAddressFamilies"][0].split()) == {"AF_UNIX", "AF_INET", "AF_INET6"}


def test_reload_sends_sighup_to_the_main_process(unit: dict[str, list[str]]) -> None:
    assert shlex.split(unit["ExecReload"][0]) == ["/bin/kill", "-HUP", "$MAINPID"]


def test_exec_start_flags_are_the_cli_flags(unit: dict[str, list[str]]) -> None:
    binary, *args = shlex.split(unit["ExecStart"][0])
    assert binary == INSTALLED_PATH
    parsed = build_parser().parse_args(args)  # exits 2 on an unknown flag
    assert parsed.config_file == "/etc/haproxy-runtime-exporter/config.yaml"
