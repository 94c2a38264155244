"""The core is pure: an AST walk of every ``src/core`` module finds no forbidden import."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "src" / "core"
ALLOWED_MODULES = frozenset({
    "__future__", "dataclasses", "enum", "typing", "collections", "collections.abc",
    "itertools", "functools", "re", "json", "difflib", "tomllib",
})
ALLOWED_FROM = {"pathlib": frozenset({"PurePosixPath"})}
FORBIDDEN_CALLS = frozenset({"open", "print", "exec", "eval", "__import__", "input"})


def violations(source: str, package: str = "layout_trees.core") -> list[str]:
    """Every import or call in ``source`` that the pure core may not make."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name not in ALLOWED_MODULES:
                    found.append(f"line {node.lineno}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level == 1 or (node.level == 0 and module.startswith(package + ".")):
                continue  # the core itself
            names = {a.name for a in node.names}
            if node.level == 0 and module in ALLOWED_MODULES:
                continue
            if node.level == 0 and names <= ALLOWED_FROM.get(module, frozenset()):
                continue
            dots = "." * node.level
            imported = ", ".join(sorted(names))
            found.append(f"line {node.lineno}: from {dots}{module} import {imported}")
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id in FORBIDDEN_CALLS):
            found.append(f"line {node.lineno}: call to {node.func.id}()")
    return found


MODULES = sorted(CORE.glob("*.py"))


def test_core_modules_found() -> None:
    """The walk sees the core's modules (a wrong path would make it vacuous)."""
    assert {"escape.py", "plan.py", "units.py", "model.py"} <= {p.name for p in MODULES}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_core_module_invariant_pure_imports(path: Path) -> None:
    """A core module imports only the core and the allowed pure standard library."""
    assert violations(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("source", [
    "import os", "import subprocess", "from logging import getLogger", "import time",
    "import random", "import btrfsutil", "import typer", "from ..shell import scan",
    "from layout_trees.shell.run import run", "from pathlib import Path",
    "def f():\n    import os.path\n", "open('/etc/fstab')", "from . import x\nimport sys",
])
def test_violations_catches_forbidden_imports(source: str) -> None:
    """The checker itself flags each kind of forbidden import or call."""
    assert violations(source)


@pytest.mark.parametrize("source", [
    "from __future__ import annotations", "from .plan import Plan", "import re",
    "from collections.abc import Iterable", "from pathlib import PurePosixPath",
    "from layout_trees.core.model import Entry",
])
def test_violations_allows_the_pure_core(source: str) -> None:
    """The checker accepts the core's own and the allowed imports."""
    assert violations(source) == []
