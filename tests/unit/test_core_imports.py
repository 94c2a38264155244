"""The core's modules import each other without cycles (lazy and TYPE_CHECKING imports too)."""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "src" / "core"


def _module_of(path: Path) -> tuple[str, ...]:
    """``src/core/backup/policy.py`` is ``("backup", "policy")``; a package is its directory."""
    parts = path.relative_to(CORE).with_suffix("").parts
    return parts[:-1] if parts[-1] == "__init__" else parts


def _graph() -> dict[str, set[str]]:
    modules = {_module_of(p): p for p in sorted(CORE.rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module[:-1]
        deps = graph.setdefault(".".join(module), set())
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom) or not 0 < node.level <= len(package) + 1:
                continue
            base = package[:len(package) - node.level + 1]
            if node.module:
                target = (*base, *node.module.split("."))
                deps.add(".".join(target if target in modules else target[:-1]))
            else:
                deps.update(".".join((*base, a.name)) for a in node.names
                            if (*base, a.name) in modules)
    return graph


def test_graph_sees_the_core_and_its_packages() -> None:
    """The walk finds the modules of the core's packages and their imports across levels."""
    graph = _graph()
    assert len(graph) >= 35
    assert {"config", "backup.policy", "check.registry"} <= graph["check.rules"]
    assert "backup.policy" in graph["config"]


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return [*stack[stack.index(dep):], dep]
            if dep not in state and (found := visit(dep)) is not None:
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


def test_core_import_graph_is_acyclic() -> None:
    """No core module imports, even lazily, a module that imports it back (config/policy)."""
    assert _cycle(_graph()) is None


def test_cycle_finder_finds_a_cycle() -> None:
    """The checker itself reports a cycle it is given."""
    assert _cycle({"config": {"policy"}, "policy": {"tables", "config"}, "tables": set()}) == [
        "config", "policy", "config"]
