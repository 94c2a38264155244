"""Paths below a directory that others control, resolved without following symlinks.

A tree's structure directories and the directories below a destination may
belong to users, who can replace any component by a symlink at any moment.
Everything the live commands do there goes through a directory file
descriptor reached one component at a time with ``O_NOFOLLOW``: a symlink
anywhere on the way is an error (``ELOOP``/``ENOTDIR``), never followed.
Programs that need a path (``cp``, ``mount``) get ``/proc/PID/fd/N`` of such
a descriptor, which names exactly the directory that was opened.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def components(path: str) -> tuple[str, ...]:
    """The names of an absolute path, ``()`` for ``/``."""
    return tuple(p for p in path.split("/") if p and p != ".")


def open_directory(path: str) -> int:
    """Open a directory the configuration names (symlinks above it are the administrator's)."""
    return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)


def open_beneath(base_fd: int, parts: Iterable[str]) -> int:
    """A new descriptor of ``base/parts…``, refusing a symlink at every component."""
    fd = os.dup(base_fd)
    try:
        for name in parts:
            if name in ("", ".", "..") or "/" in name:
                raise OSError(22, "not a plain path component", name)
            inner = os.open(name, DIRECTORY_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = inner
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_path_beneath(base: str, path: str) -> int:
    """Open ``path`` (at or below the directory ``base``) without following any symlink
    below ``base``."""
    base_parts, parts = components(base), components(path)
    if parts[: len(base_parts)] != base_parts:
        raise OSError(22, f"not below {base}", path)
    root = open_directory(base)
    try:
        return open_beneath(root, parts[len(base_parts):])
    finally:
        os.close(root)


def proc_path(fd: int, name: str | None = None) -> str:
    """A path that names exactly what ``fd`` is (``name`` inside it), also for a child process."""
    here = f"/proc/{os.getpid()}/fd/{fd}"
    return f"{here}/{name}" if name else here


def rename_noreplace(dir_fd: int, old: str, new: str) -> None:
    """Rename ``old`` to ``new`` inside one directory; fails if ``new`` exists (even empty)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.renameat2(dir_fd, os.fsencode(old), dir_fd, os.fsencode(new), _RENAME_NOREPLACE):
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno), new)


_RENAME_NOREPLACE = 1
