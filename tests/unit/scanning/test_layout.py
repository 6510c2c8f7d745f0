"""The scanning package has no import circle, counting imports made inside functions, and
format checkers never reach back into the inspector."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import mlflow_supplychain.scanning as scanning

ROOT = Path(scanning.__file__).parent
PACKAGE = "mlflow_supplychain.scanning"


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return ".".join([PACKAGE, *parts])


def _imports(path: Path, name: str) -> set[str]:
    """Every scanning module ``path`` imports, at any level of the file."""
    found: set[str] = set()
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor[:len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        found.update(t for t in targets if t.startswith(PACKAGE))
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        graph[name] = {t for t in _imports(path, name) if t in modules and t != name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_scanning_has_no_import_circle() -> None:
    graph = _graph()
    assert len(graph) > 20
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_the_cycle_check_finds_a_circle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_checkers_do_not_import_the_inspector() -> None:
    graph = _graph()
    for name, targets in graph.items():
        if ".checkers" in name:
            assert f"{PACKAGE}.inspector" not in targets, name


def test_every_module_imports_on_its_own() -> None:
    names = sorted(_graph())
    code = ("import importlib, sys\n"
            "for n in sys.argv[1:]:\n"
            "    for m in [m for m in sys.modules if m.startswith('mlflow_supplychain')]:\n"
            "        del sys.modules[m]\n"
            "    importlib.import_module(n)\n")
    subprocess.run([sys.executable, "-c", code, *names], check=True, timeout=120)
    assert importlib.import_module(f"{PACKAGE}.checkers").REGISTRY.streams
