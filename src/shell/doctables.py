"""The parts of the documentation that are generated from the package.

``python -m layout_trees.shell.doctables [DIR]`` (or ``scripts/doctables``)
rewrites, in place, the blocks between ``<!-- generated: NAME -->`` and
``<!-- end generated: NAME -->`` in ``README.md`` and ``docs/rules.md``:

- ``rules``: every rule of ``layout check`` with its documentation (from
  :mod:`layout_trees.core.check.registry`, the text ``layout check --explain``
  prints);
- ``tree-keys`` and ``backup-keys``: the keys of ``[tree.NAME]`` and
  ``[tree.NAME.backup]`` (from the settings tables of the configuration).

A test checks that the committed files are current.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

from ..core.backup.policy import POLICY_TABLE
from ..core.check.registry import rules_markdown
from ..core.config import TREE_TABLE

BLOCKS: dict[str, dict[str, Callable[[], str]]] = {
    "README.md": {"tree-keys": TREE_TABLE.markdown, "backup-keys": POLICY_TABLE.markdown},
    "docs/rules.md": {"rules": rules_markdown},
}


def _block(name: str) -> re.Pattern[str]:
    return re.compile(rf"(<!-- generated: {re.escape(name)} [^\n]*-->\n)(.*?)"
                      rf"(<!-- end generated: {re.escape(name)} -->)", re.S)


def render(text: str, blocks: dict[str, Callable[[], str]], where: str = "") -> str:
    """``text`` with each named block replaced by its current content; a block that is
    missing is an error (SystemExit naming it)."""
    for name, make in blocks.items():
        pattern = _block(name)
        match = pattern.search(text)
        if match is None:
            raise SystemExit(f"doctables: {where}: no block '{name}'")
        text = (text[:match.start(2)] + "\n" + make() + "\n" + text[match.end(2):])
    return text


def render_all(root: Path) -> dict[str, str]:
    """Every file with generated blocks, as it should be, by its path relative to ``root``."""
    return {rel: render((root / rel).read_text(encoding="utf-8"), blocks, rel)
            for rel, blocks in BLOCKS.items()}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    root = Path(args[0] if args else ".")
    for rel, text in render_all(root).items():
        path = root / rel
        if path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
