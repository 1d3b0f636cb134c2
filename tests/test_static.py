"""The habits that keep the package's shape: ruff (lint, import order) and strict mypy, both clean.

Settings live in pyproject.toml ([tool.ruff], [tool.mypy]); the tools come with the test extras.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

from support import require

ROOT = Path(__file__).resolve().parents[1]


def _tool(module: str) -> str:
    require(module if importlib.util.find_spec(module) else None, f"{module} (pip install -e '.[test]')")
    return module


def _run(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", _tool(module), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def test_ruff_is_clean() -> None:
    result = _run("ruff", "check", "exporter")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean() -> None:
    result = _run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr
