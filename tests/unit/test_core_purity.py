"""The core is pure: an AST walk of every ``src/core`` module finds no forbidden import."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "src" / "core"
ALLOWED_MODULES = frozenset({
    "__future__", "enum", "typing", "collections", "collections.abc",
    "itertools", "functools", "operator", "re", "json", "difflib", "tomllib",
    "hashlib",
})
RECORD_EXCEPTIONS = frozenset({"import sys", "call to exec()"})
"""What ``record.py`` alone may do: compile each record class's ``__init__`` in its
module's namespace (``sys.modules``), as the standard ``dataclasses`` does.  The core
imports ``record`` instead of ``dataclasses``, whose import costs the generator's
start-up more than its work on a hundred leaves."""
ALLOWED_FROM = {"pathlib": frozenset({"PurePosixPath"})}
FORBIDDEN_CALLS = frozenset({"open", "print", "exec", "eval", "__import__", "input"})


def violations(source: str, package: str = "layout_trees.core") -> list[str]:
    """Every import or call in ``source`` (a module of ``package``) that the pure core may
    not make."""
    found = []
    parts = package.split(".")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name not in ALLOWED_MODULES:
                    found.append(f"line {node.lineno}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            absolute = (".".join([*parts[:len(parts) - node.level + 1], module]).rstrip(".")
                        if 0 < node.level <= len(parts) else module)
            if absolute == "layout_trees.core" or absolute.startswith("layout_trees.core."):
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


MODULES = sorted(CORE.rglob("*.py"))


def package_of(path: Path) -> str:
    """The package a module of ``src/core`` belongs to (a package's ``__init__`` is its own)."""
    return ".".join(("layout_trees", "core", *path.relative_to(CORE).parts[:-1]))


def test_core_modules_found() -> None:
    """The walk sees the core's modules, in its packages too (a wrong path or a flat walk
    would make it vacuous)."""
    names = {p.relative_to(CORE).as_posix() for p in MODULES}
    assert {"escape.py", "plan.py", "units.py", "model.py", "backup/manifest.py",
            "backup/policy.py", "check/__init__.py", "check/rules.py"} <= names
    assert len(MODULES) >= 35


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(CORE).as_posix())
def test_core_module_invariant_pure_imports(path: Path) -> None:
    """A core module imports only the core and the allowed pure standard library
    (``record.py`` also its two exceptions, and nothing more)."""
    found = violations(path.read_text(encoding="utf-8"), package_of(path))
    if path == CORE / "record.py":
        kinds = {v.split(": ", 1)[1] for v in found}
        assert kinds == RECORD_EXCEPTIONS  # both still needed, nothing else
    else:
        assert found == []


def test_core_never_imports_dataclasses() -> None:
    """No core module imports ``dataclasses`` (its import pulls ``inspect`` and ``ast``
    into the generator's start-up): values are ``@record`` classes."""
    assert violations("import dataclasses") and violations("from dataclasses import dataclass")
    for path in MODULES:
        assert "import dataclasses" not in path.read_text(encoding="utf-8")
        assert "from dataclasses" not in path.read_text(encoding="utf-8")


@pytest.mark.parametrize("source", [
    "import os", "import subprocess", "from logging import getLogger", "import time",
    "import random", "import btrfsutil", "import typer", "from ..shell import scan",
    "from layout_trees.shell.run import run", "from pathlib import Path",
    "def f():\n    import os.path\n", "open('/etc/fstab')", "from . import x\nimport sys",
    "import dataclasses", "exec('x = 1')",
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


def test_violations_follows_relative_imports_out_of_a_subpackage() -> None:
    """In a package of the core, ``..`` is still the core and ``...`` is not."""
    assert violations("from ..config import Config", "layout_trees.core.backup") == []
    assert violations("from ...shell import scan", "layout_trees.core.backup")
    assert violations("from .. import x", "layout_trees.core")
