"""Acting below a directory without following symlinks: directory file descriptors.

Theory of operation.  Below a directory that a user or a document controls
(a tree's structure, the directories below a destination, a tree being
restored, a leaf being dropped), a path is never handed to the kernel whole:
it is walked one component at a time with ``openat(O_DIRECTORY | O_NOFOLLOW)``
from the directory's file descriptor, so a symlink (or a file) at any
component stops the walk instead of leading elsewhere.  Effects then use the
``*at`` calls on the parent's descriptor and a single name (``mkdir``,
``fchown``, ``fchmod``, ``renameat2``), and a library or program that wants
a path (``cp``, ``mount``, btrfsutil) gets the descriptor's magic link
(:func:`fd_path`), which names exactly the directory that was opened,
whatever was renamed or replaced since.

Two flavours of the same walk: :func:`open_beneath` raises the ``OSError``
itself (``ELOOP``/``ENOTDIR`` for a symlink or a file), for callers that
report the errno; :func:`open_below` turns those into :class:`NotBeneath`,
a one-line user error naming the path.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import stat
from collections.abc import Iterable, Iterator, Sequence

from ..core.errors import UserError

RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | os.O_NOFOLLOW


class NotBeneath(UserError):
    """Something other than a directory (a symlink, a file) where a directory belongs."""


def components(path: str) -> tuple[str, ...]:
    """The names of an absolute path, ``()`` for ``/``."""
    return tuple(p for p in path.split("/") if p and p != ".")


def open_directory(path: str) -> int:
    """Open a directory the configuration names (symlinks on its way are the
    administrator's, and are followed)."""
    return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)


def open_dir(path: str) -> int:
    """Open a directory named by the administrator (a command-line path) that is not a
    symlink itself; its ancestors are resolved as usual."""
    try:
        return os.open(path, DIRECTORY_FLAGS)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise NotBeneath(f"{path}: not a directory (a symlink or a file)",
                             "give the directory's own path") from None
        raise


def open_beneath(base_fd: int, parts: Iterable[str], make: int | None = None) -> int:
    """A new descriptor of ``base/parts…``, refusing a symlink at every component (the
    ``OSError`` names the relative path walked so far).  A missing component is
    ``FileNotFoundError`` unless ``make`` gives the mode to make it with."""
    fd = os.dup(base_fd)
    walked: list[str] = []
    try:
        for name in parts:
            walked.append(name)
            if name in ("", ".", "..") or "/" in name:
                raise OSError(errno.EINVAL, "not a plain path component", "/".join(walked))
            if make is not None and lstat_at(fd, name) is None:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, make, dir_fd=fd)
            try:
                inner = os.open(name, DIRECTORY_FLAGS, dir_fd=fd)
            except OSError as exc:
                raise OSError(exc.errno, exc.strerror, "/".join(walked)) from None
            os.close(fd)
            fd = inner
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_below(dir_fd: int, parts: Sequence[str], where: str = "",
               make: int | None = None) -> int:
    """:func:`open_beneath`, with a symlink or file on the way a :class:`NotBeneath`;
    ``where`` names ``dir_fd`` in messages."""
    try:
        return open_beneath(dir_fd, parts, make)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            shown = os.path.join(where, str(exc.filename))
            raise NotBeneath(f"{shown}: not a directory (a symlink or a file); not followed",
                             "move it away and run the command again") from None
        raise


def open_path_beneath(base: str, path: str) -> int:
    """Open ``path`` (at or below the directory ``base``) without following any symlink
    below ``base``."""
    base_parts, parts = components(base), components(path)
    if parts[: len(base_parts)] != base_parts:
        raise OSError(errno.EINVAL, f"not below {base}", path)
    root = open_directory(base)
    try:
        return open_beneath(root, parts[len(base_parts):])
    finally:
        os.close(root)


@contextlib.contextmanager
def opened(fd: int) -> Iterator[int]:
    """Close ``fd`` on leaving."""
    try:
        yield fd
    finally:
        os.close(fd)


def lstat_at(dir_fd: int, name: str) -> os.stat_result | None:
    """``lstat`` of one name in a directory; None when it does not exist."""
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def is_directory(st: os.stat_result | None) -> bool:
    return st is not None and stat.S_ISDIR(st.st_mode)


def fd_path(fd: int, name: str | None = None) -> str:
    """A path naming the open directory ``fd`` (and ``name`` in it), valid in this process
    and in its children (``/proc/PID/fd/N``): for libraries and programs that take paths."""
    base = f"/proc/{os.getpid()}/fd/{fd}"
    return base if name is None else f"{base}/{name}"


_libc = ctypes.CDLL(None, use_errno=True)


def rename_at(src_fd: int, src: str, dst_fd: int, dst: str, flags: int = 0) -> None:
    """``renameat2``: with ``RENAME_NOREPLACE`` never replaces (not even an empty
    directory), with ``RENAME_EXCHANGE`` swaps the two names atomically."""
    code = _libc.renameat2(src_fd, os.fsencode(src), dst_fd, os.fsencode(dst), flags)
    if code != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), src, None, dst)
