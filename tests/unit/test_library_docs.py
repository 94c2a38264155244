"""The public API: what docs/library.md shows runs, and the pure part needs no btrfs, root,
typer or rich."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import layout_trees

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "library.md"


def python_blocks(text: str) -> list[str]:
    """The fenced python blocks, each padded with newlines so that line numbers in a failure
    are those of the document."""
    return ["\n" * text.count("\n", 0, m.start(1)) + m.group(1)
            for m in re.finditer(r"^```python\n(.*?)^```", text, flags=re.S | re.M)]


def test_library_doc_examples_run() -> None:
    """Every python block of docs/library.md runs, in order, in one namespace (they assert)."""
    blocks = python_blocks(DOC.read_text(encoding="utf-8"))
    assert len(blocks) >= 5
    namespace: dict[str, object] = {"__name__": "library_doc"}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)
    assert "changes" in namespace


def test_python_blocks_are_found() -> None:
    """The extractor finds python blocks and skips others (it would otherwise run nothing)."""
    text = "a\n```python\nx = 1\n```\n```text\nnot run\n```\n```python\ny = 2\n```\n"
    assert [b.lstrip("\n") for b in python_blocks(text)] == ["x = 1\n", "y = 2\n"]
    assert python_blocks(text)[1].index("y") == 8  # line 9 of the text


BLOCKER = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("typer", "rich", "click", "btrfsutil", "yaml"):
            raise ImportError("blocked: " + name)
        return None
sys.meta_path.insert(0, Block())
"""


def test_pure_api_works_without_typer_rich_or_btrfs() -> None:
    """With typer, rich, click, btrfsutil and yaml unimportable, the package imports and the
    documented examples run; the shell's CLI is never loaded."""
    blocks = "\n".join(python_blocks(DOC.read_text(encoding="utf-8")))
    script = BLOCKER + blocks + (
        "\nassert 'layout_trees.shell.cli' not in sys.modules\n"
        "assert not [m for m in sys.modules if m.split('.')[0] in ('typer', 'rich')]\n"
        "print('pure ok')\n")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "pure ok"
    probe = subprocess.run([sys.executable, "-c", BLOCKER + "import typer"],
                           capture_output=True, text=True, timeout=60)
    assert probe.returncode != 0 and "blocked: typer" in probe.stderr


def test_all_is_explicit_and_resolves() -> None:
    """Every name in layout_trees.__all__ resolves; a name not in it is an AttributeError."""
    for name in layout_trees.__all__:
        assert getattr(layout_trees, name) is not None
    try:
        layout_trees.not_a_name  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError:
        pass
    else:
        raise AssertionError("an unknown attribute resolved")


def test_importing_a_submodule_does_not_load_the_api() -> None:
    """The generator's import of a submodule costs nothing more: the API loads on first use."""
    done = subprocess.run(
        [sys.executable, "-c", "import sys, layout_trees.core.model;"
         "print('layout_trees.api' in sys.modules, 'layout_trees.core.diff' in sys.modules)"],
        capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["False", "False"], done.stderr
