"""Path predicates shared by the whole core: "within", "below" and the leaf rule.

Theory of operation: paths here are simplified absolute POSIX strings (as
``escape.simplify_path`` returns them), so "below" is a prefix test on whole
components and needs no I/O.  Tree-relative paths are tuples of components; the
leaf rule and the structure rule are written on those tuples once, here, and
``model.Entry`` exposes them as properties.
"""

from __future__ import annotations

from collections.abc import Sequence


def is_within(path: str, base: str) -> bool:
    """Whether ``path`` is ``base`` or below it (both simplified absolute paths)."""
    return path == base or base == "/" or path.startswith(base.rstrip("/") + "/")


def is_strictly_below(path: str, base: str) -> bool:
    """Whether ``path`` is below ``base`` and not ``base`` itself."""
    return path != base and is_within(path, base)


def parent_of(path: str) -> str:
    """The directory holding ``path`` (``/`` for ``/`` itself and for top-level paths)."""
    return path.rsplit("/", 1)[0] or "/"


def ancestors(path: str) -> tuple[str, ...]:
    """Every directory strictly above ``path``, nearest first, ending with ``/``."""
    out = []
    while path != "/":
        path = parent_of(path)
        out.append(path)
    return tuple(out)


def has_at_above(parts: Sequence[str]) -> bool:
    """Whether an ``@`` name stands above the last component of a tree-relative path."""
    return any(p.startswith("@") for p in parts[:-1])


def is_leaf_path(parts: Sequence[str]) -> bool:
    """The leaf rule: the path ends in an ``@`` name with no ``@`` name above it."""
    return bool(parts) and parts[-1].startswith("@") and not has_at_above(parts)


def is_structure_path(parts: Sequence[str]) -> bool:
    """Whether a tree-relative path is in the structure: no ``@`` name in it at all."""
    return not any(p.startswith("@") for p in parts)


__all__ = ["ancestors", "has_at_above", "is_leaf_path", "is_strictly_below", "is_structure_path",
           "is_within", "parent_of"]
