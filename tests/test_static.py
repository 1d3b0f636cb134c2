"""The habits that keep the package's shape: ruff (lint, import order) and strict mypy, both clean,
on the exporter and on the code beside it (testkit/, bench/; ruff on tests/ too); every
benchmark script imports; and every module of the exporter imports on the oldest Python that
pyproject.toml declares.

Settings live in pyproject.toml ([tool.ruff], [tool.mypy]); the tools come with the test extras.
The suite never runs a benchmark (no timed assertions), so importing each bench module and asking
each script for ``--help`` is what keeps a change elsewhere from breaking one unseen.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest
from support import require

ROOT = Path(__file__).resolve().parents[1]
LINTED = ("exporter", "testkit", "bench", "tests")
BENCH = sorted(path.stem for path in (ROOT / "bench").glob("*.py") if path.stem != "__init__")


def _tool(module: str) -> str:
    require(module if importlib.util.find_spec(module) else None, f"{module} (pip install -e '.[test]')")
    return module


def _run(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", _tool(module), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def test_ruff_is_clean() -> None:
    result = _run("ruff", "check", *LINTED)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean() -> None:
    result = _run("mypy")  # the files and the strictness: [tool.mypy]
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", BENCH)
def test_a_bench_module_imports_without_touching_sys_path(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Each module imports from the checkout as a package, and a script builds its argument
    parser: ``--help`` prints the usage under the name it is run by and exits 0."""
    before = list(sys.path)
    module = importlib.import_module(f"bench.{name}")
    assert sys.path == before, f"bench.{name} changed sys.path"
    main = getattr(module, "main", None)
    if main is None:
        return  # a library of the scripts: importing it is the check
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: python -m bench.{name} ")


def test_a_bench_script_runs_as_a_module_from_the_checkout() -> None:
    """How the docs run them: ``python -m bench.<script>`` from the checkout, nothing on PYTHONPATH
    (the checkout is on sys.path as the current directory; its exporter and testkit come from there)."""
    result = subprocess.run([sys.executable, "-m", "bench.stat_model", "--help"], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: python -m bench.stat_model ")


def test_every_module_imports_on_the_oldest_python_the_package_declares() -> None:
    """pyproject.toml says ``requires-python >=3.9`` (Debian 11's Python), the suite runs on 3.11:
    a type alias such as ``tuple[str, str | None]`` outside an annotation, or annotations evaluated
    at run time, import there and fail on 3.9.  The 3.9 in Debian's archive is PyPy's (``pypy3``):
    every module of exporter/ is imported by it, the third-party packages taken from this
    interpreter's (those the exporter imports at the top are pure Python)."""
    pypy = require(shutil.which("pypy3"), "pypy3 (apt-get install pypy3): a Python 3.9")
    declared = re.search(r'^requires-python = ">=(\d+)\.(\d+)"$', (ROOT / "pyproject.toml").read_text(), re.M)
    assert declared is not None
    modules = sorted(".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
                     for path in (ROOT / "exporter").rglob("*.py"))
    script = ("import importlib, json, sys\n"
              f"sys.path[:0] = {[str(ROOT), *site.getsitepackages()]!r}\n"
              "failed = {}\n"
              f"for name in {modules!r}:\n"
              "    try:\n"
              "        importlib.import_module(name)\n"
              "    except Exception as exc:\n"
              "        failed[name] = f'{type(exc).__name__}: {exc}'\n"
              "print(json.dumps([list(sys.version_info[:2]), failed]))\n")
    result = subprocess.run([pypy, "-c", script], cwd="/", capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    version, failed = json.loads(result.stdout.splitlines()[-1])
    assert tuple(version) == (int(declared.group(1)), int(declared.group(2))), "pypy3 is not the declared oldest"
    assert len(modules) > 50
    assert failed == {}
