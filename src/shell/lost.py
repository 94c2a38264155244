"""Walking the ephemeral root for ``layout lost``.

The walk holds one directory file descriptor per level of the current path
and opens each child relative to its parent with ``O_NOFOLLOW``, so a
symlink is never followed and a directory renamed during the walk cannot
send it elsewhere.  It never enters another filesystem (``st_dev`` differs)
nor a mount point of the same one (a bind mount), and skips what the ignore
list matches.  Per directory it costs one ``scandir`` and one ``lstat`` per
entry; sizes are apparent sizes, hard links counted once.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass

from ..core.errors import EnvironmentProblem
from ..core.lost import is_generated_link, is_ignored
from ..core.mountinfo import MountEntry
from .mounttable import MOUNTINFO, read_mounts

_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass
class WalkResult:
    """What a walk of the root found outside every persisted path."""

    directories: list[tuple[str, int, int]]
    """``(path below the root, bytes, files)`` of files directly in each directory;
    files directly in the root each on their own."""
    unreadable: list[str]


def self_mounts() -> tuple[MountEntry, ...]:
    """This process's mount table: what this mount namespace sees (fail closed)."""
    try:
        return read_mounts()
    except OSError as exc:
        raise EnvironmentProblem(f"{MOUNTINFO}: cannot be read: {exc.strerror}",
                                 "is /proc mounted?") from None


def _list(fd: int) -> list[os.DirEntry[str]]:
    with os.scandir(fd) as listing:
        return list(listing)


def walk_root(root: str, matcher: re.Pattern[str] | None = None) -> WalkResult:
    """Walk ``root``'s filesystem below ``root``; ``matcher`` is from ``ignore_matcher``."""
    real = os.path.realpath(root)
    try:
        root_fd = os.open(real, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise EnvironmentProblem(f"{root}: cannot open the root: {exc.strerror}",
                                 "run as root, or pass --root DIR") from None
    base = real.rstrip("/")
    mountpoints = frozenset(m.mountpoint for m in self_mounts()
                            if m.mountpoint.startswith(base + "/"))
    root_dev = os.fstat(root_fd).st_dev
    result = WalkResult([], [])
    seen_inodes: set[int] = set()
    stack: list[tuple[int, str, Iterator[str]]] = []

    def visit(fd: int, rel: str) -> Iterator[str]:
        try:
            entries = _list(fd)
        except OSError:
            result.unreadable.append(rel or "/")
            return iter(())
        size = count = 0
        subdirs: list[str] = []
        for entry in entries:
            path = f"{rel}/{entry.name}"
            if is_ignored(path, matcher):
                continue
            try:
                st = entry.stat(follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    if st.st_dev == root_dev and base + path not in mountpoints:
                        subdirs.append(entry.name)
                    continue
                if stat.S_ISLNK(st.st_mode) and is_generated_link(
                        os.readlink(entry.name, dir_fd=fd)):
                    continue
            except OSError:
                result.unreadable.append(path)
                continue
            if st.st_nlink > 1 and not stat.S_ISDIR(st.st_mode):
                if st.st_ino in seen_inodes:
                    continue
                seen_inodes.add(st.st_ino)
            if rel:
                size += st.st_size
                count += 1
            else:
                result.directories.append((path, st.st_size, 1))
        if count:
            result.directories.append((rel, size, count))
        return iter(sorted(subdirs))

    stack.append((root_fd, "", visit(root_fd, "")))
    try:
        while stack:
            fd, rel, pending = stack[-1]
            name = next(pending, None)
            if name is None:
                os.close(fd)
                stack.pop()
                continue
            child_rel = f"{rel}/{name}"
            try:
                child = os.open(name, _OPEN_DIR, dir_fd=fd)
            except OSError:
                result.unreadable.append(child_rel)
                continue
            if os.fstat(child).st_dev != root_dev:  # replaced by a mount since the listing
                os.close(child)
                continue
            stack.append((child, child_rel, iter(())))
            stack[-1] = (child, child_rel, visit(child, child_rel))
    finally:
        for fd, _, _ in stack:
            os.close(fd)
    return result
