"""The shipped Prometheus files pass Prometheus's own checker and unit tests (promtool).

promtool is the authority here: `check rules` parses every expression and template, and
`test rules` runs deploy/prometheus/alerts_test.yml against the real rule engine.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from support import require

PROM_DIR = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


@pytest.fixture(scope="module")
def promtool() -> str:
    return require(shutil.which("promtool"), "promtool (Debian package prometheus)")


def run(promtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *args], cwd=PROM_DIR, capture_output=True, text=True, timeout=60)


def alert_names() -> list[str]:
    groups = yaml.safe_load((PROM_DIR / "alerts.yml").read_text())["groups"]
    return [rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule]


def test_check_rules_passes(promtool: str) -> None:
    result = run(promtool, "check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_names())} rules found" in result.stdout


def test_check_config_passes(promtool: str) -> None:
    result = run(promtool, "check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_rule_unit_tests_pass(promtool: str) -> None:
    result = run(promtool, "test", "rules", "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_firing_case() -> None:
    """Each alert in alerts.yml is expected to fire in at least one promtool case."""
    tests = yaml.safe_load((PROM_DIR / "alerts_test.yml").read_text())["tests"]
    fired = {case["alertname"] for test in tests for case in test.get("alert_rule_test", []) if case["exp_alerts"]}
    assert set(alert_names()) - fired == set()


def test_every_alert_has_severity_and_texts() -> None:
    groups = yaml.safe_load((PROM_DIR / "alerts.yml").read_text())["groups"]
    for rule in (r for g in groups for r in g["rules"] if "alert" in r):
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert rule["annotations"].get("summary") and rule["annotations"].get("description"), rule["alert"]
        assert "for" in rule, f"{rule['alert']}: give every alert an explicit for:"


def test_unit_tests_can_fail(promtool: str, tmp_path: Path) -> None:
    """Guard against a vacuous test file: a rule that never fires must make promtool fail."""
    broken = (PROM_DIR / "alerts.yml").read_text().replace('haproxy_server_status{state="DOWN"} == 1',
                                                           'haproxy_server_status{state="DOWN"} == 2')
    (tmp_path / "alerts.yml").write_text(broken)
    shutil.copy(PROM_DIR / "alerts_test.yml", tmp_path)
    result = subprocess.run([promtool, "test", "rules", "alerts_test.yml"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "HAProxyServerDown" in result.stdout + result.stderr
