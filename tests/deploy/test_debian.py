"""debian/, read statically: the package's version, dependencies, unit, defaults and config agree with
the project (.ci/packages builds the package, runs lintian and smoke-tests it installed).

What a change elsewhere would silently break: a version bump without a changelog entry, a new
dependency in pyproject.toml that the package does not depend on, the Debian unit's hardening
drifting from deploy/systemd's, a flag renamed under the unit's ExecStart.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support import unit_directives

from exporter import __version__
from exporter.cli import build_parser
from exporter.config import load_config
from exporter.web.limits import FD_RESERVE

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = None

ROOT = Path(__file__).resolve().parents[2]
DEBIAN = ROOT / "debian"
UNIT = DEBIAN / "haproxy-runtime-exporter.service"
TWIN = ROOT / "deploy" / "systemd" / "haproxy-runtime-exporter.service"
CONFFILE = "/etc/haproxy-runtime-exporter.yaml"
# PyPI name -> bookworm's package; None: not packaged in bookworm, left out on purpose (docs/packaging.md)
DEBIAN_NAMES = {"prometheus_client": "python3-prometheus-client", "pyyaml": "python3-yaml",
                "bcrypt": "python3-bcrypt", "h11": "python3-h11", "isal": None}
# Where the package's version floor differs from pyproject.toml's, and why (docs/packaging.md)
RELAXED = {"python3-h11": "0.14.0-1.1~deb12u1"}  # bookworm's 0.14 with the CVE-2025-43859 fix backported
# What only identity and start-up may differ in between the two units
OWN_KEYS = {"ExecStart", "User", "Group", "DynamicUser", "SupplementaryGroups", "EnvironmentFile", "Documentation"}


def control_depends() -> dict[str, str | None]:
    """The binary package's Depends: name -> version floor (None when unversioned)."""
    text = re.sub(r"^#.*\n", "", (DEBIAN / "control").read_text(), flags=re.M)
    binary = text.split("\n\n")[1]
    field = re.search(r"^Depends:(.*(?:\n .*)*)", binary, flags=re.M).group(1)
    found: dict[str, str | None] = {}
    for item in (i.strip() for i in field.replace("\n", " ").split(",")):
        if item:
            m = re.fullmatch(r"(\S+)(?: \(>= ([^)]+)\))?", item)
            assert m, item
            found[m.group(1)] = m.group(2)
    return found


def pyproject_dependencies() -> dict[str, str]:
    if tomllib is None:
        pytest.skip("tomllib needs Python 3.11")
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return dict(re.fullmatch(r"([A-Za-z0-9_.-]+)>=([\d.]+)", d).groups() for d in deps)


def test_the_changelog_version_is_the_exporters() -> None:
    top = (DEBIAN / "changelog").read_text().splitlines()[0]
    assert re.match(r"haproxy-runtime-exporter \(([^)]+)\)", top).group(1) == __version__  # native: no revision
    assert (DEBIAN / "source" / "format").read_text().strip() == "3.0 (native)"


def test_every_runtime_dependency_is_a_versioned_depends() -> None:
    wanted = pyproject_dependencies()
    assert set(wanted) == set(DEBIAN_NAMES), "a new dependency: name its bookworm package in DEBIAN_NAMES"
    depends = control_depends()
    assert {name for name in depends if name.startswith("python3-")} == {d for d in DEBIAN_NAMES.values() if d}
    for pypi, deb in DEBIAN_NAMES.items():
        if deb is not None:
            assert depends[deb] == RELAXED.get(deb, wanted[pypi]), deb
    assert "${python3:Depends}" in depends and "adduser" in depends


def test_the_unit_keeps_the_hardening_of_deploy_systemd() -> None:
    ours, twin = unit_directives(UNIT.read_text()), unit_directives(TWIN.read_text())
    assert {k: v for k, v in ours.items() if k not in OWN_KEYS} == {k: v for k, v in twin.items() if k not in OWN_KEYS}
    assert ours["User"] == ours["Group"] == ["haproxy-runtime-exporter"]
    assert "haproxy-runtime-exporter" in (DEBIAN / "haproxy-runtime-exporter.postinst").read_text()


def test_limit_nofile_holds_the_default_connections_and_the_reserve() -> None:
    limit = int(unit_directives(UNIT.read_text())["LimitNOFILE"][0])
    assert limit >= load_config(None).web.max_connections + FD_RESERVE


def test_exec_start_reads_the_conffile_and_the_default_args() -> None:
    binary, *args = shlex.split(unit_directives(UNIT.read_text())["ExecStart"][0])
    assert binary == "/usr/bin/haproxy-runtime-exporter"
    assert args[-1] == "$ARGS"
    assert build_parser().parse_args(args[:-1]).config_file == CONFFILE
    env_file = unit_directives(UNIT.read_text())["EnvironmentFile"][0]
    assert env_file == "/etc/default/haproxy-runtime-exporter"
    default = (DEBIAN / "haproxy-runtime-exporter.default").read_text()
    assert re.search(r'^ARGS=""$', default, flags=re.M)
    rules = (DEBIAN / "rules").read_text()
    installed = re.search(r"install -D -m 0644 (\S+) \$\(PKG\)(\S+)", rules)
    assert installed.group(2) == CONFFILE
    load_config(str(ROOT / installed.group(1)))  # the conffile loads as it is


def test_the_launcher_imports_from_the_private_directory() -> None:
    launcher = (DEBIAN / "haproxy-runtime-exporter.launcher").read_text()
    private = re.search(r"^PRIVATE := (\S+)$", (DEBIAN / "rules").read_text(), flags=re.M).group(1)
    assert launcher.startswith("#!/usr/bin/python3\n")
    assert f'sys.path.insert(0, "{private}")' in launcher
    if tomllib is not None:
        script = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]["haproxy-runtime-exporter"]
        module, _, function = script.partition(":")
        assert f"from {module} import {function}" in launcher


def test_the_man_page_is_the_generated_one() -> None:
    """The page the suite keeps equal to the flags (python -m exporter.docs --man), not a second one."""
    pages = [line for line in (DEBIAN / "haproxy-runtime-exporter.manpages").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert pages == ["docs/haproxy-runtime-exporter.1"]
    assert (ROOT / pages[0]).read_text().startswith(".\\\" Generated by python -m exporter.docs --man")


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        pytest.skip("systemd-analyze is not installed (optional)")
    entry_point = Path(sys.executable).with_name("haproxy-runtime-exporter")
    assert entry_point.exists(), "pip install -e . should have created the console script"
    environment = tmp_path / "default"
    environment.write_text('ARGS=""\n')
    copy = tmp_path / UNIT.name
    # verify runs `man` on Documentation=man:...: the page is made when the package is built
    text = re.sub(r"^Documentation=man:.*\n", "", UNIT.read_text(), flags=re.M)
    copy.write_text(text.replace("/usr/bin/haproxy-runtime-exporter", str(entry_point))
                    .replace("/etc/default/haproxy-runtime-exporter", str(environment)))
    result = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), result.stdout + result.stderr
