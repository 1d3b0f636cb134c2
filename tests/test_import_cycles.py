"""The package has no import cycle: every import counts, those under ``TYPE_CHECKING`` and inside
functions too, since each is a module that must be read to understand another.

The graph is read from the source with ``ast`` (nothing is imported), module to module:
``from exporter.web import limits`` is an arrow to exporter/web/limits.py, ``from exporter.web.auth
import Busy`` one to exporter/web/auth.py, and a package's ``__init__`` is not a stop on the way.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "exporter"


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules that ``path`` imports, anywhere in it."""
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert not node.level, f"{path}: a relative import (the package has none; this reader reads none)"
            base = node.module or ""
            for alias in node.names:
                name = f"{base}.{alias.name}"
                targets.add(name if name in known else base)
    return {name for name in targets if name in known}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module, or of one that imports itself (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1 or node in graph[node]:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_reader_sees_the_arrows_it_must() -> None:
    """The reader itself: arrows that are there, and none that are not."""
    known = modules()
    assert "exporter.web.protocol" in imports(known["exporter.web.server"], known)
    assert "exporter.web.limits" in imports(known["exporter.web.server"], known)  # from exporter.web import limits
    assert "exporter.web" not in imports(known["exporter.web.server"], known)  # ... not the package itself
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"a"}, "b": set()}) == [["a"]]


def test_the_package_has_no_import_cycle() -> None:
    known = modules()
    graph = {name: imports(path, known) for name, path in known.items()}
    assert cycles(graph) == []
