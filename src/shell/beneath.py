"""Acting below a directory without following symlinks: directory file descriptors.

Theory of operation.  Below a directory that a user or a document controls
(a tree being restored, a leaf being dropped, the inside of a snapshot),
a path is never handed to the kernel whole: it is walked one component at a
time with ``openat(O_DIRECTORY | O_NOFOLLOW)`` from the directory's file
descriptor, so a symlink (or a file) at any component stops the walk with
:class:`NotBeneath` instead of leading elsewhere.  Effects then use the
``*at`` calls on the parent's descriptor and a single name (``mkdir``,
``fchown``, ``fchmod``, ``renameat2``), and a library or program that wants a
path gets the descriptor's magic link (:func:`fd_path`), which names the
directory that was opened, whatever was renamed or replaced since.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import stat
from collections.abc import Iterator, Sequence

from ..core.errors import UserError

RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | os.O_NOFOLLOW


class NotBeneath(UserError):
    """Something other than a directory (a symlink, a file) where a directory belongs."""


def open_dir(path: str) -> int:
    """Open a directory named by the administrator (a command-line path) and not a symlink
    itself; its ancestors are resolved as usual."""
    try:
        return os.open(path, _DIR_FLAGS)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise NotBeneath(f"{path}: not a directory (a symlink or a file)",
                             "give the directory's own path") from None
        raise


def open_below(dir_fd: int, parts: Sequence[str], where: str = "",
               make: int | None = None) -> int:
    """The directory ``dir_fd/parts…``, opened without following a symlink at any component;
    FileNotFoundError when a component is missing (unless ``make`` gives the mode to make
    it with), :class:`NotBeneath` when one is not a directory.  ``where`` names ``dir_fd``
    in messages."""
    fd = os.dup(dir_fd)
    try:
        for i, part in enumerate(parts):
            if make is not None and lstat_at(fd, part) is None:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, make, dir_fd=fd)
            try:
                nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    shown = os.path.join(where, *parts[:i + 1])
                    raise NotBeneath(f"{shown}: not a directory (a symlink or a file); "
                                     "not followed", "move it away and run the command again"
                                     ) from None
                raise
            os.close(fd)
            fd = nxt
    except BaseException:
        os.close(fd)
        raise
    return fd


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
    """``renameat2``: with ``RENAME_NOREPLACE`` never replaces, with ``RENAME_EXCHANGE``
    swaps the two names atomically."""
    code = _libc.renameat2(src_fd, os.fsencode(src), dst_fd, os.fsencode(dst), flags)
    if code != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), src, None, dst)
