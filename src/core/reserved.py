"""What is never part of a layout tree, although it lies inside one.

The project itself creates directories and subvolumes next to the leaves it
manages: the backup snapshot directory (a policy's ``snapshot_dir``, relative
to the filesystem's top level, ``.snapshots`` by default), which lies inside a
tree when the tree is the filesystem's top level, and the work names of
commands that build something before moving it into place.  A scan of such
entries would treat backups as structure, watch every directory of every
snapshot and back the backups up.

The rule, one for every reader (scan, plan, check, watch, backup manifest):

- every entry whose name starts with :data:`RESERVED_PREFIX` (``.layout-trees``)
  belongs to the project: commands that build things inside a tree (persist,
  restore) use such names for their work in progress;
- the snapshot directory of every configured policy (and the default one) is
  reserved where it lies inside a tree.

Reserved entries and everything below them are not scanned, not planned, not
checked, not watched and not in any manifest.
"""

from __future__ import annotations

from collections.abc import Iterable

RESERVED_PREFIX = ".layout-trees"
DEFAULT_SNAPSHOT_DIR = ".snapshots"
"""The default of ``BackupPolicy.snapshot_dir`` (a test keeps the two equal)."""


def reserved_paths(root_subvol_path: str | None,
                   snapshot_dirs: Iterable[str]) -> frozenset[tuple[str, ...]]:
    """Paths inside a tree (as component tuples) that the snapshot directories take, for
    a tree whose root is ``root_subvol_path`` from the filesystem's top level."""
    if root_subvol_path is None:
        return frozenset()
    root = tuple(p for p in root_subvol_path.split("/") if p)
    found: set[tuple[str, ...]] = set()
    for directory in snapshot_dirs:
        parts = tuple(p for p in directory.split("/") if p)
        if len(parts) > len(root) and parts[: len(root)] == root:
            found.add(parts[len(root):])
    return frozenset(found)


def is_reserved(path: tuple[str, ...], reserved: frozenset[tuple[str, ...]]) -> bool:
    """Whether the entry at ``path`` (inside a tree) is the project's own, given the
    tree's :func:`reserved_paths`: checked on the entry itself, not its parents."""
    return path[-1].startswith(RESERVED_PREFIX) or path in reserved


def is_reserved_below(path: tuple[str, ...], reserved: frozenset[tuple[str, ...]],
                      known: dict[tuple[str, ...], bool] | None = None) -> bool:
    """Whether ``path`` or any directory above it is reserved.  ``known`` remembers the
    answer per path across calls for one tree (entries share their parents)."""
    if known is None:
        return any(is_reserved(path[:i], reserved) for i in range(1, len(path) + 1))
    found = known.get(path)
    if found is None:
        found = known[path] = is_reserved(path, reserved) or (
            len(path) > 1 and is_reserved_below(path[:-1], reserved, known))
    return found
