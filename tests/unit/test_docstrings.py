"""Every public class of the package says what it is (a docstring)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"



def _undocumented(tree: ast.Module) -> list[str]:
    return [node.name for node in tree.body
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_")
            and ast.get_docstring(node) is None]


def test_public_classes_have_docstrings() -> None:
    """No public class at module level lacks a docstring."""
    missing = [f"{path.relative_to(SRC).as_posix()}: {name}"
               for path in sorted(SRC.rglob("*.py"))
               for name in _undocumented(ast.parse(path.read_text(encoding="utf-8")))]
    assert missing == []


def test_checker_sees_a_missing_docstring() -> None:
    """The checker reports a public class without a docstring and skips private ones."""
    assert _undocumented(ast.parse('class A:\n    x = 1\nclass _B:\n    pass\n'
                                   'class C:\n    """C."""\n')) == ["A"]
